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
SERIALIZABLE_MODULES = ("keras_p2c.layers", "keras_p2c.models.gan", "keras_p2c.optimizers")


def register_keras_classes():
    """Imports the modules that register every serializable keras-p2c class with Keras (idempotent)."""
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)


def _initializing_own_modules():
    """Whether a keras_p2c module is being imported right now (registering then would re-enter it)."""
    return any(
        getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
        if name == __name__ or name.startswith(__name__ + ".")
    )


def _register_or_defer():
    if _initializing_own_modules():
        # Keras was imported by one of our own modules, which is not complete yet: register when Keras first
        # looks one of our names up instead.
        _register_on_first_lookup()
        return
    try:
        register_keras_classes()
    except Exception as error:  # noqa: BLE001 - a failure must not break the user's `import keras`
        warnings.warn(f"keras_p2c could not register its Keras classes: {error!r}", stacklevel=3)


def _register_on_first_lookup():
    """Wraps Keras' registry lookup so that a miss on a `keras_p2c>` name registers our classes and retries.

    Keras resolves the `registered_name` of a saved object through this function (`serialization_lib`);
    if a Keras release moves it, the wrapper is not installed and our classes register as their modules
    are imported.
    """
    from keras.src.saving import object_registration  # Keras is imported by now

    lookup = getattr(object_registration, "get_registered_object", None)
    if lookup is None or getattr(lookup, "_keras_p2c", False):
        return

    def get_registered_object(name, *args, **kwargs):
        found = lookup(name, *args, **kwargs)
        mine = isinstance(name, str) and name.startswith("keras_p2c>")
        if found is None and mine and not _initializing_own_modules():
            register_keras_classes()
            found = lookup(name, *args, **kwargs)
        return found

    get_registered_object._keras_p2c = True
    object_registration.get_registered_object = get_registered_object


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
            _register_or_defer()  # `keras` is complete (in sys.modules) here

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    _register_or_defer()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
