import keras
import numpy as np
import pytest

from keras_p2c.layers import LIN, AdaLIN, InstanceNormalization, SoftAdaLIN
from tests.testing import run_layer_test

EPS = 1e-5


def numpy_norm(x, axes, unbiased):
    x = x.astype("float64")
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=1 if unbiased else 0)
    return (x - mean) / np.sqrt(var + EPS)


def read_in_mixed_call(variable):
    """The variable's value as the `call` of a mixed_float16 layer reads it (float16 if it autocasts)."""

    class Probe(keras.layers.Layer):
        def call(self, inputs):
            return variable.value

    return Probe(dtype="mixed_float16")(np.zeros(1, "float32"))


def sample(shape=(2, 8, 8, 4), seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 1).astype("float32")


def test_instance_normalization_layer():
    run_layer_test(InstanceNormalization, {"epsilon": EPS}, (2, 8, 8, 4), (2, 8, 8, 4), 0)


def test_instance_normalization_is_biased_instance_norm():
    x = sample()
    np.testing.assert_allclose(InstanceNormalization()(x), numpy_norm(x, (1, 2), unbiased=False), atol=1e-5)


def test_lin_layer():
    run_layer_test(LIN, {"epsilon": EPS}, (2, 8, 8, 4), (2, 8, 8, 4), 3, expected_trainable_weight_names=["rho", "gamma", "beta"])


def test_lin_with_rho_one_is_unbiased_instance_norm_and_rho_zero_is_layer_norm():
    x = sample()
    layer = LIN()
    layer.build(x.shape)
    layer.rho.assign(np.ones(4))
    np.testing.assert_allclose(layer(x), numpy_norm(x, (1, 2), unbiased=True), atol=1e-5)
    layer.rho.assign(np.zeros(4))
    layer.gamma.assign([1.0, 2.0, 3.0, 4.0])
    layer.beta.assign([0.5, 0.0, -0.5, 1.0])
    expected = numpy_norm(x, (1, 2, 3), unbiased=True) * [1.0, 2.0, 3.0, 4.0] + [0.5, 0.0, -0.5, 1.0]
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_lin_initial_values_follow_the_reference():
    layer = LIN()
    layer.build((1, 4, 4, 3))
    np.testing.assert_array_equal(layer.rho.numpy(), 0.0)
    np.testing.assert_array_equal(layer.gamma.numpy(), 1.0)
    np.testing.assert_array_equal(layer.beta.numpy(), 0.0)


def test_adalin_layer():
    run_layer_test(AdaLIN, {"epsilon": EPS}, [(2, 8, 8, 4), (2, 4), (2, 4)], (2, 8, 8, 4), 1)


def test_adalin_mixes_instance_and_layer_norm_with_rho():
    x = sample()
    gamma = np.random.default_rng(1).standard_normal((2, 4)).astype("float32")
    beta = np.random.default_rng(2).standard_normal((2, 4)).astype("float32")
    layer = AdaLIN()
    layer.build([x.shape, gamma.shape, beta.shape])
    np.testing.assert_allclose(layer.rho.numpy(), 0.9)
    rho = np.array([0.0, 0.3, 0.7, 1.0], "float32")
    layer.rho.assign(rho)
    mixed = rho * numpy_norm(x, (1, 2), True) + (1 - rho) * numpy_norm(x, (1, 2, 3), True)
    expected = mixed * gamma[:, None, None, :] + beta[:, None, None, :]
    np.testing.assert_allclose(layer([x, gamma, beta]), expected, atol=1e-5)


def test_adalin_with_rho_one_unit_gamma_zero_beta_is_unbiased_instance_norm():
    x = sample()
    layer = AdaLIN()
    layer.build([x.shape, (2, 4), (2, 4)])
    layer.rho.assign(np.ones(4))
    out = layer([x, np.ones((2, 4), "float32"), np.zeros((2, 4), "float32")])
    np.testing.assert_allclose(out, numpy_norm(x, (1, 2), unbiased=True), atol=1e-5)


