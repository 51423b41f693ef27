import builtins
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from keras_p2c.weights import (
    CheckpointError,
    UnsafeCheckpointError,
    read_checkpoint,
    read_paddle_params,
    read_torch_checkpoint,
)
from keras_p2c.weights.safe_unpickler import load_restricted, numpy_globals
from keras_p2c.weights.torch_checkpoint import LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION


class Payload:
    """Unpickling this runs `function(*args)`, which creates `marker`."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def payloads(marker):
    return {
        "os.system": Payload(os.system, f"touch '{marker}'"),
        "exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "open": Payload(builtins.open, str(marker), "w"),
    }


PAYLOAD_NAMES = ("os.system", "exec", "open")


def write_plain(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_torch_zip(path, obj):
    # The zip container's layout, written by hand so no torch is needed.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")


def write_torch_legacy(path, obj):
    with open(path, "wb") as handle:
        for part in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, {"little_endian": True}, obj, []):
            pickle.dump(part, handle, protocol=2)


CONTAINERS = {
    "pdparams": (write_plain, read_paddle_params),
    "torch-zip": (write_torch_zip, read_torch_checkpoint),
    "torch-legacy": (write_torch_legacy, read_torch_checkpoint),
}


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_payloads_are_real(tmp_path, name):
    # Control: plain pickle runs each payload, so the refusals below mean something.
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(payloads(marker)[name], protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, container, name):
    write, read = CONTAINERS[container]
    marker = tmp_path / "marker"
    path = tmp_path / "evil.bin"
    write(path, {"weight": np.ones(3, "float32"), "bias": payloads(marker)[name]})

    for reader in (read, read_checkpoint):
        with pytest.raises(UnsafeCheckpointError) as error:
            reader(path)
        message = str(error.value)
        assert str(path) in message
        assert error.value.global_name in message
        assert "re-save just the weights" in message

    assert not marker.exists()
    assert pickle.loads(pickle.dumps(error.value)).global_name == error.value.global_name
    # Protocol 2 writes Python 2 module names (`__builtin__`).
    assert error.value.global_name in {"posix.system", "__builtin__.exec", "io.open"}


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_malicious_object_saved_by_torch_is_refused(tmp_path, container):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    obj = {"genA2B": {"w": torch.ones(2)}, "extra": payloads(marker)["os.system"]}
    torch.save(obj, path, _use_new_zipfile_serialization=container == "zip")
    with pytest.raises(UnsafeCheckpointError, match="posix.system"):
        read_torch_checkpoint(path)
    assert not marker.exists()


def load(data, allowed=None):
    return load_restricted(io.BytesIO(data), "test.pkl", numpy_globals() if allowed is None else allowed)


def test_numpy_arrays_and_containers_load():
    obj = {"a": np.arange(6.0).reshape(2, 3)[:, ::2], "s": np.float32(2.5), "nested": [(1, "x"), {"k": None}]}
    for protocol in (2, 4, 5):
        loaded = load(pickle.dumps(obj, protocol=protocol))
        np.testing.assert_array_equal(loaded["a"], obj["a"])
        assert loaded["s"] == np.float32(2.5) and loaded["nested"] == obj["nested"]


def test_only_the_allow_list_is_resolved():
    with pytest.raises(UnsafeCheckpointError, match="'collections.OrderedDict'"):
        load(pickle.dumps(__import__("collections").OrderedDict(a=1), protocol=2))
    assert load(pickle.dumps({"a": 1}), allowed={}) == {"a": 1}


@pytest.mark.parametrize(
    "data",
    [
        # BUILD on an allowed function's stand-in, trying to replace what it calls.
        b"\x80\x02c_codecs\nencode\nN}X\x08\x00\x00\x00functioncnumpy\ndtype\ns\x86b.",
        # BUILD on the numpy.dtype class itself.
        b"\x80\x02cnumpy\ndtype\n}X\x01\x00\x00\x00xK\x01sb.",
        # `_codecs.encode` with a codec other than latin-1.
        b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.",
        # `_reconstruct` of something other than an ndarray.
        b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85X\x01\x00\x00\x00b\x87R.",
        # Calling the ndarray marker (its real constructor would allocate any shape).
        b"\x80\x02cnumpy\nndarray\nJ\x00\xca\x9a;\x85R.",
        # A persistent id where none is expected.
        b"\x80\x02X\x01\x00\x00\x00aQ.",
        # Truncated.
        pickle.dumps({"a": np.ones(4)}, protocol=2)[:-30],
    ],
    ids=["build-on-function", "build-on-class", "codec", "reconstruct", "ndarray-call", "persid", "truncated"],
)
def test_malformed_or_hostile_pickles_are_checkpoint_errors(data):
    with pytest.raises(CheckpointError, match="test.pkl"):
        load(data)
    # The allow-list's stand-ins still work afterwards.
    np.testing.assert_array_equal(load(pickle.dumps(np.arange(3), protocol=2)), np.arange(3))
