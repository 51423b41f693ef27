import keras
import numpy as np
import pytest

from keras_p2c.layers import CAM, SpectralDense
from tests.testing import run_layer_test


def test_cam_layer():
    run_layer_test(CAM, {"use_bias": True}, (2, 8, 8, 4), [(2, 8, 8, 4), (2, 2), (2, 8, 8, 1)], 6)


def test_cam_parameter_count_matches_the_reference():
    layer = CAM()
    layer.build((1, 64, 64, 128))
    assert layer.count_params() == 129 + 129 + 32_896


def test_cam_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5, 4)).astype("float32")
    layer = CAM(negative_slope=0.2)
    features, cam_logit, heatmap = layer(x)
    w_gap, b_gap = layer.gap_fc.kernel.numpy()[:, 0], layer.gap_fc.bias.numpy()
    w_gmp, b_gmp = layer.gmp_fc.kernel.numpy()[:, 0], layer.gmp_fc.bias.numpy()
    expected_logit = np.stack([x.mean((1, 2)) @ w_gap + b_gap[0], x.max((1, 2)) @ w_gmp + b_gmp[0]], axis=1)
    # The map is weighted by the fc weight rows only; the biases play no part.
    weighted = np.concatenate([x * w_gap, x * w_gmp], axis=-1)
    mixed = weighted @ layer.conv1x1.kernel.numpy()[0, 0] + layer.conv1x1.bias.numpy()
    expected_features = np.where(mixed > 0, mixed, 0.2 * mixed)
    np.testing.assert_allclose(cam_logit, expected_logit, atol=1e-5)
    np.testing.assert_allclose(features, expected_features, atol=1e-5)
    np.testing.assert_allclose(heatmap, expected_features.sum(-1, keepdims=True), atol=1e-5)


def test_cam_with_spectral_fc_layer():
    # The discriminators' CAM: spectral fc layers without bias (kernel, u, v each), LeakyReLU.
    layer = run_layer_test(
        CAM,
        {"use_bias": False, "spectral_norm": True, "negative_slope": 0.2},
        (2, 8, 8, 4),
        [(2, 8, 8, 4), (2, 2), (2, 8, 8, 1)],
        4,
        expected_num_non_trainable_weights=4,
        call_kwargs={"training": True},
    )
    assert isinstance(layer.gap_fc, SpectralDense)


def test_cam_weight_order_is_the_converters():
    layer = CAM(name="cam")
    layer.build((1, 8, 8, 4))
    names = ("gap_fc/kernel", "gap_fc/bias", "gmp_fc/kernel", "gmp_fc/bias", "conv1x1/kernel", "conv1x1/bias")
    assert [w.path for w in layer.weights] == [f"cam/{name}" for name in names]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"negative_slope": -0.2}, r"`negative_slope` must be a number >= 0\. Received: negative_slope=-0\.2"),
        ({"negative_slope": "0.2"}, r"Received: negative_slope='0\.2'"),
        ({"use_bias": 1}, r"`use_bias` must be a bool\. Received: use_bias=1"),
        ({"spectral_norm": "yes"}, r"`spectral_norm` must be a bool\. Received: spectral_norm='yes'"),
    ],
)
def test_cam_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CAM(**kwargs)


def test_cam_arguments_are_public_attributes():
    layer = CAM(use_bias=False, spectral_norm=True, negative_slope=0.2)
    assert (layer.use_bias, layer.spectral_norm, layer.negative_slope) == (False, True, 0.2)


def test_cam_refuses_undefined_channels():
    with pytest.raises(ValueError, match=r"channel axis \(-1\) of the input of CAM must have a defined size"):
        CAM()(keras.Input((8, 8, None)))


def test_cam_input_spec_pins_the_channels():
    layer = CAM()
    layer(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 4, 4, 5), "float32"))
