"""Seeded checkpoint cases for the fuzz suite: the official containers, damaged, reshaped and hostile.

Every case id starts with the door it is opened through (see `DOORS`): `gen/` a Photo2Cartoon generator for
`load_official_network` / `p2c convert` (the original `.pt` in both torch containers, PaddleGAN's
`.pdparams`), `dis/` the original's `disGA` (`--network disGA`), `mfn/` InsightFace's MobileFaceNet for
the Face-ID loader, `file/` any file for the bare readers (`read_checkpoint`). Hostile pickles try to
create `MARKER` in the working directory (`os.system('touch ...')`, `exec`, `subprocess.Popen`, ...): run
them from a fresh folder and check it stays absent. Importers skip without torch first (`pytest.importorskip("torch")`).
"""

import collections
import functools
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import torch

from tests.helpers.checkpoints import pdparams_bytes, torch_generator
from tests.helpers.fuzz import BAD, EITHER, GOOD, Case, case_rng, damaged, mutations
from tests.helpers.mobilefacenet import random_state_dict
from tests.reference.torch_reference import to_paddle_state_dict

MARKER = "P2C_FUZZ_MARKER"  # relative: created in the working directory by any payload that runs
DOORS = ("gen", "dis", "mfn", "file")
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
UNSAFE = "not allowed in a weights file"  # UnsafeCheckpointError's message


# -- containers written by hand (hostile or broken contents torch.save would never write) -----------


def zip_container(data_pkl, storages=(), extra=(), byteorder="little"):
    """torch's zip layout: `archive/data.pkl`, `archive/data/<key>` for each storage, `archive/byteorder`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        if byteorder is not None:
            archive.writestr("archive/byteorder", byteorder)
        for key, raw in storages:
            archive.writestr(f"archive/data/{key}", raw)
        for name, raw in extra:
            archive.writestr(name, raw)
    return buffer.getvalue()


def legacy_container(obj_pickle, keys=(), storages=b"", magic=None, protocol=None, sys_info=None, keys_pickle=None):
    """torch <= 1.5's five pickles, then the storages; any of the pickles may be replaced by raw bytes."""
    parts = [
        magic or pickle.dumps(LEGACY_MAGIC_NUMBER, protocol=2),
        protocol or pickle.dumps(LEGACY_PROTOCOL_VERSION, protocol=2),
        sys_info or pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        obj_pickle,
        keys_pickle or pickle.dumps(list(keys), protocol=2),
    ]
    return b"".join(parts) + storages


def _body(data):
    """A pickle's opcodes without its PROTO/FRAME header and STOP, to embed in another pickle."""
    start = 2 if data[:1] == b"\x80" else 0
    if data[start : start + 1] == b"\x95":  # FRAME + 8-byte length
        start += 9
    assert data.endswith(b".")
    return data[start:-1]


def call_pickle(module, name, args, protocol=2, wrap=None):
    """A pickle whose loading calls `module.name(*args)` (GLOBAL, STACK_GLOBAL or INST opcodes).

    `wrap`: `"dict"` puts the call as the value of a `weight` key, `"list-dict"` one level deeper.
    """
    if protocol == "inst":  # protocol 0's INST: MARK, the arguments, `i module\nname\n`
        arguments = b"".join(_body(pickle.dumps(arg, protocol=0)) for arg in args)
        call = b"(" + arguments + b"i" + f"{module}\n{name}\n".encode()
        header = b""
    elif protocol >= 4:
        encode = lambda text: b"\x8c" + bytes([len(text)]) + text.encode()  # noqa: E731 - SHORT_BINUNICODE
        call = encode(module) + encode(name) + b"\x93" + _body(pickle.dumps(tuple(args), protocol=protocol)) + b"R"
        header = b"\x80" + bytes([protocol])
    else:
        call = f"c{module}\n{name}\n".encode() + _body(pickle.dumps(tuple(args), protocol=protocol)) + b"R"
        header = b"\x80\x02" if protocol == 2 else b""
    if wrap == "dict":
        call = b"}" + _body(pickle.dumps("weight", protocol=2)) + call + b"s"
    elif wrap == "list-dict":
        call = b"]" + b"}" + _body(pickle.dumps("weight", protocol=2)) + call + b"sa"
    return header + call + b"."


