"""Read PyTorch `.pt` / `.pth` files into NumPy arrays, without PyTorch and without running code.

Both containers `torch.save` has written are read:

* the zip container (torch >= 1.6): `<archive>/data.pkl` is the object
  pickle, `<archive>/data/<key>` the raw bytes of each storage, and
  `<archive>/byteorder` (when present) their byte order;
* the legacy container (torch <= 1.5, or `_use_new_zipfile_serialization=False`):
  five consecutive pickles (magic number, protocol version, system info, the
  object, the list of storage keys) followed by each storage as a
  little-endian int64 element count and its bytes.

In both, a tensor is pickled as `torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, requires_grad, hooks)` and a storage as the persistent id
`('storage', torch.FloatStorage, key, location, numel[, view])`. The pickle
is read by `RestrictedUnpickler` with only the globals below; every tensor
comes back as a C-contiguous NumPy array (copied out of its storage, so views
with offsets and strides become independent arrays). The storage location
(`cuda:0`) is ignored. `bfloat16` tensors come back as `float32` (exact),
since NumPy has no bfloat16.
"""

import collections
import io
import lzma
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from keras_p2c.weights.safe_unpickler import (
    DAMAGED_HINT,
    CheckpointError,
    MalformedPickle,
    SafeGlobal,
    load_restricted,
    numpy_globals,
    replace_leaves,
    short_repr,
)

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
ZIP_SIGNATURE = b"PK\x03\x04"
# The first pickle of a legacy file is the magic number as a LONG1 of 10 bytes,
# after PROTO (and, from pickle protocol 4, a FRAME header).
LEGACY_SIGNATURE = b"\x8a\x0a" + LEGACY_MAGIC_NUMBER.to_bytes(10, "little")
HEADER_SIZE = 32
# Tensors may be views that overlap in their storage (stride 0, as `expand` makes), so their size is not
# bounded by the file; above this many elements a view must fit its storage.
MAX_EXPANDED_ELEMENTS = 1 << 20
NUMPY_MAX_DIMS = 64


# What zipfile raises on a damaged archive besides BadZipFile: names that are not UTF-8 once a flag bit flips
# (UnicodeDecodeError), a compression method or the encryption flag flipped on (NotImplementedError,
# RuntimeError), corrupt compressed data (zlib.error, LZMAError, OSError), a short file (EOFError).
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, NotImplementedError, RuntimeError,
               zlib.error, lzma.LZMAError)  # fmt: skip


def sniff_container(head):
    """`"zip"`, `"legacy"` or None, from the first `HEADER_SIZE` bytes of a file."""
    if head.startswith(ZIP_SIGNATURE):
        return "zip"
    if head[:1] == b"\x80" and LEGACY_SIGNATURE in head:
        return "legacy"
    return None


# Storage classes (`torch.FloatStorage`, ...) → NumPy element type. "bfloat16"
# is kept as raw uint16 and widened to float32 after indexing.
STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "ComplexFloatStorage": "c8",
    "ComplexDoubleStorage": "c16",
    "UntypedStorage": "u1",
}

# `torch.<dtype>` globals appear as the dtype argument of `_rebuild_tensor_v3`,
# which torch uses for dtypes without a storage class. None: no NumPy type.
TORCH_DTYPES = {
    "uint16": "u2",
    "uint32": "u4",
    "uint64": "u8",
    "float64": "f8",
    "float32": "f4",
    "float16": "f2",
    "bfloat16": "bfloat16",
    "int64": "i8",
    "int32": "i4",
    "int16": "i2",
    "int8": "i1",
    "uint8": "u1",
    "bool": "?",
    "complex64": "c8",
    "complex128": "c16",
    "complex32": None,
    "float8_e5m2": None,
    "float8_e4m3fn": None,
    "float8_e5m2fnuz": None,
    "float8_e4m3fnuz": None,
    "float8_e8m0fnu": None,
    "float4_e2m1fn_x2": None,
    "bits8": None,
    "bits16": None,
    "bits1x8": None,
    "bits2x4": None,
    "bits4x2": None,
}


class _Storage:
    """One persistent-id storage: `numel` elements of `dtype` from `offset` in the bytes of `key`."""

    def __init__(self, key, dtype, numel, offset=0):
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.offset = offset


