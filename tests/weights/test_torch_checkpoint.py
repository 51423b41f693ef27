import collections
import io
import pickle
import struct
import zipfile

import numpy as np
import pytest

from keras_p2c.weights import CheckpointError, read_checkpoint, read_torch_checkpoint
from keras_p2c.weights.torch_checkpoint import LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION

torch = pytest.importorskip("torch")

CONTAINERS = ("zip", "legacy")


def save(obj, path, container):
    # `_use_new_zipfile_serialization=False` writes the torch <= 1.5 container.
    torch.save(obj, path, _use_new_zipfile_serialization=container == "zip")
    return path


def expected(tensor):
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        return tensor.float().numpy()
    return tensor.numpy()


def assert_same(array, tensor):
    reference = expected(tensor)
    assert isinstance(array, np.ndarray)
    assert array.dtype == reference.dtype
    assert array.shape == reference.shape
    np.testing.assert_array_equal(array, reference)


def state_dict(generator, shapes):
    return collections.OrderedDict(
        (name, torch.randn(shape, generator=generator)) for name, shape in shapes.items()
    )


@pytest.mark.parametrize("container", CONTAINERS)
def test_six_state_dicts_like_the_official_weights(tmp_path, container):
    generator = torch.Generator().manual_seed(0)
    # A few real key names per network, with small shapes.
    gen_shapes = {
        "ConvBlock1.1.weight": (4, 3, 7, 7),
        "HourGlass1.HG.0.ConvBlock1_1.ConvBlock1.3.weight": (2, 4, 3, 3),
        "gap_fc.weight": (1, 8),
        "gap_fc.bias": (1,),
        "FC.0.weight": (8, 8),
        "DecodeBlock1.norm1.rho": (1, 8, 1, 1),
        "UpBlock1.3.gamma": (1, 4, 1, 1),
    }
    dis_shapes = {
        "model.1.weight_orig": (4, 3, 4, 4),
        "model.1.weight_u": (4,),
        "model.1.weight_v": (48,),
        "model.1.bias": (4,),
        "conv.weight_orig": (1, 8, 4, 4),
    }
    networks = {}
    for name in ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"):
        networks[name] = state_dict(generator, gen_shapes if name.startswith("gen") else dis_shapes)
        networks[name]._metadata = collections.OrderedDict({"": {"version": 1}})
    path = save(networks, tmp_path / "photo2cartoon_weights.pt", container)

    loaded = read_torch_checkpoint(path)

    assert list(loaded) == list(networks)
    for name, tensors in networks.items():
        assert list(loaded[name]) == list(tensors)
        for key, tensor in tensors.items():
            assert_same(loaded[name][key], tensor)


@pytest.mark.parametrize("container", CONTAINERS)
def test_views_share_storage_with_offsets_and_strides(tmp_path, container):
    base = torch.arange(60, dtype=torch.float32).reshape(5, 12)
    tensors = collections.OrderedDict(
        base=base,
        rows=base[2:4],  # offset into the shared storage
        columns=base[1:, 3::4],  # offset and non-unit strides
        transposed=base.t(),  # non-contiguous
        permuted=base.reshape(3, 4, 5).permute(2, 0, 1),
        expanded=base[0, :3].unsqueeze(0).expand(4, 3),  # stride 0
        scalar=base[3, 7],  # zero-dimensional
        empty=base[:, 12:],
    )
    tensors["again"] = tensors["rows"]
    path = save(tensors, tmp_path / "views.pt", container)

    loaded = read_torch_checkpoint(path)

    assert list(loaded) == list(tensors)
    for key, tensor in tensors.items():
        assert_same(loaded[key], tensor)
        assert loaded[key].flags.c_contiguous
    loaded["rows"][0, 0] = -1.0  # arrays are independent copies of the storage
    assert loaded["base"][2, 0] == 24.0


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize(
    "dtype",
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
        torch.complex64,
    ],
)
def test_dtypes(tmp_path, container, dtype):
    values = torch.tensor([[0.0, 1.5, -2.25], [3.0, -0.5, 100.0]])
    tensor = (values.abs() if dtype == torch.uint8 else values).to(dtype)
    path = save({"x": tensor, "y": tensor[:, 1:]}, tmp_path / "dtype.pt", container)

    loaded = read_torch_checkpoint(path)

    assert_same(loaded["x"], tensor)
    assert_same(loaded["y"], tensor[:, 1:])