@pytest.mark.parametrize("use_bias, expected_weights", [(True, 15), (False, 9)])
def test_soft_adalin_layer(use_bias, expected_weights):
    run_layer_test(
        SoftAdaLIN, {"use_bias": use_bias, "epsilon": EPS}, [(2, 8, 8, 4), (2, 6), (2, 5)], (2, 8, 8, 4), expected_weights
    )


def test_soft_adalin_parameter_count_matches_the_reference():
    layer = SoftAdaLIN()
    layer.build([(1, 64, 64, 128), (1, 128), (1, 128)])
    assert layer.count_params() == 99_456


@pytest.mark.parametrize("w, source", [(0.0, "style"), (1.0, "content")])
def test_soft_adalin_w_selects_style_or_content(w, source):
    x, content, style = sample(), sample((2, 4), 1), sample((2, 4), 2)
    layer = SoftAdaLIN()
    layer.build([x.shape, content.shape, style.shape])
    layer.w_gamma.assign(np.full(4, w))
    layer.w_beta.assign(np.full(4, w))
    if source == "style":
        gamma, beta = layer.s_gamma(style), layer.s_beta(style)
    else:
        gamma, beta = layer.c_gamma_2(layer.c_gamma_0(content)), layer.c_beta_2(layer.c_beta_0(content))
    np.testing.assert_allclose(layer([x, content, style]), layer.norm([x, gamma, beta]), atol=1e-5)


def test_rho_and_w_are_clipped_to_unit_interval_by_the_optimizer():
    x, content, style = sample(), sample((2, 4), 1), sample((2, 4), 2)
    layer = SoftAdaLIN()
    layer.build([x.shape, content.shape, style.shape])
    optimizer = keras.optimizers.SGD(learning_rate=10.0)
    clipped = [layer.norm.rho, layer.w_gamma, layer.w_beta]
    optimizer.apply([np.full(4, -1.0, "float32"), np.full(4, 1.0, "float32"), np.full(4, -1.0, "float32")], clipped)
    np.testing.assert_array_equal(layer.norm.rho.numpy(), 1.0)
    np.testing.assert_array_equal(layer.w_gamma.numpy(), 0.0)
    np.testing.assert_array_equal(layer.w_beta.numpy(), 1.0)


def test_bad_epsilon_is_refused():
    with pytest.raises(ValueError, match="Received: epsilon=0"):
        LIN(epsilon=0)


@pytest.mark.parametrize("layer_cls", [InstanceNormalization, LIN, AdaLIN, SoftAdaLIN])
@pytest.mark.parametrize("epsilon", [0, -1e-5, "1e-5", True, None])
def test_epsilon_must_be_a_positive_number(layer_cls, epsilon):
    with pytest.raises(ValueError, match=r"`epsilon` must be a positive number\. Received: epsilon="):
        layer_cls(epsilon=epsilon)


@pytest.mark.parametrize("use_bias", [1, "yes", None])
def test_soft_adalin_use_bias_must_be_a_bool(use_bias):
    with pytest.raises(ValueError, match=r"`use_bias` must be a bool\. Received: use_bias="):
        SoftAdaLIN(use_bias=use_bias)


def test_arguments_are_public_attributes():
    assert LIN(epsilon=1e-3).epsilon == 1e-3
    layer = SoftAdaLIN(use_bias=False, epsilon=1e-4)
    assert (layer.use_bias, layer.epsilon, layer.norm.epsilon) == (False, 1e-4, 1e-4)


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (LIN(), keras.Input((8, 8, None))),
        (AdaLIN(), [keras.Input((8, 8, None)), keras.Input((4,)), keras.Input((4,))]),
        (SoftAdaLIN(), [keras.Input((8, 8, None)), keras.Input((6,)), keras.Input((5,))]),
    ],
)
def test_undefined_channels_are_refused(layer, inputs):
    with pytest.raises(ValueError, match=r"channel axis \(-1\) of the (input|x) of .* must have a defined size"):
        layer(inputs)