class _PendingTensor:
    """A tensor whose storage bytes may not have been read yet (legacy files store them last)."""

    def __init__(self, storage, offset, size, stride, dtype=None):
        self.storage = storage
        self.offset = offset
        self.size = size
        self.stride = stride
        # `_rebuild_tensor_v3` reinterprets an untyped storage as `dtype`.
        self.dtype = dtype if dtype is not None else storage.dtype


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int_tuple(name, values):
    if not isinstance(values, (tuple, list)) or not all(_is_int(v) for v in values):
        raise MalformedPickle(f"tensor {name} must be a tuple of ints, got {short_repr(values)}")
    return tuple(values)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    del requires_grad, hooks, metadata
    if not isinstance(storage, _Storage) or not _is_int(offset):
        raise MalformedPickle("_rebuild_tensor_v2 needs a storage and an integer offset")
    size = _check_int_tuple("size", size)
    stride = _check_int_tuple("stride", stride)
    if len(size) != len(stride):
        raise MalformedPickle(f"tensor size {short_repr(size)} and stride {short_repr(stride)} differ in length")
    return _PendingTensor(storage, offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    if not isinstance(dtype, SafeGlobal) or not isinstance(dtype.payload, tuple):
        raise MalformedPickle(f"_rebuild_tensor_v3 needs a torch dtype, got {short_repr(dtype)}")
    element = dtype.payload[0]
    if element is None:
        raise MalformedPickle(f"tensors of {dtype.name} have no NumPy equivalent and cannot be read")
    tensor = _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata)
    tensor.dtype = element
    return tensor


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    del requires_grad, hooks, state
    if not isinstance(data, _PendingTensor):
        raise MalformedPickle(f"a Parameter must wrap a tensor, got {type(data).__name__}")
    return data


def _rebuild_from_type_v2(function, new_type, args, state):
    # Tensors with Python attributes or of Parameter type: only the data matters here.
    del state
    if new_type not in (_TENSOR_TYPE, _PARAMETER_TYPE) or not isinstance(function, SafeGlobal):
        raise MalformedPickle(f"cannot rebuild a tensor of type {short_repr(new_type)}")
    return function(*args)


_TENSOR_TYPE = SafeGlobal("torch.Tensor")
_PARAMETER_TYPE = SafeGlobal("torch.nn.parameter.Parameter")


def torch_globals():
    """The globals a PyTorch weights pickle may use (plus NumPy's, for arrays saved beside tensors)."""
    allowed = numpy_globals()
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("torch", "Tensor")] = _TENSOR_TYPE
    allowed[("torch.nn.parameter", "Parameter")] = _PARAMETER_TYPE
    for name, function in (
        ("_rebuild_tensor_v2", _rebuild_tensor_v2),
        ("_rebuild_tensor_v3", _rebuild_tensor_v3),
        ("_rebuild_parameter", _rebuild_parameter),
        ("_rebuild_parameter_with_state", _rebuild_parameter),
    ):
        allowed[("torch._utils", name)] = SafeGlobal(f"torch._utils.{name}", function)
    allowed[("torch._tensor", "_rebuild_from_type_v2")] = SafeGlobal(
        "torch._tensor._rebuild_from_type_v2", _rebuild_from_type_v2
    )
    # Storage types carry their element type. torch <= 0.3 also pickled the CUDA
    # ones, and torch 2.x pickles untyped storages as `torch.storage.UntypedStorage`.
    for name, element in STORAGE_DTYPES.items():
        for module in ("torch", "torch.cuda", "torch.storage"):
            allowed[(module, name)] = SafeGlobal(f"{module}.{name}", payload=(element,))
    for name, element in TORCH_DTYPES.items():
        allowed[("torch", name)] = SafeGlobal(f"torch.{name}", payload=(element,))
    return allowed


def _storage_from_persistent_id(pid, storages):
    """Turn `('storage', type, key, location, numel[, view])` into a `_Storage` (one per key)."""
    if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] not in ("storage", b"storage"):
        raise MalformedPickle(f"unexpected persistent id {short_repr(pid)}")
    storage_type, key, _location, numel = pid[1:5]
    view = pid[5] if len(pid) == 6 else None
    if not isinstance(storage_type, SafeGlobal) or storage_type.name.rsplit(".", 1)[-1] not in STORAGE_DTYPES:
        raise MalformedPickle(f"unexpected storage type {short_repr(storage_type)}")
    if not isinstance(key, str) or not _is_int(numel) or numel < 0:
        raise MalformedPickle(f"bad storage key or size in {short_repr(pid)}")
    dtype = storage_type.payload[0]
    if key not in storages:
        storages[key] = _Storage(key, dtype, numel)
    root = storages[key]
    if root.dtype != dtype or root.numel != numel:
        raise MalformedPickle(f"storage {key!r} is used with two different types or sizes")
    if view is None:
        return root
    # Storage views (torch < 1.0): (view key, element offset, element count) into the root.
    view_key, view_offset, view_size = view
    inside = _is_int(view_offset) and _is_int(view_size) and 0 <= view_offset <= view_offset + view_size <= numel
    if not inside:
        raise MalformedPickle(f"storage view {short_repr(view)} lies outside its storage of {numel} elements")
    return _Storage(key, dtype, view_size, offset=view_offset)


