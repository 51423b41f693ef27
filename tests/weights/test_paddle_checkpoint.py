import pickle

import numpy as np
import pytest

from keras_p2c.weights import CheckpointError, read_checkpoint, read_paddle_params
from keras_p2c.weights.paddle_checkpoint import NAME_TABLE_KEY, SPLIT_INFO_KEY


def paddle_generator_params():
    """A few of PaddleGAN's generator names, with small shapes; Linear weights are [in, out]."""
    rng = np.random.default_rng(0)
    shapes = {
        "DownBlock.1.weight": (4, 3, 7, 7),
        "DownBlock.4.HG.0.ConvBlockskip1.conv_block1.3.weight": (2, 4, 3, 3),
        "DownBlock.4.HG.0.ConvBlock1.conv_block1.3.weight": (2, 4, 3, 3),
        "DownBlock.4.Conv1.bias": (3,),
        "gap_fc.weight": (8, 1),
        "FC.0.weight": (16, 8),  # [in, out]
        "DecodeBlock1.norm1.rho": (1, 8, 1, 1),
        "DecodeBlock1.norm1.c_gamma.0.weight": (8, 8),
        "UpBlock.13.weight": (3, 4, 7, 7),
    }
    params = {name: rng.standard_normal(shape).astype("float32") for name, shape in shapes.items()}
    params["counter"] = np.arange(5, dtype="int64")
    return params


def write_pdparams(path, params, protocol):
    # What paddle.save(layer.state_dict(), path) writes: the arrays plus the name table.
    saved = dict(params)
    saved[NAME_TABLE_KEY] = {name: f"param_{i}" for i, name in enumerate(params)}
    path.write_bytes(pickle.dumps(saved, protocol=protocol))
    return path


def assert_same_params(loaded, params):
    assert list(loaded) == list(params)
    for name, array in params.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_round_trip(tmp_path, protocol):
    params = paddle_generator_params()
    path = write_pdparams(tmp_path / "photo2cartoon_genA2B_weight.pdparams", params, protocol)
    loaded = read_paddle_params(path)
    assert_same_params(loaded, params)
    assert loaded["FC.0.weight"].shape == (16, 8)  # kept as stored: [in, out]
    assert read_checkpoint(path)[0] == "pdparams"


def test_numpy_1_module_names(tmp_path):
    # NumPy 2 writes `numpy._core.multiarray`; files from Paddle 2.0 (NumPy 1) say `numpy.core.multiarray`.
    params = paddle_generator_params()
    path = write_pdparams(tmp_path / "old.pdparams", params, protocol=2)
    data = path.read_bytes()
    assert b"cnumpy._core.multiarray\n_reconstruct\n" in data  # GLOBAL opcode, newline-terminated
    path.write_bytes(data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    assert b"numpy._core" not in path.read_bytes()
    assert_same_params(read_paddle_params(path), params)


def test_non_native_byte_order_and_fortran_order(tmp_path):
    params = {"a": np.arange(6, dtype=">f4").reshape(2, 3), "b": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    loaded = read_paddle_params(write_pdparams(tmp_path / "x.pdparams", params, protocol=2))
    assert loaded["a"].dtype == np.dtype("float32") and loaded["a"].dtype.isnative
    np.testing.assert_array_equal(loaded["a"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(loaded["b"], params["b"])


def test_split_big_arrays_are_joined(tmp_path):
    # Paddle splits arrays over 1 GiB with protocols 2/3; the layout, at a small size.
    whole = np.arange(24, dtype="float32").reshape(4, 6)
    saved = {
        "before": np.ones(2, "float32"),
        "w@@.0": whole.ravel()[:10],
        "w@@.1": whole.ravel()[10:],
        SPLIT_INFO_KEY: {"w": {"OriginShape": (4, 6), "slices": ["w@@.0", "w@@.1"]}},
    }
    path = tmp_path / "split.pdparams"
    path.write_bytes(pickle.dumps(saved, protocol=2))
    loaded = read_paddle_params(path)
    assert list(loaded) == ["before", "w"]
    np.testing.assert_array_equal(loaded["w"], whole)


@pytest.mark.parametrize(
    "contents, message",
    [
        ([np.ones(2)], "expected a pickled dict"),
        ({"a": "text"}, "entry 'a' is a str, not a numeric array"),
        ({"a": np.array(["x", 1], dtype=object)}, "not a numeric array"),
    ],
    ids=["list", "string", "object-array"],
)
def test_unexpected_contents(tmp_path, contents, message):
    path = tmp_path / "odd.pdparams"
    path.write_bytes(pickle.dumps(contents, protocol=2))
    with pytest.raises(CheckpointError, match=message):
        read_paddle_params(path)


def test_truncated_and_foreign_files(tmp_path):
    path = write_pdparams(tmp_path / "cut.pdparams", paddle_generator_params(), protocol=2)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="cut.pdparams.*truncated or corrupt.*download or copy it again"):
        read_paddle_params(path)
    other = tmp_path / "model.pdparams"
    other.write_bytes(b"\x00\x01binary LoDTensor stream")
    with pytest.raises(CheckpointError, match="model.pdparams.*not a pickled Paddle state dict"):
        read_paddle_params(other)
    with pytest.raises(CheckpointError, match="unknown checkpoint format"):
        read_checkpoint(other)
    with pytest.raises(CheckpointError, match="cannot open"):
        read_paddle_params(tmp_path / "missing.pdparams")


def test_read_checkpoint_format_argument(tmp_path):
    params = paddle_generator_params()
    path = write_pdparams(tmp_path / "w.pdparams", params, protocol=4)
    fmt, loaded = read_checkpoint(path, format="pdparams")
    assert fmt == "pdparams"
    assert_same_params(loaded, params)
    with pytest.raises(ValueError, match="Received: format='onnx'"):
        read_checkpoint(path, format="onnx")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        read_checkpoint(path, format="pt")