# Each payload creates MARKER if it runs.
PAYLOADS = {
    "os.system": ("os", "system", [f"touch {MARKER}"]),
    "posix.system": ("posix", "system", [f"touch {MARKER}"]),
    "builtins.exec": ("builtins", "exec", [f"open({MARKER!r}, 'w').close()"]),
    "builtins.eval": ("builtins", "eval", [f"open({MARKER!r}, 'w')"]),
    "builtins.open": ("builtins", "open", [MARKER, "w"]),
    "subprocess.Popen": ("subprocess", "Popen", [["touch", MARKER]]),
    "os.popen": ("os", "popen", [f"touch {MARKER}"]),
    "numpy-runstring": ("numpy.testing._private.utils", "runstring", [f"open({MARKER!r}, 'w').close()", {}]),
    "torch-load-from-bytes": ("torch.storage", "_load_from_bytes", [b"not a pickle"]),
}


def hostile_cases():
    """Pickles that run code, in every place of every container the readers open."""
    cases = []

    def add(case_id, data, name):
        cases.append(Case(case_id, name, data, BAD, UNSAFE))

    for payload, (module, name, args) in PAYLOADS.items():
        for protocol in (0, 2, 4, "inst"):
            pickled = call_pickle(module, name, args, protocol=protocol)
            add(f"file/hostile/{payload}/zip-p{protocol}", zip_container(pickled), f"hostile-{payload}-{protocol}.pt")
        add(f"file/hostile/{payload}/zip-nested", zip_container(call_pickle(module, name, args, 2, "list-dict")),
            f"hostile-{payload}-nested.pt")
        for place in ("magic", "sys_info", "obj", "keys"):
            if place == "obj":
                data = legacy_container(call_pickle(module, name, args, protocol=2, wrap="dict"))
            else:
                part = {"magic": "magic", "sys_info": "sys_info", "keys": "keys_pickle"}[place]
                data = legacy_container(pickle.dumps({}, protocol=2), **{part: call_pickle(module, name, args)})
            add(f"file/hostile/{payload}/legacy-{place}", data, f"hostile-{payload}-legacy-{place}.pt")
        for protocol in (2, 4, 5):
            add(f"file/hostile/{payload}/pdparams-p{protocol}", call_pickle(module, name, args, protocol, "dict"),
                f"hostile-{payload}-{protocol}.pdparams")
    # A payload as the storage type of a persistent id, and through the door of each network.
    pid = b"(X\x07\x00\x00\x00storage" + b"cos\nsystem\n" + b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ"
    add("file/hostile/persistent-id-type", zip_container(b"\x80\x02" + pid + b"."), "hostile-pid.pt")
    system = PAYLOADS["os.system"]
    add("gen/hostile/os.system", zip_container(call_pickle(*system, wrap="dict")), "hostile-photo2cartoon_weights.pt")
    add("gen/hostile/os.system-pdparams", call_pickle(*system, wrap="dict"), "hostile-photo2cartoon_genA2B.pdparams")
    add("mfn/hostile/os.system", zip_container(call_pickle(*system, wrap="dict")), "hostile-model_mobilefacenet.pth")
    return cases