def _numpy_dtype(element, byteorder):
    if element == "bfloat16":
        element = "u2"
    return np.dtype(element).newbyteorder("<" if byteorder == "little" else ">")


def _tensor_to_numpy(tensor, raw_bytes, byteorder):
    """Copy one tensor out of its storage's bytes, checking that every index lies inside it."""
    storage = tensor.storage
    dtype = _numpy_dtype(tensor.dtype, byteorder)
    storage_dtype = _numpy_dtype(storage.dtype, byteorder)
    begin = storage.offset * storage_dtype.itemsize
    end = begin + storage.numel * storage_dtype.itemsize
    if len(raw_bytes) < end:
        raise MalformedPickle(
            f"storage {storage.key!r} holds {len(raw_bytes)} bytes, {end} expected"
        )
    elements = np.frombuffer(raw_bytes, dtype=np.uint8, count=end - begin, offset=begin)
    elements = elements[: (end - begin) // dtype.itemsize * dtype.itemsize].view(dtype)
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    if len(size) > NUMPY_MAX_DIMS:
        raise MalformedPickle(f"a tensor of {len(size)} dimensions (NumPy arrays have at most {NUMPY_MAX_DIMS})")
    if any(s < 0 for s in size) or offset < 0:
        raise MalformedPickle(f"negative tensor size {short_repr(size)} or offset {offset}")
    count = math.prod(size)
    if count > max(len(elements), MAX_EXPANDED_ELEMENTS):
        raise MalformedPickle(
            f"a tensor of size {short_repr(size)} ({count:,} elements) views a storage of {len(elements):,} "
            "elements with overlapping strides; copied out it would not fit in memory"
        )
    if 0 in size:
        array = np.empty(size, dtype)
    else:
        if any(s < 0 for s in stride):
            raise MalformedPickle(f"negative tensor stride {stride}")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= len(elements):
            raise MalformedPickle(
                f"tensor of size {short_repr(size)}, stride {short_repr(stride)} and offset {offset} reaches element "
                f"{last} of a storage of {len(elements)} elements"
            )
        array = np.lib.stride_tricks.as_strided(
            elements[offset:],
            shape=size,
            strides=[s * dtype.itemsize for s in stride],
            writeable=False,
        )
    array = np.array(array, dtype=dtype.newbyteorder("="), order="C")
    if tensor.dtype == "bfloat16":
        # bfloat16 is the top half of a float32.
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _materialize(obj, read_bytes, byteorder):
    """Replace every `_PendingTensor` in `obj` by a NumPy array, keeping containers and key order."""
    arrays = {}

    def convert(value):
        if not isinstance(value, _PendingTensor):
            return value
        if id(value) not in arrays:
            arrays[id(value)] = _tensor_to_numpy(value, read_bytes(value.storage.key), byteorder)
        return arrays[id(value)]

    return replace_leaves(obj, convert)


def _read_member(archive, name):
    try:
        return archive.read(name)
    except _ZIP_ERRORS as error:
        raise MalformedPickle(f"cannot read '{name}' from the zip ({type(error).__name__}: {error})") from error


def _read_zip(path, handle):
    try:
        archive = zipfile.ZipFile(handle)
        names = archive.namelist()
    except _ZIP_ERRORS as error:
        raise CheckpointError(
            path, f"the zip container is truncated or corrupt ({error}); {DAMAGED_HINT}"
        ) from error
    pickles = [n for n in names if n == "data.pkl" or (n.count("/") == 1 and n.endswith("/data.pkl"))]
    if any(name.endswith("constants.pkl") for name in names):
        raise CheckpointError(
            path,
            "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; "
            "save the model's state_dict() with torch.save and read that file",
        )
    if len(pickles) != 1:
        raise CheckpointError(
            path, f"expected one '<archive>/data.pkl' in the zip, found {pickles or 'none'}"
        )
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        try:
            byteorder = _read_member(archive, prefix + "byteorder").decode("ascii", "replace").strip()
        except MalformedPickle as error:
            raise CheckpointError(path, f"{error}; {DAMAGED_HINT}") from error
        if byteorder not in ("little", "big"):
            raise CheckpointError(path, f"unknown byte order {byteorder!r} in '{prefix}byteorder'")

    storages = {}
    cache = {}

    def read_bytes(key):
        if key not in cache:
            member = f"{prefix}data/{key}"
            if member not in names:
                raise MalformedPickle(f"storage {key!r} is missing from the zip (no '{member}')")
            cache[key] = _read_member(archive, member)
        return cache[key]

    try:
        obj = load_restricted(
            io.BytesIO(_read_member(archive, pickles[0])),
            path,
            torch_globals(),
            lambda pid: _storage_from_persistent_id(pid, storages),
            what="the object pickle (data.pkl)",
        )
        return _materialize(obj, read_bytes, byteorder)
    except MalformedPickle as error:
        raise CheckpointError(path, f"{error}; {DAMAGED_HINT}") from error
    except MemoryError as error:  # a member whose declared size does not fit in memory
        raise CheckpointError(path, f"a zip member declares more data than fits in memory; {DAMAGED_HINT}") from error


def _read_legacy(path, handle):
    allowed = torch_globals()
    magic = load_restricted(handle, path, allowed, what="the magic-number pickle")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(path, "not a PyTorch checkpoint (wrong magic number)")
    protocol = load_restricted(handle, path, allowed, what="the protocol-version pickle")
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(path, f"unsupported legacy protocol version {protocol!r}")
    sys_info = load_restricted(handle, path, allowed, what="the system-info pickle")
    byteorder = "little" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else "big"

    storages = {}
    obj = load_restricted(
        handle,
        path,
        allowed,
        lambda pid: _storage_from_persistent_id(pid, storages),
        what="the object pickle",
    )
    keys = load_restricted(handle, path, allowed, what="the storage-key pickle")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or sorted(keys) != sorted(storages):
        raise CheckpointError(
            path, f"the storage-key list does not match the storages the object uses; {DAMAGED_HINT}"
        )

    # Each storage: its element count as little-endian int64, then the bytes.
    count_format = "<q" if byteorder == "little" else ">q"
    file_size = os.fstat(handle.fileno()).st_size
    data = {}
    for key in keys:
        storage = storages[key]
        header = handle.read(8)
        if len(header) != 8:
            raise CheckpointError(path, f"file ends before storage {key!r}; {DAMAGED_HINT}")
        (numel,) = struct.unpack(count_format, header)
        if numel != storage.numel:
            raise CheckpointError(
                path, f"storage {key!r} has {numel} elements, the pickle says {storage.numel}; {DAMAGED_HINT}"
            )
        nbytes = numel * _numpy_dtype(storage.dtype, byteorder).itemsize
        if nbytes > file_size - handle.tell():  # checked before reading: the count can claim exabytes
            raise CheckpointError(
                path,
                f"storage {key!r} declares {nbytes:,} bytes, more than the {file_size - handle.tell():,} left in "
                f"the file; {DAMAGED_HINT}",
            )
        data[key] = handle.read(nbytes)
        if len(data[key]) != nbytes:
            raise CheckpointError(
                path, f"file ends inside storage {key!r} ({len(data[key])} of {nbytes} bytes); {DAMAGED_HINT}"
            )
    try:
        return _materialize(obj, data.__getitem__, byteorder)
    except MalformedPickle as error:
        raise CheckpointError(path, f"{error}; {DAMAGED_HINT}") from error


def read_torch_checkpoint(path):
    """Read a PyTorch `.pt` / `.pth` file saved by `torch.save`, without PyTorch.

    Args:
        path: the checkpoint file, in the zip (torch >= 1.6) or legacy
            (torch <= 1.5) container.

    Returns:
        The saved object with every tensor replaced by a NumPy array: for a
        state dict an `OrderedDict` name → array in saved order; for
        `photo2cartoon_weights.pt` a dict of six such state dicts (`genA2B`,
        `genB2A`, `disGA`, `disGB`, `disLA`, `disLB`).

    Raises:
        UnsafeCheckpointError: the file's pickle needs a global outside the
            allow-list (it may run code); nothing was executed.
        CheckpointError: the file is not a PyTorch checkpoint, is truncated or corrupt.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            container = sniff_container(handle.read(HEADER_SIZE))
            handle.seek(0)
            if container == "zip":
                return _read_zip(path, handle)
            if container == "legacy":
                return _read_legacy(path, handle)
            handle.seek(257)
            if handle.read(5) == b"ustar":
                raise CheckpointError(
                    path,
                    "this is the tar container of torch < 0.4, which is not supported; "
                    "load it with an old torch and re-save it with torch.save",
                )
    except OSError as error:
        raise CheckpointError(path, f"cannot open the file ({error})") from error
    raise CheckpointError(
        path,
        "not a PyTorch checkpoint: it starts with neither a zip header (torch >= 1.6) "
        "nor the legacy magic number (torch <= 1.5)",
    )