def test_dtype_without_storage_class(tmp_path):
    # torch 2.x writes uint16/32/64 through `_rebuild_tensor_v3` and an UntypedStorage.
    tensors = {
        "u16": torch.arange(6).to(torch.uint16).reshape(2, 3).t(),
        "u32": torch.arange(4).to(torch.uint32)[1:],
    }
    loaded = read_torch_checkpoint(save(tensors, tmp_path / "v3.pt", "zip"))
    for key, tensor in tensors.items():
        assert_same(loaded[key], tensor)


@pytest.mark.parametrize("container", CONTAINERS)
def test_spectral_norm_module_state_dict_and_parameters(tmp_path, container):
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.utils.spectral_norm(torch.nn.Conv2d(3, 4, 3)),
        torch.nn.LeakyReLU(0.2),
        torch.nn.utils.spectral_norm(torch.nn.Linear(4, 2)),
    )
    # One training-mode forward pass updates the power-iteration vectors u and v.
    module[0](torch.randn(1, 3, 5, 5))
    module[2](torch.randn(1, 4))
    sd = module.state_dict()
    assert {"0.weight_orig", "0.weight_u", "0.weight_v", "2.weight_orig"} <= set(sd)
    path = save({"state": sd, "params": dict(module.named_parameters())}, tmp_path / "sn.pt", container)

    loaded = read_torch_checkpoint(path)

    assert list(loaded["state"]) == list(sd)
    for key, tensor in sd.items():
        assert_same(loaded["state"][key], tensor)
    for key, parameter in module.named_parameters():
        assert_same(loaded["params"][key], parameter)


@pytest.mark.parametrize("container", CONTAINERS)
def test_plain_values_beside_tensors(tmp_path, container):
    tensor = torch.randn(2, 2)
    obj = {"epoch": 7, "lr": 1e-4, "names": ["a", "b"], "pair": (tensor, None), "array": np.arange(3.0)}
    loaded = read_torch_checkpoint(save(obj, tmp_path / "mixed.pt", container))
    assert loaded["epoch"] == 7 and loaded["lr"] == 1e-4 and loaded["names"] == ["a", "b"]
    assert_same(loaded["pair"][0], tensor)
    assert loaded["pair"][1] is None
    np.testing.assert_array_equal(loaded["array"], np.arange(3.0))


def rewrite_zip(path, change):
    """Rewrite every member of a torch zip through `change(name, data) -> data or None (drop)`."""
    with zipfile.ZipFile(path) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            data = change(name, data)
            if data is not None:
                archive.writestr(name, data)


def test_big_endian_zip(tmp_path):
    tensors = {"f": torch.randn(3, 4), "h": torch.randn(5).half(), "i": torch.arange(6).reshape(2, 3).t()}
    path = save(tensors, tmp_path / "big.pt", "zip")
    element_size = {"0": 4, "1": 2, "2": 8}

    def to_big_endian(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        key = name.rsplit("/", 1)[-1]
        if "/data/" in name:
            return np.frombuffer(data, f"<u{element_size[key]}").astype(f">u{element_size[key]}").tobytes()
        return data

    rewrite_zip(path, to_big_endian)
    loaded = read_torch_checkpoint(path)
    for key, tensor in tensors.items():
        assert_same(loaded[key], tensor)


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.97])
def test_truncated_file_is_a_clear_error(tmp_path, container, keep):
    path = save({"w": torch.randn(64, 32), "b": torch.randn(32)}, tmp_path / "w.pt", container)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="w.pt") as error:
        read_torch_checkpoint(path)
    assert "download or copy it again" in str(error.value)


def test_corrupt_zip_storage_is_detected(tmp_path):
    path = save({"w": torch.zeros(256)}, tmp_path / "w.pt", "zip")
    data = bytearray(path.read_bytes())
    start = data.index(b"\x00" * 512)  # inside the storage of zeros
    data[start + 100] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="w.pt"):
        read_torch_checkpoint(path)


def test_missing_or_short_storage_in_zip(tmp_path):
    path = save({"w": torch.randn(8, 8)}, tmp_path / "w.pt", "zip")
    rewrite_zip(path, lambda name, data: data[:100] if "/data/" in name else data)
    with pytest.raises(CheckpointError, match="holds 100 bytes, 256 expected"):
        read_torch_checkpoint(path)
    rewrite_zip(path, lambda name, data: None if "/data/" in name else data)
    with pytest.raises(CheckpointError, match="missing from the zip"):
        read_torch_checkpoint(path)


