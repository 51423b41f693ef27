"""A pickle loader that resolves only an explicit allow-list of globals.

`.pt` and `.pdparams` files are pickles, and `pickle.load` runs whatever
callable a pickle names (`os.system`, `builtins.exec`, ...). Weights need
very few globals: containers, NumPy's array reconstruction and, for PyTorch,
the tensor rebuild functions and storage types. Everything else is refused
with `UnsafeCheckpointError` before anything is called.

Every allowed global is given to the pickle as an immutable stand-in (see
`SafeGlobal`), so a pickle cannot use the `BUILD` opcode to change the
behaviour of a function or marker that later loads rely on.
"""

import pickle
import reprlib
import struct

import numpy as np


DAMAGED_HINT = "the file is damaged or incomplete: download or copy it again"


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (corrupt, truncated or of an unsupported kind)."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"Cannot read checkpoint '{self.path}': {problem}")

    def __reduce__(self):  # keeps the error picklable across worker processes
        return type(self), (self.path, self.problem)


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint's pickle names a global that is not on the allow-list."""

    def __init__(self, path, global_name):
        self.global_name = global_name
        super().__init__(
            path,
            f"its pickle asks for the Python object '{global_name}', which is not "
            "allowed in a weights file (only dicts, lists, numbers, strings, NumPy "
            "arrays and PyTorch tensors are), so nothing was loaded. Loading this file "
            "with torch.load or pickle.load could run arbitrary code. If you trust "
            "its source, re-save just the weights (torch.save(model.state_dict(), "
            "path) or paddle.save(layer.state_dict(), path)) and load that file.",
        )

    def __reduce__(self):
        return type(self), (self.path, self.global_name)


class MalformedPickle(Exception):
    """Raised while unpickling; `load_restricted` turns it into a `CheckpointError` naming the file."""


class SafeGlobal:
    """An immutable stand-in for one allowed global.

    Calling it calls `function` (when given). `payload` carries data for
    markers such as PyTorch storage types, which are never called.
    """

    __slots__ = ("name", "function", "payload")

    def __init__(self, name, function=None, payload=None):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "payload", payload)

    def __call__(self, *args, **kwargs):
        if self.function is None:
            raise MalformedPickle(f"'{self.name}' is not callable")
        return self.function(*args, **kwargs)

    def __setattr__(self, key, value):
        raise MalformedPickle(f"attempt to set '{key}' on '{self.name}'")

    def __delattr__(self, key):
        raise MalformedPickle(f"attempt to delete '{key}' from '{self.name}'")

    def __setstate__(self, state):
        raise MalformedPickle(f"attempt to set the state of '{self.name}'")

    def __repr__(self):
        return f"SafeGlobal({self.name})"


def _latin1_encode(text, encoding="utf-8"):
    # Protocol-2 pickles of Python 3 bytes go through `_codecs.encode(str, "latin1")`;
    # other codecs (zlib, base64, ...) have no place in a weights file.
    codec = str(encoding).lower().replace("-", "").replace("_", "")
    if not isinstance(text, str) or codec not in ("latin1", "iso88591"):
        raise MalformedPickle(
            f"_codecs.encode is only allowed for latin-1 text, got {encoding!r}"
        )
    return text.encode("latin-1")


# `numpy.ndarray` is only ever the first argument of `_reconstruct`; a marker
# keeps the real class (whose constructor allocates any shape) out of reach.
_NDARRAY = SafeGlobal("numpy.ndarray")
# Numbers only: a weights file holds no strings, objects or records in its arrays.
_NUMERIC_KINDS = "biufc"
# A state dict nests two or three levels (checkpoint → network → tensors); far deeper is no weights file
# (and Python's recursion limit would end a walk over it with a RecursionError).
MAX_NESTING = 100


