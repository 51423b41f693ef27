"""Package attributes loaded on first use (PEP 562), so importing a package does not import its heavy modules."""

import importlib


def lazy_exports(package, exports):
    """`(__getattr__, __dir__, __all__)` for a package whose names live in its modules.

    Args:
        package: the package's `__name__` (for error messages).
        exports: `{module name: [attribute names]}`; each attribute is imported from its module the first
            time it is read, then kept in the package's namespace.

    Example (in a package's `__init__.py`):

    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"keras_p2c.faces.detect": ["detect_faces"]})
    """
    where = {name: module for module, names in exports.items() for name in names}
    names = sorted(where)

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(names))

    return __getattr__, __dir__, names
