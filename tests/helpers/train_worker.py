"""One training process of a test: the smoke config with overrides; saves the process' final GAN weights.

    python -m tests.helpers.train_worker WEIGHTS_OUT [section.key=value ...]

`TF_CONFIG` in the environment makes it one worker of a cluster; `P2C_TEST_CPU_REPLICAS=2` instead makes it
one process training with `MirroredStrategy` over two logical CPU devices (the same per-replica batches
as two workers, without a cluster). The last line printed is a JSON object with the step the run started
from, both optimisers' step counters at the end, and the total losses of each Keras epoch of this call.
"""

import json
import os
import sys
from pathlib import Path

import tensorflow as tf

from keras_p2c.training import strategy as strategies
from keras_p2c.training.config import load_config
from keras_p2c.training.run import train

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"


def local_cpu_replicas(count):
    """Splits the CPU into `count` logical devices and makes the run mirror over them."""
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    devices = [f"/cpu:{index}" for index in range(count)]
    strategies.select_strategy = lambda kind="auto": tf.distribute.MirroredStrategy(devices)


def main(weights_out, *overrides):
    if os.environ.get("P2C_TEST_CPU_REPLICAS"):
        local_cpu_replicas(int(os.environ["P2C_TEST_CPU_REPLICAS"]))
    result = train(load_config(SMOKE, overrides), echo=None)
    # Outside the run folder: the test reads every worker's weights, the project writes only the chief's.
    result.model.save_weights(weights_out)
    counters = {name: int(getattr(result.model, name).iterations.numpy()) for name in ("g_optimizer", "d_optimizer")}
    losses = {name: result.history.history.get(name) for name in ("d_loss", "g_loss")}
    print(json.dumps({"initial_step": result.initial_step, **counters, "losses": losses}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