class _DtypeState:
    """What `numpy.dtype(code, align, copy)` gives a pickle: the dtype, before the state BUILD gives it.

    NumPy pickles a dtype as that call followed by BUILD `(version, byteorder, subarray, names, fields,
    itemsize, alignment, flags)`, and `dtype.__setstate__` trusts every field: flags saying "holds object
    references" on a float32 make NumPy treat the numbers as pointers (internal errors, `SystemError`, found
    by the fuzz suite). So only the state NumPy itself writes for that type is taken, with either byte order.
    """

    __slots__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def __setstate__(self, state):
        written = self.dtype.__reduce__()[2]
        byteorders = ("<", ">") if written[1] in ("<", ">") else (written[1],)
        if not isinstance(state, tuple) or len(state) != len(written) or state[0] != written[0]:
            raise MalformedPickle(f"a NumPy dtype state {short_repr(state)} that NumPy does not write")
        if state[1] not in byteorders or state[2:] != written[2:]:
            raise MalformedPickle(f"a NumPy dtype state {short_repr(state)} that NumPy does not write for {self.dtype}")
        self.dtype = self.dtype.newbyteorder(state[1])


_REPR = reprlib.Repr()
_REPR.maxtuple = _REPR.maxlist = 10
_REPR.maxstring = _REPR.maxother = 60


def short_repr(value):
    """A `repr` of bounded length, for messages about what a damaged pickle holds."""
    return _REPR.repr(value)


def _numpy_dtype(code, align=False, copy=False):
    del align, copy
    if not isinstance(code, str):
        raise MalformedPickle(f"a NumPy dtype made from {short_repr(code)}")
    try:
        dtype = np.dtype(code)
    except TypeError as error:
        raise MalformedPickle(f"no NumPy dtype {code!r}") from error
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise MalformedPickle(f"an array of {dtype}, not a numeric array (weights are numbers)")
    return _DtypeState(dtype)


def _dtype_of(value):
    if not isinstance(value, _DtypeState):
        raise MalformedPickle(f"an array or scalar with the dtype {short_repr(value)}")
    return value.dtype


class _ArrayState:
    """What `_reconstruct` gives a pickle: an array, before BUILD gives it `(version, shape, dtype, fortran, data)`.

    The array is made here from the checked dtype and the bytes (`ndarray.__setstate__` would take any dtype
    object); `load_restricted` puts it in the stand-in's place once the pickle is loaded.
    """

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise MalformedPickle(f"an array state {short_repr(state)}")
        shape, dtype, fortran, data = state[-4:]
        dtype = _dtype_of(dtype)
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise MalformedPickle(f"an array shape {short_repr(shape)}")
        if isinstance(data, str):  # Python 2 pickles, read with latin-1
            data = data.encode("latin-1")
        count = int(np.prod(shape, dtype=object))
        if not isinstance(data, (bytes, bytearray)) or len(data) != count * dtype.itemsize:
            size = len(data) if isinstance(data, (bytes, bytearray)) else type(data).__name__
            raise MalformedPickle(f"an array of shape {short_repr(shape)} and {dtype} with data of {size} bytes")
        self.array = np.frombuffer(data, dtype, count).reshape(shape, order="F" if fortran else "C").copy(order="K")


def _numpy_reconstruct(subtype, shape, dtype):
    # NumPy pickles an empty array here and fills it through __setstate__ (BUILD).
    if subtype is not _NDARRAY:
        raise MalformedPickle(f"cannot reconstruct an array of type {subtype!r}")
    del shape, dtype
    return _ArrayState()


def _numpy_scalar(dtype, data):
    dtype = _dtype_of(dtype)
    return _NUMPY_MULTIARRAY.scalar(dtype, data.encode("latin-1") if isinstance(data, str) else data)


def _numpy_frombuffer(buffer, dtype, shape, order):
    # Pickle protocol 5 writes arrays as raw buffers; reshape checks the size.
    dtype = _dtype_of(dtype)
    if order not in ("C", "F"):
        raise MalformedPickle(f"unsupported array buffer (order {order!r})")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def replace_leaves(obj, replace):
    """`obj` with every value that `replace(value)` swaps for another object swapped (in place in dicts and
    lists, so shared containers stay shared and an OrderedDict keeps `_metadata`; tuples are rebuilt).

    Raises:
        MalformedPickle: containers nested more than `MAX_NESTING` levels deep.
    """
    visited = set()

    def walk(value, depth):
        if depth > MAX_NESTING:
            raise MalformedPickle(f"containers nested more than {MAX_NESTING} levels deep, not a weights file")
        replaced = replace(value)
        if replaced is not value:
            return replaced
        if isinstance(value, (dict, list)) and id(value) not in visited:
            visited.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in list(items):
                value[key] = walk(item, depth + 1)
        elif isinstance(value, tuple):
            return tuple(walk(item, depth + 1) for item in value)
        return value

    return walk(obj, 0)


