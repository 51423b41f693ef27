"""The training driver: a typed config from YAML, the device strategy, callbacks, and `train(config)`.

    from keras_p2c.training import load_config, train
    train(load_config("configs/photo2cartoon.yaml", overrides=["data.root=/data/p2c"]))
"""

from keras_p2c.training.config import ConfigError, TrainConfig, load_config, write_config

__all__ = [
    "ConfigError",
    "TrainConfig",
    "TrainingResult",
    "TrainingSetupError",
    "load_config",
    "train",
    "write_config",
]

_FROM_RUN = ("TrainingResult", "TrainingSetupError", "train")


def __getattr__(name):
    # `run` imports Keras and TensorFlow; importing the package (e.g. for `p2c --help`) should not.
    if name in _FROM_RUN:
        from keras_p2c.training import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
