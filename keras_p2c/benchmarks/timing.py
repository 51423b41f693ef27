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


# The instruction sets that decide which CPU kernels run: machines of one kind have come with AVX-512 and
# bf16/AMX units or with AVX2 only, and their times differ by ~2x.
INSTRUCTION_SETS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_record(cpuinfo="/proc/cpuinfo"):
    """`{"cpu_model", "instruction_sets"}` of the first CPU in `cpuinfo` (Linux); `None`s where it is unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"cpu_model": platform.processor() or None, "instruction_sets": None}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name") or platform.processor() or None,
        "instruction_sets": {name: name in flags for name in INSTRUCTION_SETS} if flags else None,
    }


def has_bf16_units(record=None):
    """Whether the CPU computes bfloat16 in hardware (AVX512_BF16 or AMX); elsewhere it is emulated, and slower."""
    sets = (record or cpu_record())["instruction_sets"] or {}
    return bool(sets.get("avx512_bf16") or sets.get("amx_bf16"))


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