def _unwrapped(value):
    if isinstance(value, _ArrayState):
        if value.array is None:
            raise MalformedPickle("an array that was never given its data")
        return value.array
    return value.dtype if isinstance(value, _DtypeState) else value


_NUMPY_MULTIARRAY = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray


def numpy_globals():
    """Allowed globals for pickled NumPy arrays, dtypes and scalars (NumPy 1 and 2 names)."""
    allowed = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): SafeGlobal("numpy.dtype", _numpy_dtype),
        ("_codecs", "encode"): SafeGlobal("_codecs.encode", _latin1_encode),
    }
    # NumPy 1 writes `numpy.core.multiarray`, NumPy 2 `numpy._core.multiarray`.
    for package in ("numpy.core", "numpy._core"):
        for module, name, function in (
            ("multiarray", "_reconstruct", _numpy_reconstruct),
            ("multiarray", "scalar", _numpy_scalar),
            ("numeric", "_frombuffer", _numpy_frombuffer),
        ):
            qualname = f"{package}.{module}"
            allowed[(qualname, name)] = SafeGlobal(f"{qualname}.{name}", function)
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only the globals in `allowed`.

    Args:
        file: binary file object positioned at the start of a pickle.
        path: the checkpoint's path, for error messages.
        allowed: dict `(module, name) -> object` of the globals the pickle may use.
        persistent_load: optional callable for persistent ids (PyTorch storages).
            Without it, any persistent id is refused.
    """

    def __init__(self, file, path, allowed, persistent_load=None):
        # latin-1 lets NumPy read arrays pickled by Python 2 (Paddle 1.x).
        super().__init__(file, encoding="latin1")
        self.path = str(path)
        self.allowed = allowed
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(self.path, f"{module}.{name}") from None

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise MalformedPickle(f"unexpected persistent id {pid!r}")
        return self._persistent_load(pid)


# What a damaged or hostile pickle raises from inside the C unpickler or NumPy.
_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
)


def load_restricted(file, path, allowed, persistent_load=None, what="the pickle"):
    """Unpickle one object from `file` with only the `allowed` globals.

    Args:
        file: binary file object positioned at the start of a pickle.
        path: the checkpoint's path, for error messages.
        allowed: dict `(module, name) -> object` (see `numpy_globals`).
        persistent_load: optional callable for persistent ids.
        what: what this pickle is, for error messages ("the object pickle").

    Returns:
        The unpickled object.

    Raises:
        UnsafeCheckpointError: the pickle names a global outside `allowed`.
        CheckpointError: the pickle is truncated or malformed.
    """
    unpickler = RestrictedUnpickler(file, path, allowed, persistent_load)
    try:
        return replace_leaves(unpickler.load(), _unwrapped)
    except CheckpointError:
        raise
    except MalformedPickle as error:
        raise CheckpointError(path, f"{what} is malformed ({error}); {DAMAGED_HINT}") from error
    except MemoryError as error:
        # The C unpickler allocates the size a BINBYTES8/BINUNICODE8 opcode declares before reading it.
        raise CheckpointError(
            path, f"{what} declares an object larger than this machine's memory (MemoryError); {DAMAGED_HINT}"
        ) from error
    except RecursionError as error:
        raise CheckpointError(path, f"{what} nests objects too deeply for a weights file; {DAMAGED_HINT}") from error
    except _READ_ERRORS as error:
        raise CheckpointError(
            path, f"{what} is truncated or corrupt ({type(error).__name__}: {error}); {DAMAGED_HINT}"
        ) from error
