import numpy as np

from keras_p2c.layers import CAM
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