def test_soft_adalin_needs_defined_content_and_style_sizes():
    with pytest.raises(ValueError, match="of the content of SoftAdaLIN must have a defined size"):
        SoftAdaLIN()([keras.Input((8, 8, 4)), keras.Input((None,)), keras.Input((4,))])


def test_wrong_rank_and_wrong_input_count_are_refused():
    with pytest.raises(ValueError, match="LIN expects a rank-4 input"):
        LIN().build((2, 8, 4))
    with pytest.raises(ValueError, match=r"AdaLIN expects a list of 3 inputs \[x, gamma, beta\]"):
        AdaLIN().build((2, 8, 8, 4))
    with pytest.raises(ValueError, match=r"AdaLIN expects gamma of shape \(batch, 4\)"):
        AdaLIN().build([(2, 8, 8, 4), (2, 3), (2, 4)])


def test_input_spec_pins_the_channels_after_build():
    layer = LIN()
    layer(sample())
    assert layer.input_spec.ndim == 4 and layer.input_spec.axes == {-1: 4}
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        layer(sample((2, 8, 8, 3)))


def test_soft_adalin_weight_order_is_the_converters():
    layer = SoftAdaLIN(name="n")
    layer.build([(1, 8, 8, 4), (1, 6), (1, 5)])
    names = ("c_gamma_0", "c_gamma_2", "c_beta_0", "c_beta_2", "s_gamma", "s_beta")
    dense = [f"{name}/{kind}" for name in names for kind in ("kernel", "bias")]
    assert [w.path for w in layer.weights] == [f"n/{p}" for p in ["w_gamma", "w_beta", "norm/rho", *dense]]


@pytest.mark.parametrize(
    "layer, input_shape, names",
    [
        (LIN(), (2, 8, 8, 4), ["rho", "gamma", "beta"]),
        (AdaLIN(), [(2, 8, 8, 4), (2, 4), (2, 4)], ["rho"]),
        (SoftAdaLIN(), [(2, 8, 8, 4), (2, 6), (2, 5)], ["w_gamma", "w_beta"]),
    ],
)
def test_statistics_weights_are_read_in_float32_under_mixed_precision(layer, input_shape, names):
    layer.build(input_shape)
    for name in names:
        assert keras.backend.standardize_dtype(read_in_mixed_call(getattr(layer, name)).dtype) == "float32", name


def test_mixed_precision_lin_takes_statistics_in_float32():
    # A large mean with a small spread: rounded to float16 first (step 0.0625
    # at 100), x − mean would keep about one significant digit.
    x = (np.random.default_rng(3).standard_normal((2, 8, 8, 4)) * 0.1 + 100).astype("float32")
    reference = LIN()
    reference.build(x.shape)
    reference.rho.assign([0.0, 0.3, 0.7, 1.0])
    reference.gamma.assign([1.0, 2.0, 3.0, 4.0])
    mixed = LIN(dtype="mixed_float16")
    mixed.build(x.shape)
    mixed.set_weights(reference.get_weights())
    outputs = mixed(x)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    assert mixed.gamma.dtype == "float32"
    np.testing.assert_allclose(np.asarray(outputs, "float32"), reference(x), atol=1e-2, rtol=2e-3)


def test_mixed_precision_soft_adalin_matches_float32():
    x, content, style = sample(), sample((2, 6), 1), sample((2, 5), 2)
    reference = SoftAdaLIN()
    reference.build([x.shape, content.shape, style.shape])
    reference.w_gamma.assign([0.0, 0.3, 0.7, 1.0])
    mixed = SoftAdaLIN(dtype="mixed_float16")
    mixed.build([x.shape, content.shape, style.shape])
    mixed.set_weights(reference.get_weights())
    outputs = mixed([x, content, style])
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    np.testing.assert_allclose(np.asarray(outputs, "float32"), reference([x, content, style]), atol=2e-2, rtol=1e-2)
