import collections

import keras
import numpy as np
import pytest

from keras_p2c.models.face_id import MobileFaceNet
from keras_p2c.weights import CheckpointError
from keras_p2c.weights.mobilefacenet_table import (
    load_face_features,
    load_mobilefacenet,
    mobilefacenet_from_state_dict,
)
from keras_p2c.weights.porting import WeightConversionError
from tests.helpers.mobilefacenet import DOWN_BLOCKS, STACKS, random_state_dict, reference_shapes

@pytest.fixture(scope="module")
def state_dict():
    return random_state_dict()


@pytest.fixture(scope="module")
def ported(state_dict):
    return mobilefacenet_from_state_dict(state_dict, source_name="synthetic")


def test_reference_state_dict_layout():
    shapes = reference_shapes()
    assert len(shapes) == 333
    trainable = [k for k in shapes if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert sum(int(np.prod(shapes[k])) for k in trainable) == 1_200_512


def keras_value(model, path):
    """The variable at `path` below the model (auto-generated model names vary between tests)."""
    matches = [w for w in model.weights if w.path == f"{model.name}/{path}"]
    assert len(matches) == 1, path
    return keras.ops.convert_to_numpy(matches[0])


def test_every_tensor_lands_in_its_variable_with_keras_layout(ported, state_dict):
    np.testing.assert_array_equal(
        keras_value(ported, "conv1/conv/kernel"), state_dict["conv1.conv.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        keras_value(ported, "conv_4_model_5/conv_dw/conv/kernel"),
        state_dict["conv_4.model.5.conv_dw.conv.weight"].transpose(2, 3, 0, 1),
    )
    np.testing.assert_array_equal(
        keras_value(ported, "conv_6_dw/conv/kernel")[:, :, 7, 0], state_dict["conv_6_dw.conv.weight"][7, 0]
    )
    np.testing.assert_array_equal(
        keras_value(ported, "conv_3_model_2/conv/prelu/alpha")[0, 0], state_dict["conv_3.model.2.conv.prelu.weight"]
    )
    np.testing.assert_array_equal(keras_value(ported, "linear/kernel"), state_dict["linear.weight"].T)
    np.testing.assert_array_equal(
        keras_value(ported, "conv_45/project/bn/moving_variance"), state_dict["conv_45.project.bn.running_var"]
    )
    np.testing.assert_array_equal(keras_value(ported, "bn/moving_mean"), state_dict["bn.running_mean"])
    np.testing.assert_array_equal(keras_value(ported, "bn/gamma"), state_dict["bn.weight"])


def torch_functional_forward(torch, state, faces):
    """MobileFaceNet written with torch.nn.functional from the spec, as an independent oracle (NCHW)."""
    F = torch.nn.functional
    t = {key: torch.from_numpy(np.asarray(value)) for key, value in state.items()}

    def block(prefix, x, stride=1, padding=0, depthwise=False, prelu=True):
        weight = t[prefix + "conv.weight"]
        x = F.conv2d(x, weight, stride=stride, padding=padding, groups=weight.shape[0] if depthwise else 1)
        x = F.batch_norm(
            x, t[prefix + "bn.running_mean"], t[prefix + "bn.running_var"], t[prefix + "bn.weight"],
            t[prefix + "bn.bias"], training=False, eps=1e-5,
        )
        return F.prelu(x, t[prefix + "prelu.weight"]) if prelu else x

    def depth_wise(prefix, x, stride, residual):
        y = block(prefix + "conv.", x)
        y = block(prefix + "conv_dw.", y, stride=stride, padding=1, depthwise=True)
        y = block(prefix + "project.", y, prelu=False)
        return x + y if residual else y

    x = torch.from_numpy(faces.transpose(0, 3, 1, 2))
    x = block("conv2_dw.", block("conv1.", x, stride=2, padding=1), padding=1, depthwise=True)
    for (down, *_), (stack, _, _, count) in zip(DOWN_BLOCKS, STACKS):
        x = depth_wise(down + ".", x, 2, False)
        for index in range(count):
            x = depth_wise(f"{stack}.model.{index}.", x, 1, True)
    x = block("conv_6_dw.", block("conv_6_sep.", x), depthwise=True, prelu=False)
    x = F.linear(x.flatten(1), t["linear.weight"])
    x = F.batch_norm(
        x, t["bn.running_mean"], t["bn.running_var"], t["bn.weight"], t["bn.bias"], training=False, eps=1e-5
    )
    return (x / x.norm(dim=1, keepdim=True)).numpy()


def test_ported_network_matches_a_torch_functional_forward(ported, state_dict):
    torch = pytest.importorskip("torch")
    faces = np.random.default_rng(1).uniform(-1, 1, (2, 112, 112, 3)).astype("float32")
    expected = torch_functional_forward(torch, state_dict, faces)
    assert np.sum(expected[0] * expected[1]) < 0.9, "the synthetic weights should separate the two inputs"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ported(faces, training=False)), expected, atol=1e-5)


def problems_of(state_dict):
    with pytest.raises(WeightConversionError) as caught:
        mobilefacenet_from_state_dict(state_dict, source_name="broken.pth")
    return str(caught.value)


def test_malformed_state_dicts_name_every_problem(state_dict):
    broken = collections.OrderedDict(state_dict)
    del broken["conv_34.conv_dw.prelu.weight"]
    broken["conv_5.model.1.project.bn.weight"] = np.ones(7, "float32")
    broken["classifier.weight"] = np.ones((10, 512), "float32")
    message = problems_of(broken)
    assert message.startswith("broken.pth does not match")
    assert "missing key 'conv_34.conv_dw.prelu.weight'" in message
    assert "shape mismatch for 'conv_5.model.1.project.bn.weight'" in message
    assert "unexpected key 'classifier.weight'" in message
    assert "conv_34/conv_dw/prelu/alpha was not filled" in message


def assert_same_weights(model, expected):
    assert len(model.weights) == len(expected.weights)
    for a, b in zip(model.weights, expected.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_num_batches_tracked_is_optional(state_dict, ported):
    trimmed = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    assert len(trimmed) < len(state_dict)  # the counters were there to leave out
    # Nothing else is read from them: the same network as with them.
    assert_same_weights(mobilefacenet_from_state_dict(trimmed), ported)


def test_data_parallel_prefix_is_dropped(state_dict, ported):
    wrapped = {"module." + key: value for key, value in state_dict.items()}
    assert_same_weights(mobilefacenet_from_state_dict(wrapped), ported)


def test_embedding_size_is_read_off_the_linear_layer():
    model = mobilefacenet_from_state_dict(random_state_dict(seed=2, embedding_size=128))
    assert model.embedding_size == 128


def test_not_a_state_dict_is_a_clear_error():
    with pytest.raises(WeightConversionError, match="expected a MobileFaceNet state dict"):
        mobilefacenet_from_state_dict([1, 2, 3], source_name="list.pth")


def test_pth_written_by_torch_loads(tmp_path, state_dict, ported):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model_mobilefacenet.pth"
    torch.save(collections.OrderedDict((k, torch.from_numpy(np.asarray(v))) for k, v in state_dict.items()), path)
    model = load_mobilefacenet(path)
    assert isinstance(model, MobileFaceNet)
    for a, b in zip(model.weights, ported.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    features = load_face_features(path)
    assert features.trainable_weights == []
    image = np.random.default_rng(3).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    assert features(image).shape == (1, 512)


def test_wrong_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "model_mobilefacenet.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_mobilefacenet(path)
