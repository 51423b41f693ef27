"""keras-p2c: portrait photo → cartoon (Photo2Cartoon / U-GAT-IT) in Keras 3.

Importing the package makes every serializable keras-p2c class (layers, networks, the GAN, optimisers and
schedules) known to Keras, so `keras.saving.load_model("genA2B.keras")` works after `import keras_p2c`.
It does so without importing Keras itself (which imports TensorFlow): when Keras is already imported the
classes are registered at once, otherwise right after Keras is first imported. `import keras_p2c` and the
`p2c` command's start stay cheap.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from keras_p2c.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, _exports = lazy_exports(__name__, {"keras_p2c.inference": ["Photo2Cartoon"]})
__all__ = ["Photo2Cartoon", "register_keras_classes", "__version__"]

# The modules whose import registers a class with `keras.saving.register_keras_serializable`.
SERIALIZABLE_MODULES = ("keras_p2c.layers", "keras_p2c.models", "keras_p2c.optimizers")


def register_keras_classes():
    """Imports the modules that register every serializable keras-p2c class with Keras (idempotent)."""
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds `keras` with the other finders and registers our classes once its module has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)  # one-shot; also keeps the lookup below from finding us again
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            # `keras` is complete (in sys.modules) here, so our modules can import it. A failure must not
            # break the user's `import keras`: it only means our classes are not registered.
            try:
                register_keras_classes()
            except Exception as error:  # noqa: BLE001
                warnings.warn(f"keras_p2c could not register its Keras classes: {error!r}", stacklevel=2)

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    register_keras_classes()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
