"""Repeated timing and the machine/version record every benchmark JSON carries."""

import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import keras

from keras_p2c.atomic import write_text_atomic
from keras_p2c.cpu import INSTRUCTION_SETS, cpu_record, has_bf16_units  # noqa: F401 - the record's parts


def time_repeated(function, repeats, warmup=2):
    """Calls `function` `warmup` times untimed, then `repeats` times; returns seconds per call."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return {"min_s": min(seconds), "median_s": statistics.median(seconds), "repeats": repeats, "all_s": seconds}


def load_average():
    """The 1, 5 and 15-minute load averages (`None` where the OS has none): the CPUs may be shared."""
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def machine_record(load_at_start=None):
    """Where and with what a benchmark ran; `load_at_start` is `load_average()` taken before it ran."""
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        **cpu_record(),
        "load_average": {"start": load_at_start, "end": load_average()},
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        record["tensorflow"] = tf.__version__
        record["devices"] = [d.name for d in tf.config.list_logical_devices()]
    elif keras.backend.backend() == "jax":
        import jax

        record["jax"] = jax.__version__
        record["devices"] = [str(d) for d in jax.devices()]
    return record


def write_result(result, output_dir, what):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(output_dir) / f"{what}-{result['machine']['backend']}-{stamp}.json"
    return write_text_atomic(path, json.dumps(result, indent=1))
