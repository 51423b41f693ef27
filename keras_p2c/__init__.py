"""keras-p2c: portrait photo → cartoon (Photo2Cartoon / U-GAT-IT) in Keras 3."""

import importlib

__version__ = "0.1.0"

# Loaded on first use (PEP 562): `import keras_p2c` stays cheap (no TensorFlow, no OpenCV).
_LAZY = {"Photo2Cartoon": "keras_p2c.inference"}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