def _pickle_of_tensor(pid_numel, size, stride, offset=0, key="0", dtype_class="FloatStorage"):
    """data.pkl of `{"w": tensor}` with a hand-made storage persistent id and `_rebuild_tensor_v2` arguments."""
    ints = lambda values: b"(" + b"".join(b"\x8a" + _long(v) for v in values) + b"t"  # noqa: E731
    storage = (b"(X\x07\x00\x00\x00storage" + f"ctorch\n{dtype_class}\n".encode() + b"X" + struct.pack("<I", len(key))
               + key.encode() + b"X\x03\x00\x00\x00cpu\x8a" + _long(pid_numel) + b"tQ")  # fmt: skip
    arguments = storage + b"\x8a" + _long(offset) + ints(size) + ints(stride) + b"\x89)"  # requires_grad, hooks
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n(" + arguments + b"tR"
    return b"\x80\x02}X\x01\x00\x00\x00w" + tensor + b"s."


def _long(value):
    """LONG1's payload: the length byte and the little-endian two's complement bytes."""
    raw = value.to_bytes((value.bit_length() + 8) // 8 or 1, "little", signed=True)
    return bytes([len(raw)]) + raw


def malformed_cases():
    """Broken structure: deep nesting, huge declared sizes, bad tensors, wrong file kinds."""
    four_floats = np.arange(4, dtype="<f4").tobytes()
    deep_list = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
    deep_dict = b"\x80\x02" + b"}X\x01\x00\x00\x00k" * 50_000 + b"}" + b"s" * 50_000 + b"."
    huge_bytes = b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"tiny"
    huge_text = b"\x80\x04\x8d" + struct.pack("<Q", 1 << 40) + b"tiny"
    legacy_tensor = _pickle_of_tensor(1 << 40, (4,), (1,))
    one_tensor = _pickle_of_tensor(4, (4,), (1,))  # {"w": 4 floats}, storage "0"

    def zipped(pickled, data=four_floats, **options):
        return zip_container(pickled, [("0", data)], **options)

    files = [
        ("deep-list-zip", zip_container(deep_list), ".pt", None),
        ("deep-dict-zip", zip_container(deep_dict), ".pt", None),
        ("deep-list-legacy", legacy_container(deep_list), ".pt", None),
        ("deep-dict-pdparams", deep_dict, ".pdparams", None),
        ("binbytes8-1TiB-zip", zip_container(huge_bytes), ".pt", None),
        ("binbytes8-1TiB-legacy", legacy_container(huge_bytes), ".pt", None),
        ("binbytes8-1TiB-pdparams", huge_bytes, ".pdparams", None),
        ("binunicode8-1TiB-pdparams", huge_text, ".pdparams", None),
        ("storage-numel-2^40-zip", zipped(_pickle_of_tensor(1 << 40, (4,), (1,))), ".pt", None),
        # The legacy storage header agrees with the pickle: 4 TiB announced, 16 bytes there.
        ("storage-numel-2^40-legacy", legacy_container(legacy_tensor, ["0"], struct.pack("<q", 1 << 40) + four_floats),
         ".pt", None),
        ("storage-numel-2^62-legacy",
         legacy_container(_pickle_of_tensor(1 << 62, (4,), (1,)), ["0"], struct.pack("<q", 1 << 62) + four_floats),
         ".pt", None),
        # Stride 0: 10^12 elements read from one float.
        ("broadcast-10^12", zipped(_pickle_of_tensor(1, (10**6, 10**6), (0, 0)), four_floats[:4]), ".pt", None),
        ("negative-stride", zipped(_pickle_of_tensor(4, (4,), (-1,))), ".pt", None),
        ("negative-size", zipped(_pickle_of_tensor(4, (-4,), (1,))), ".pt", None),
        ("offset-2^70", zipped(_pickle_of_tensor(4, (4,), (1,), offset=1 << 70)), ".pt", None),
        ("stride-2^70", zipped(_pickle_of_tensor(4, (2,), (1 << 70,))), ".pt", None),
        ("100-dims", zipped(_pickle_of_tensor(4, (1,) * 100, (1,) * 100)), ".pt", None),
        ("storage-missing", zip_container(one_tensor), ".pt", "missing from the zip"),
        ("zip-member-size-forged", _forged_member_size(zipped(one_tensor)), ".pt", None),
        ("storage-short", zipped(one_tensor, four_floats[:6]), ".pt", None),
        # Flag bits and fields of one member's zip entry, as a bit flip sets them (zipfile raised
        # UnicodeDecodeError, RuntimeError and NotImplementedError past the reader).
        ("zip-name-not-utf8", _patched_entry(zipped(one_tensor), flags=0x800, local_name=b"archive/data/\xaf"), ".pt",
         None),
        ("zip-encrypted-flag", _patched_entry(zipped(one_tensor), flags=0x1), ".pt", "encrypted"),
        ("zip-compression-99", _patched_entry(zipped(one_tensor), method=99), ".pt", None),
        ("storage-type-unknown", zipped(_pickle_of_tensor(4, (4,), (1,), dtype_class="QInt8Storage")), ".pt", None),
        ("byteorder-garbage", zipped(one_tensor, byteorder="middle"), ".pt", "byte order"),
        ("torchscript", zip_container(pickle.dumps({}), extra=[("archive/constants.pkl", pickle.dumps(()))]), ".pt",
         "TorchScript"),
        ("two-data-pkl", zip_container(pickle.dumps({}), extra=[("other/data.pkl", pickle.dumps({}))]), ".pt", None),
        ("tar-container", b"\x00" * 257 + b"ustar" + b"\x00" * 250, ".pt", "tar container"),
        ("keras-model", _keras_zip(), ".pt", "Keras"),
        ("hdf5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, ".pt", "Keras"),
        ("empty", b"", ".pt", None),
        ("text", b"these are not weights\n", ".pdparams", None),
        ("pickle-protocol-0", pickle.dumps({"w": 1}, protocol=0), ".pdparams", None),
        ("pdparams-list", pickle.dumps([1, 2, 3], protocol=2), ".pdparams", None),
        ("pdparams-object-array", pickle.dumps({"w": np.array(["a", None], dtype=object)}, protocol=2), ".pdparams",
         "not a numeric array"),
        ("pdparams-persistent-id", b"\x80\x02}X\x01\x00\x00\x00w(X\x01\x00\x00\x00xtQs.", ".pdparams", None),
        ("pdparams-split-garbage", pickle.dumps({"UnpackBigParamInfor@@": {"w": {"slices": ["nope"]}}}, protocol=2),
         ".pdparams", "split"),
        ("codecs-zlib", b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", ".pdparams", None),
        ("numpy-dtype-flags-pdparams", _dtype_state_pickle(flags=1), ".pdparams", "dtype state"),
        ("numpy-dtype-flags-zip", zip_container(_dtype_state_pickle(flags=1)), ".pt", "dtype state"),
        ("numpy-dtype-itemsize-pdparams", _dtype_state_pickle(itemsize=1000), ".pdparams", "dtype state"),
        ("numpy-dtype-object", pickle.dumps({"w": np.array([None, 1], dtype=object)}, protocol=2), ".pdparams",
         "not a numeric array"),
        ("float8-tensor", zip_container(_float8_pickle(), [("0", b"\x00" * 4)]), ".pt", "no NumPy equivalent"),
    ]
    return [Case(f"file/malformed/{case_id}", f"malformed-{case_id}{suffix}", data, BAD, reason)
            for case_id, data, suffix, reason in files]  # fmt: skip


def _forged_member_size(data, member=b"archive/data/0", size=0xFFFFFF00):
    """The zip with its central directory claiming ~4 GB for `member` (its data stays 16 bytes)."""
    buffer = bytearray(data)
    entry = buffer.find(b"PK\x01\x02")
    while entry >= 0:
        name_length = struct.unpack_from("<H", buffer, entry + 28)[0]
        if bytes(buffer[entry + 46 : entry + 46 + name_length]) == member:
            struct.pack_into("<II", buffer, entry + 20, size, size)
        entry = buffer.find(b"PK\x01\x02", entry + 4)
    return bytes(buffer)


def _patched_entry(data, member=b"archive/data/0", flags=0, method=None, local_name=None):
    """The zip with `member`'s flags (central directory and local header) or'ed with `flags`, its compression
    method replaced, and/or its local header's name replaced by `local_name` (same length)."""
    buffer = bytearray(data)
    entry = buffer.find(b"PK\x01\x02")
    while entry >= 0:
        name_length = struct.unpack_from("<H", buffer, entry + 28)[0]
        if bytes(buffer[entry + 46 : entry + 46 + name_length]) == member:
            struct.pack_into("<H", buffer, entry + 8, struct.unpack_from("<H", buffer, entry + 8)[0] | flags)
            if method is not None:
                struct.pack_into("<H", buffer, entry + 10, method)
            local = struct.unpack_from("<I", buffer, entry + 42)[0]
            struct.pack_into("<H", buffer, local + 6, struct.unpack_from("<H", buffer, local + 6)[0] | flags)
            if local_name is not None:
                buffer[local + 30 : local + 30 + name_length] = local_name
        entry = buffer.find(b"PK\x01\x02", entry + 4)
    return bytes(buffer)


def _dtype_state_pickle(itemsize=-1, flags=0):
    """`{"w": float32 array}` pickled, its dtype's BUILD state given another itemsize and flags (flags 1: "holds
    object references", which made NumPy treat the floats as pointers)."""
    data = pickle.dumps({"w": np.zeros(2, np.float32)}, protocol=2)
    written = b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
    assert data.count(written) == 1
    return data.replace(written, b"NNNJ" + struct.pack("<i", itemsize) + b"J\xff\xff\xff\xffK" + bytes([flags]) + b"t")


def _keras_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return buffer.getvalue()


def _float8_pickle():
    storage = b"(X\x07\x00\x00\x00storagectorch\nUntypedStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ"
    args = storage + b"K\x00(K\x04t(K\x01t\x89)ctorch\nfloat8_e4m3fn\n"
    return b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v3\n(" + args + b"tRs."


# -- the good checkpoints and what is done to their contents -----------------------------------------


@functools.lru_cache(maxsize=None)
def generator_state():
    """The small generator (ngf 8, 2 blocks): its torch state dict (original names) and Paddle's arrays."""
    original = torch_generator(ngf=8, n_blocks=2, seed=0).state_dict()
    paddle = to_paddle_state_dict(torch_generator(ngf=8, n_blocks=2, linear_bias=False, seed=0))
    return original, paddle


@functools.lru_cache(maxsize=None)
def face_state():
    return collections.OrderedDict((key, torch.from_numpy(value)) for key, value in random_state_dict(seed=0).items())


def _original_bytes(state, container):
    return torch_bytes({"genA2B": state}, container)


def torch_bytes(obj, container):
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=container == "zip")
    return buffer.getvalue()


@functools.lru_cache(maxsize=None)
def good_seeds():
    """`[(id, file name, bytes)]`: the checkpoints each door must convert."""
    original, paddle = generator_state()
    face = face_state()
    parallel = collections.OrderedDict((f"module.{key}", value) for key, value in face.items())
    return [
        ("gen/pt-zip", "photo2cartoon_weights.pt", torch_bytes({"genA2B": original}, "zip")),
        ("gen/pt-legacy", "photo2cartoon_weights_legacy.pt", torch_bytes({"genA2B": original}, "legacy")),
        ("gen/pdparams-p2", "photo2cartoon_genA2B_weight.pdparams", pdparams_bytes(paddle, 2)),
        ("gen/pdparams-p4", "photo2cartoon_genA2B_weight_p4.pdparams", pdparams_bytes(paddle, 4)),
        ("mfn/pt-zip", "model_mobilefacenet.pth", torch_bytes(face, "zip")),
        ("mfn/pt-legacy", "model_mobilefacenet_legacy.pth", torch_bytes(face, "legacy")),
        ("mfn/data-parallel", "model_mobilefacenet_parallel.pth", torch_bytes(parallel, "zip")),
    ]


# Keys the converters skip on purpose (the original's dead ConvBlock4 convs, BatchNorm's step counter).
SKIPPED_KEYS = (".ConvBlock4.", "num_batches_tracked")


def _edit_key(state, rng):
    return rng.choice([key for key in state if np.ndim(state[key]) >= 1 and not any(s in key for s in SKIPPED_KEYS)])


def _edited(state, key, edit):
    """A copy of a state dict with one `edit` made at `key`."""
    state = collections.OrderedDict(state)
    value = state[key]
    if edit == "missing-key":
        del state[key]
    elif edit == "extra-key":
        state[key + "_extra"] = value
    elif edit == "wrong-shape":
        shape = list(np.shape(value))
        shape[len(key) % len(shape)] += 1 + len(key) % 3
        state[key] = _like(value, np.zeros(shape, np.float32))
    elif edit == "wrong-rank":
        state[key] = _like(value, np.zeros(np.shape(value) + (1,), np.float32))
    elif edit == "string-value":
        state[key] = "weights go here"
    elif edit == "none-value":
        state[key] = None
    elif edit == "dict-value":
        state[key] = {"data": value}
    elif edit == "list-of-strings":
        state[key] = ["x"] * int(np.shape(value)[0])
    elif edit == "int-key":
        state[7] = value
    elif edit == "tuple-key":
        state[("a", 1)] = value
    elif edit == "float16":
        state[key] = _like(value, np.asarray(value, np.float32).astype(np.float16))
    elif edit == "nan":
        state[key] = _like(value, np.full(np.shape(value), np.nan, np.float32))
    elif edit == "empty":
        state = collections.OrderedDict()
    return state


def _write_edited(write, state, key, edit):
    return write(_edited(state, key, edit))


def _like(template, array):
    return torch.from_numpy(np.ascontiguousarray(array)) if isinstance(template, torch.Tensor) else array


# Edits whose outcome is fixed: refused, with this fragment in the message (None: any clear error).
REFUSED_EDITS = {
    "missing-key": "missing key",
    "extra-key": "unexpected key",
    "wrong-shape": None,
    "wrong-rank": None,
    "string-value": None,
    "none-value": None,
    "dict-value": None,
    "list-of-strings": None,
    "int-key": None,
    "tuple-key": None,
    "empty": None,
}
# Edits a strict converter may take (a float16 or NaN weight still has the right shape): either outcome.
LOOSE_EDITS = ("float16", "nan")


def edited_cases(seed):
    """Each edit once per door and container (seeded key), written in that container."""
    original, paddle = generator_state()
    face = face_state()
    cases = []
    targets = [
        ("gen/pt-zip", functools.partial(_original_bytes, container="zip"), original, ".pt"),
        ("gen/pt-legacy", functools.partial(_original_bytes, container="legacy"), original, ".pt"),
        ("gen/pdparams", pdparams_bytes, paddle, ".pdparams"),
        ("mfn/pt-zip", functools.partial(torch_bytes, container="zip"), face, ".pth"),
    ]
    for target, write, state, suffix in targets:
        for edit in list(REFUSED_EDITS) + list(LOOSE_EDITS):
            if target == "gen/pdparams" and edit in ("int-key", "tuple-key"):
                continue  # pickled as they are: the reader's key check, covered by the torch containers
            key = _edit_key(state, case_rng(seed, target, edit))
            description = "edit-" + (edit if edit in ("empty", "int-key", "tuple-key") else f"{edit}:{key}")
            make = functools.partial(_write_edited, write, state, key, edit)
            expect = EITHER if edit in LOOSE_EDITS else BAD
            name = f"{target.replace('/', '-')}-{edit}{suffix}"
            cases.append(Case(f"{target}/{description}", name, make, expect, REFUSED_EDITS.get(edit)))
    # Whole-file structure: not the six networks, not a dict, a network that is no state dict.
    for description, obj in (("no-genA2B", {"genB2A": original}), ("top-level-list", [original]),
                             ("top-level-tensor", torch.zeros(3)), ("genA2B-tensor", {"genA2B": torch.zeros(3)}),
                             ("genA2B-int", {"genA2B": 5}), ("mixed-keys", {1: original, "b": original})):  # fmt: skip
        make = functools.partial(torch_bytes, obj, "zip")
        cases.append(Case(f"gen/structure/{description}", f"gen-{description}.pt", make, BAD))
    # Stem widths no Generator has; 20 000 from a stride-0 tensor of one float (building it would need ~TBs).
    stem = "ConvBlock1.1.weight"
    for description, tensor in (("ngf-9", torch.zeros(9, 3, 7, 7)), ("ngf-0", torch.zeros(0, 3, 7, 7)),
                                ("ngf-20000-expanded", torch.zeros(1).expand(20000, 1, 7, 7))):  # fmt: skip
        make = functools.partial(torch_bytes, {"genA2B": {**original, stem: tensor}}, "zip")
        cases.append(Case(f"gen/structure/{description}", f"gen-{description}.pt", make, BAD))
    expanded = {"disGA": {"model.1.weight_orig": torch.zeros(1).expand(20000, 3, 4, 4)}}
    make = functools.partial(torch_bytes, expanded, "zip")
    cases.append(Case("dis/structure/ndf-20000-expanded", "dis-ndf-20000.pt", make, BAD, "refused rather than built"))
    make = functools.partial(torch_bytes, original, "zip")
    cases.append(Case("mfn/structure/generator-weights", "mfn-generator.pth", make, BAD, "missing key"))
    cases.append(Case("mfn/structure/list", "mfn-list.pth", functools.partial(torch_bytes, [face], "zip"), BAD))
    return cases


def checkpoint_cases(seed, mutated):
    """Good seeds, edited contents, malformed and hostile files, then `mutated` damaged copies of the seeds.

    The damaged copies: truncations and bit flips of each file, and for the zip container the same done to
    its `data.pkl` (re-zipped with correct CRCs, so the unpickler sees the damage rather than zipfile).
    """
    cases = [Case(seed_id, name, data, GOOD) for seed_id, name, data in good_seeds()]
    cases += edited_cases(seed) + malformed_cases() + hostile_cases()
    copies = []
    zipped = sum(1 for _, _, data in good_seeds() if data.startswith(b"PK"))  # these get data.pkl copies too
    per_seed = mutated // (len(good_seeds()) + zipped) + 1
    for seed_id, name, data in good_seeds():
        copies += damaged(seed, seed_id, name, functools.partial(bytes, data), len(data), per_seed, header=256)
        if data.startswith(b"PK"):
            pickled, (stem, suffix) = _members(data)[0][1], os.path.splitext(name)
            for mutation, damage in mutations(seed, seed_id + "/data.pkl", len(pickled), per_seed, len(pickled)):
                make = functools.partial(_rezipped, data, damage)
                copies.append(Case(f"{seed_id}/data.pkl-{mutation}", f"{stem}-pkl-{mutation}{suffix}", make, EITHER))
    chosen = {case.id for case in case_rng(seed, "checkpoint-subset").sample(copies, min(mutated, len(copies)))}
    return cases + [case for case in copies if case.id in chosen]


def _members(data):
    """A zip's `(name, bytes)` members, its `data.pkl` first."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    return sorted(members, key=lambda member: not member[0].endswith("data.pkl"))


def _rezipped(data, damage):
    """The zip checkpoint `data` with its `data.pkl` damaged, written again with correct CRCs."""
    (pickle_name, pickled), *others = _members(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(pickle_name, damage(pickled))
        for name, raw in others:
            archive.writestr(name, raw)
    return buffer.getvalue()