class HandTensor:
    """Pickles like a tensor over `storage` (an object the pickler turns into a persistent id)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (*self.args, False, collections.OrderedDict())


def hand_pickle(obj, persistent_ids, handle):
    """Pickle `obj` to `handle`, writing the objects in `persistent_ids` (id → pid) as persistent ids."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            return persistent_ids.get(id(value))

    Pickler(handle, protocol=2).dump(obj)


def test_tensor_reaching_past_its_storage_is_refused(tmp_path):
    # A hand-made zip whose tensor indexes elements 4..12 of a 9-element storage:
    # reading it must fail cleanly, never read memory outside the storage.
    storage = object()
    buffer = io.BytesIO()
    pid = ("storage", torch.FloatStorage, "0", "cpu", 9)
    hand_pickle({"w": HandTensor(storage, 4, (3, 3), (3, 1))}, {id(storage): pid}, buffer)
    path = tmp_path / "bad.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bad/data.pkl", buffer.getvalue())
        archive.writestr("bad/data/0", np.arange(9, dtype="<f4").tobytes())
    with pytest.raises(CheckpointError, match="reaches element 12 of a storage of 9 elements"):
        read_torch_checkpoint(path)


def test_legacy_storage_views(tmp_path):
    # torch < 1.0 pickled views of storages as ('storage', type, root key, location,
    # root size, (view key, element offset, view size)).
    root = np.arange(10, dtype="<f4")
    whole, view = object(), object()
    ids = {
        id(whole): ("storage", torch.FloatStorage, "7", "cuda:0", 10, None),
        id(view): ("storage", torch.FloatStorage, "7", "cuda:0", 10, ("8", 3, 5)),
    }
    obj = {"whole": HandTensor(whole, 0, (10,), (1,)), "view": HandTensor(view, 1, (2, 2), (1, 2))}
    path = tmp_path / "old.pt"
    with open(path, "wb") as handle:
        for part in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(part, handle, protocol=2)
        hand_pickle(obj, ids, handle)
        pickle.dump(["7"], handle, protocol=2)
        handle.write(struct.pack("<q", 10) + root.tobytes())

    loaded = read_torch_checkpoint(path)

    np.testing.assert_array_equal(loaded["whole"], root)
    # view element k is root element 3 + k; the tensor reads view[1 + i + 2 j].
    np.testing.assert_array_equal(loaded["view"], [[4.0, 6.0], [5.0, 7.0]])


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt.*not a PyTorch checkpoint"):
        read_torch_checkpoint(path)
    with pytest.raises(CheckpointError, match="cannot open"):
        read_torch_checkpoint(tmp_path / "missing.pt")


def test_torchscript_archive_is_explained(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(CheckpointError, match="TorchScript"):
        read_torch_checkpoint(path)


def test_tensors_with_python_attributes(tmp_path):
    # torch pickles these through `_rebuild_from_type_v2` / `_rebuild_parameter_with_state`.
    tensor = torch.randn(2, 3)
    tensor.note = "attribute"
    parameter = torch.nn.Parameter(torch.randn(4))
    parameter.note = "attribute"
    loaded = read_torch_checkpoint(save({"t": tensor, "p": parameter}, tmp_path / "attrs.pt", "zip"))
    assert_same(loaded["t"], tensor)
    assert_same(loaded["p"], parameter)


@pytest.mark.parametrize("container, protocol", [("zip", 2), ("legacy", 2), ("legacy", 4)])
def test_read_checkpoint_detects_both_containers(tmp_path, container, protocol):
    tensors = {"w": torch.randn(3, 3)}
    path = tmp_path / "w.pth"
    torch.save(tensors, path, _use_new_zipfile_serialization=container == "zip", pickle_protocol=protocol)
    fmt, loaded = read_checkpoint(path)
    assert fmt == "pt"
    assert_same(loaded["w"], tensors["w"])


def test_errors_survive_pickling(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(CheckpointError) as error:
        read_torch_checkpoint(path)
    copy = pickle.loads(pickle.dumps(error.value))
    assert str(copy) == str(error.value) and copy.path == str(path)
