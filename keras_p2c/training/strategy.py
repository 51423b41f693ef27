"""Which devices a training run uses: a `tf.distribute` strategy on TensorFlow, nothing on the other backends.

On the TensorFlow backend Keras' `fit` follows the `tf.distribute.Strategy` whose scope the model and its
optimisers were created in: one device by default, `MirroredStrategy` over the local GPUs, or
`MultiWorkerMirroredStrategy` across machines described by `TF_CONFIG`. `tf.distribute` does not apply to JAX
(its arrays are not TensorFlow tensors); the JAX way to spread a model over devices is `keras.distribution`
(`DataParallel`), which this module does not set up: JAX runs train on one device.
"""

import contextlib
import json
import logging
import os

import keras

from keras_p2c.training.names import STRATEGIES

logger = logging.getLogger(__name__)


def select_strategy(kind="auto"):
    """The `tf.distribute.Strategy` to build and train the model under, or `None` off the TensorFlow backend.

    Args:
        kind: `auto` (multi-worker when `TF_CONFIG` names several workers, mirrored when more than one GPU is
            visible, else the default one-device strategy), `default`, `mirrored` or `multi_worker`.

    Returns:
        A strategy, or `None` when the Keras backend is not TensorFlow (see the module docstring).

    Raises:
        ValueError: unknown `kind`, or `multi_worker` without a `TF_CONFIG` naming a cluster.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"Unknown strategy. Expected {', '.join(STRATEGIES)}. Received: {kind!r}")
    backend = keras.backend.backend()
    if backend != "tensorflow":
        if kind not in ("auto", "default"):
            logger.warning("strategy=%s is for the TensorFlow backend; %s trains on one device.", kind, backend)
        return None

    import tensorflow as tf

    if kind == "auto":
        if _cluster_workers() > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "multi_worker":
        if _cluster_workers() == 0:
            raise ValueError(
                "strategy=multi_worker needs the cluster in the TF_CONFIG environment variable "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}).'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def strategy_scope(strategy):
    """`strategy.scope()`, or a no-op context for `None` (non-TensorFlow backends)."""
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def replica_count(strategy):
    """Replicas that share one global batch (1 without a strategy)."""
    return 1 if strategy is None else strategy.num_replicas_in_sync


def spans_workers(strategy):
    """Whether `strategy` trains across several worker processes (a `TF_CONFIG` cluster)."""
    if strategy is None:
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and _cluster_workers() > 1


def is_chief():
    """Whether this process writes the run's files (TensorBoard, exports): every process except the
    non-chief workers of a multi-worker cluster (the chief, or worker 0 when there is no chief)."""
    task = _tf_config().get("task", {})
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = bool(_tf_config().get("cluster", {}).get("chief"))
    return task_type == "worker" and index == 0 and not has_chief


def worker_suffix():
    """'' on the chief, else `worker_<index>`: a folder name keeping a non-chief worker's files apart."""
    if is_chief():
        return ""
    task = _tf_config().get("task", {})
    return f"{task.get('type', 'worker')}_{task.get('index', 0)}"


# What each strategy means to a person reading the run log (no internal class names).
STRATEGY_WORDS = {
    "_DefaultDistributionStrategy": "one device",
    "OneDeviceStrategy": "one device",
    "MirroredStrategy": "several devices of this machine (MirroredStrategy)",
    "MultiWorkerMirroredStrategy": "several machines (MultiWorkerMirroredStrategy)",
    # What tf.distribute.MultiWorkerMirroredStrategy() really is.
    "CollectiveAllReduceStrategy": "several machines (MultiWorkerMirroredStrategy)",
    "TPUStrategy": "TPU (TPUStrategy)",
}


def describe(strategy):
    """One line naming the strategy and its replicas, for the run log."""
    if strategy is None:
        return f"no tf.distribute strategy ({keras.backend.backend()} backend, one device)"
    kind = STRATEGY_WORDS.get(type(strategy).__name__, type(strategy).__name__.lstrip("_"))
    return f"{kind} ({strategy.num_replicas_in_sync} replica(s))"


def _tf_config():
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"The TF_CONFIG environment variable is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"The TF_CONFIG environment variable must hold a JSON object. Received: {text!r}")
    return value


def _cluster_workers():
    cluster = _tf_config().get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))
