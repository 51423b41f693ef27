"""The training driver: a typed config from YAML, the device strategy, callbacks, backups and `train(config)`.

    from keras_p2c.training import load_config, train
    train(load_config("configs/photo2cartoon.yaml", overrides=["data.root=/data/p2c"]))

Names are loaded on first use (PEP 562), so importing the package does not start TensorFlow.
"""

from keras_p2c.lazy import lazy_exports

_EXPORTS = {
    "keras_p2c.training.config": ["ConfigError", "load_config", "write_config"],
    "keras_p2c.training.run": ["TrainingResult", "TrainingSetupError", "build_gan", "train"],
    "keras_p2c.training.schema": ["TrainConfig"],
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
