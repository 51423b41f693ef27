import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_p2c.layers.spectral import SpectralConv2D, SpectralDense
from tests.testing import run_layer_test

EPS = 1e-12


# NumPy statement of torch's spectral_norm, on torch's own layout: W = weight_orig viewed as [out, in·kh·kw].
def numpy_normalize(x):
    return x / max(np.linalg.norm(x), EPS)


def numpy_power_iteration(w_mat, u, v, steps=1):
    for _ in range(steps):
        v = numpy_normalize(w_mat.T @ u)
        u = numpy_normalize(w_mat @ v)
    return u, v


def numpy_sigma(w_mat, u, v):
    return float(u @ w_mat @ v)


def torch_layout_conv(kernel_hwio):
    """HWIO kernel → torch OIHW and its [out, in·kh·kw] matrix."""
    oihw = np.transpose(kernel_hwio, (3, 2, 0, 1))
    return oihw, oihw.reshape(oihw.shape[0], -1)


def keras_v_from_torch(v, in_channels, kh, kw):
    return v.reshape(in_channels, kh, kw).transpose(1, 2, 0).ravel()


def numpy_conv_valid(x, kernel_hwio, stride):
    kh, kw = kernel_hwio.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    # windows: N, H', W', C, kh, kw
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel_hwio)


def random_state(layer, seed):
    """Random kernel/bias/u/v (float64 copies returned) so nothing depends on initial values."""
    rng = np.random.default_rng(seed)
    values = {}
    for variable in layer.weights:
        name = variable.name
        value = rng.standard_normal(variable.shape).astype("float32")
        if name in ("u", "v"):
            value = (value / np.linalg.norm(value)).astype("float32")
        variable.assign(value)
        values[name] = value.astype("float64")
    return values


def build_conv(filters=5, kernel_size=3, strides=2, channels=3, **kwargs):
    layer = SpectralConv2D(filters, kernel_size, strides=strides, **kwargs)
    layer.build((None, None, None, channels))
    return layer


def build_dense(units=3, features=6, **kwargs):
    layer = SpectralDense(units, **kwargs)
    layer.build((None, features))
    return layer


def conv_state_as_torch(values):
    kernel = values["kernel"]
    _, w_mat = torch_layout_conv(kernel)
    kh, kw, in_channels, _ = kernel.shape
    v_torch = values["v"].reshape(kh, kw, in_channels).transpose(2, 0, 1).ravel()
    return w_mat, values["u"], v_torch


# Layer-level checks.
def test_spectral_conv2d_layer():
    run_layer_test(
        SpectralConv2D,
        {"filters": 4, "kernel_size": 4, "strides": 2},
        (2, 10, 10, 3),
        (2, 4, 4, 4),
        2,
        expected_num_non_trainable_weights=2,
        expected_trainable_weight_names=["kernel", "bias"],
        call_kwargs={"training": True},
    )


def test_spectral_conv2d_layer_without_bias_and_rectangular_kernel():
    run_layer_test(
        SpectralConv2D,
        {"filters": 2, "kernel_size": (3, 2), "strides": (1, 2), "use_bias": False},
        (1, 6, 7, 3),
        (1, 4, 3, 2),
        1,
        expected_num_non_trainable_weights=2,
        run_fit=False,
    )


def test_spectral_dense_layer():
    run_layer_test(
        SpectralDense,
        {"units": 1},
        (3, 8),
        (3, 1),
        1,
        expected_num_non_trainable_weights=2,
        expected_trainable_weight_names=["kernel"],
        call_kwargs={"training": True},
    )


def test_variable_shapes_follow_the_documented_layout():
    conv = build_conv(filters=5, kernel_size=(4, 3), channels=2)
    assert tuple(conv.kernel.shape) == (4, 3, 2, 5)
    assert tuple(conv.u.shape) == (5,) and tuple(conv.v.shape) == (4 * 3 * 2,)
    assert not conv.u.trainable and not conv.v.trainable
    dense = build_dense(units=3, features=6)
    assert tuple(dense.kernel.shape) == (6, 3) and tuple(dense.u.shape) == (3,) and tuple(dense.v.shape) == (6,)


def test_initial_u_and_v_are_unit_vectors_and_seeded():
    first, second = build_conv(seed=3), build_conv(seed=3)
    np.testing.assert_allclose(np.linalg.norm(first.u.numpy()), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(first.v.numpy()), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first.u.numpy(), second.u.numpy())
    np.testing.assert_array_equal(first.v.numpy(), second.v.numpy())


def test_default_kernel_initializer_is_torch_uniform():
    layer = build_conv(filters=64, kernel_size=4, channels=32)
    kernel = layer.kernel.numpy()
    bound = 1 / np.sqrt(4 * 4 * 32)
    assert np.abs(kernel).max() <= bound
    assert np.abs(kernel).max() > 0.95 * bound


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="power_iterations=0"):
        SpectralConv2D(4, 3, power_iterations=0)
    with pytest.raises(ValueError, match="kernel_size=0"):
        SpectralConv2D(4, 0)
    with pytest.raises(ValueError, match="units=0"):
        SpectralDense(0)
    with pytest.raises(ValueError, match="epsilon"):
        SpectralDense(1, epsilon=0)


# Against a NumPy power iteration written on torch's layout.
@pytest.mark.parametrize("steps", [1, 3])
def test_conv_training_call_matches_numpy(steps):
    layer = build_conv(power_iterations=steps)
    values = random_state(layer, seed=1)
    x = np.random.default_rng(2).standard_normal((2, 9, 9, 3)).astype("float32")
    w_mat, u0, v0 = conv_state_as_torch(values)
    u, v = numpy_power_iteration(w_mat, u0, v0, steps)
    sigma = numpy_sigma(w_mat, u, v)
    expected = numpy_conv_valid(x.astype("float64"), values["kernel"] / sigma, 2) + values["bias"]

    outputs = layer(x, training=True)

    np.testing.assert_allclose(outputs, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), keras_v_from_torch(v, 3, 3, 3), atol=1e-6)
    np.testing.assert_allclose(float(layer.sigma()), sigma, rtol=1e-5)
    np.testing.assert_allclose(layer.normalized_kernel(), values["kernel"] / sigma, atol=1e-6)


def test_dense_training_call_matches_numpy():
    layer = build_dense(units=3, features=6)
    values = random_state(layer, seed=4)
    x = np.random.default_rng(5).standard_normal((4, 6)).astype("float32")
    w_mat = values["kernel"].T  # torch [out, in]
    u, v = numpy_power_iteration(w_mat, values["u"], values["v"])
    sigma = numpy_sigma(w_mat, u, v)

    outputs = layer(x, training=True)

    np.testing.assert_allclose(outputs, x @ (w_mat / sigma).T, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), v, atol=1e-6)
    np.testing.assert_allclose(float(layer.sigma()), sigma, rtol=1e-5)


def test_single_output_dense_sigma_is_the_kernel_norm():
    layer = build_dense(units=1, features=7)
    random_state(layer, seed=6)
    layer(np.ones((1, 7), "float32"), training=True)
    np.testing.assert_allclose(float(layer.sigma()), np.linalg.norm(layer.kernel.numpy()), rtol=1e-5)


def test_inference_call_uses_the_stored_vectors_and_changes_nothing():
    layer = build_conv()
    values = random_state(layer, seed=7)
    x = np.random.default_rng(8).standard_normal((1, 7, 7, 3)).astype("float32")
    w_mat, u0, v0 = conv_state_as_torch(values)
    sigma = numpy_sigma(w_mat, u0, v0)
    for training in (False, None):
        outputs = layer(x, training=training)
        np.testing.assert_array_equal(layer.u.numpy(), values["u"].astype("float32"))
        np.testing.assert_array_equal(layer.v.numpy(), values["v"].astype("float32"))
        expected = numpy_conv_valid(x.astype("float64"), values["kernel"] / sigma, 2) + values["bias"]
        np.testing.assert_allclose(outputs, expected, atol=1e-5, rtol=1e-5)


def test_each_training_call_advances_u_and_v_once():
    layer = build_dense(units=4, features=5)
    values = random_state(layer, seed=9)
    x = np.ones((1, 5), "float32")
    for _ in range(3):
        layer(x, training=True)
    u, v = numpy_power_iteration(values["kernel"].T, values["u"], values["v"], steps=3)
    np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), v, atol=1e-6)


def test_mixed_precision_keeps_statistics_in_float32():
    reference = build_conv()
    values = random_state(reference, seed=10)
    mixed = SpectralConv2D(5, 3, strides=2, dtype="mixed_float16")
    mixed.build((None, None, None, 3))
    mixed.set_weights(reference.get_weights())
    x = np.random.default_rng(11).standard_normal((1, 9, 9, 3)).astype("float32")
    outputs = mixed(x, training=True)
    assert outputs.dtype == "float16"
    np.testing.assert_allclose(np.asarray(outputs, "float32"), reference(x, training=True), atol=2e-2, rtol=1e-2)
    np.testing.assert_allclose(mixed.u.numpy(), reference.u.numpy(), atol=1e-6)
    assert mixed.u.dtype == mixed.v.dtype == mixed.kernel.dtype == "float32"
    assert not np.array_equal(mixed.u.numpy(), values["u"])


# Against torch's own nn.utils.spectral_norm: outputs, u, v and the kernel gradient.
def snapshot(tensor):
    """A copy: torch updates u and v in place, and JAX on CPU may alias a NumPy buffer."""
    return tensor.detach().numpy().copy()


def keras_forward_and_kernel_gradient(layer, x, upstream):
    """One training-mode call; returns outputs and d(sum(outputs · upstream))/d kernel."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            outputs = layer(x, training=True)
            loss = tf.reduce_sum(outputs * upstream)
        return outputs.numpy(), tape.gradient(loss, layer.kernel.value).numpy()
    if backend == "jax":
        import jax

        def loss_fn(trainable, non_trainable):
            outputs, non_trainable = layer.stateless_call(trainable, non_trainable, x, training=True)
            return (outputs * upstream).sum(), (outputs, non_trainable)

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        grads, (outputs, non_trainable) = jax.grad(loss_fn, has_aux=True)(trainable, non_trainable)
        for variable, value in zip(layer.non_trainable_variables, non_trainable):
            variable.assign(value)
        return np.asarray(outputs), np.asarray(grads[0])
    pytest.skip(f"no gradient helper for the {backend} backend")


def test_conv_matches_torch_spectral_norm_forward_and_backward():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = torch.nn.utils.spectral_norm(torch.nn.Conv2d(3, 6, 4, stride=2, padding=0, bias=True))
    reference.train()
    layer = build_conv(filters=6, kernel_size=4, strides=2, channels=3)
    layer.kernel.assign(snapshot(reference.weight_orig).transpose(2, 3, 1, 0))
    layer.bias.assign(snapshot(reference.bias))
    layer.u.assign(snapshot(reference.weight_u))
    layer.v.assign(keras_v_from_torch(snapshot(reference.weight_v), 3, 4, 4))
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 10, 10, 3)).astype("float32")
    upstream = rng.standard_normal((2, 4, 4, 6)).astype("float32")

    torch_out = reference(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    (torch_out * torch.from_numpy(upstream.transpose(0, 3, 1, 2))).sum().backward()
    outputs, kernel_grad = keras_forward_and_kernel_gradient(layer, x, upstream)

    np.testing.assert_allclose(outputs, torch_out.detach().numpy().transpose(0, 2, 3, 1), atol=1e-5)
    np.testing.assert_allclose(layer.u.numpy(), snapshot(reference.weight_u), atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), keras_v_from_torch(snapshot(reference.weight_v), 3, 4, 4), atol=1e-6)
    np.testing.assert_allclose(kernel_grad, reference.weight_orig.grad.numpy().transpose(2, 3, 1, 0), atol=1e-5)


def test_dense_matches_torch_spectral_norm_forward_and_backward():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    reference = torch.nn.utils.spectral_norm(torch.nn.Linear(8, 3, bias=False))
    reference.train()
    layer = build_dense(units=3, features=8)
    layer.kernel.assign(snapshot(reference.weight_orig).T)
    layer.u.assign(snapshot(reference.weight_u))
    layer.v.assign(snapshot(reference.weight_v))
    rng = np.random.default_rng(13)
    x = rng.standard_normal((5, 8)).astype("float32")
    upstream = rng.standard_normal((5, 3)).astype("float32")

    torch_out = reference(torch.from_numpy(x))
    (torch_out * torch.from_numpy(upstream)).sum().backward()
    outputs, kernel_grad = keras_forward_and_kernel_gradient(layer, x, upstream)

    np.testing.assert_allclose(outputs, torch_out.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.u.numpy(), snapshot(reference.weight_u), atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), snapshot(reference.weight_v), atol=1e-6)
    np.testing.assert_allclose(kernel_grad, reference.weight_orig.grad.numpy().T, atol=1e-5)


def test_torch_eval_mode_matches_inference_call():
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    reference = torch.nn.utils.spectral_norm(torch.nn.Conv2d(2, 3, 3, bias=True))
    with torch.no_grad():
        reference(torch.zeros(1, 2, 5, 5))  # one training-mode iteration, so u and v are not the initial ones
    reference.eval()
    layer = build_conv(filters=3, kernel_size=3, strides=1, channels=2)
    layer.set_weights(
        [
            snapshot(reference.weight_orig).transpose(2, 3, 1, 0),
            snapshot(reference.bias),
            snapshot(reference.weight_u),
            keras_v_from_torch(snapshot(reference.weight_v), 2, 3, 3),
        ]
    )
    x = np.random.default_rng(14).standard_normal((1, 6, 6, 2)).astype("float32")
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layer(x, training=False), expected, atol=1e-5)


def test_jax_stateless_call_returns_the_updated_vectors():
    """Under JAX, the u/v assignments in `call` come back from `stateless_call`."""
    pytest.importorskip("jax")
    script = textwrap.dedent(
        """
        import numpy as np
        import keras
        assert keras.backend.backend() == "jax"
        from keras_p2c.layers.spectral import SpectralConv2D, SpectralDense

        def normalize(x):
            return x / max(np.linalg.norm(x), 1e-12)

        def check(layer, x):
            layer.build(x.shape)
            trainable = [v.value for v in layer.trainable_variables]
            before = [np.asarray(v.value) for v in layer.non_trainable_variables]
            matrix = np.asarray(layer.kernel.value, "float64").reshape(-1, layer.kernel.shape[-1])
            v = normalize(matrix @ before[0])
            u = normalize(v @ matrix)

            _, after = layer.stateless_call(trainable, list(before), x, training=True)
            after = [np.asarray(a) for a in after]
            assert not np.allclose(after[1], before[1])
            np.testing.assert_allclose(after[0], u, atol=1e-6)
            np.testing.assert_allclose(after[1], v, atol=1e-6)
            # The layer's own variables are untouched by a stateless call.
            np.testing.assert_array_equal(np.asarray(layer.u.value), before[0])

            _, unchanged = layer.stateless_call(trainable, list(before), x, training=False)
            for a, b in zip(unchanged, before):
                np.testing.assert_array_equal(np.asarray(a), b)

            # A jitted training step, as fit runs it.
            import jax
            step = jax.jit(lambda t, n, x: layer.stateless_call(t, n, x, training=True))
            _, jitted = step(trainable, list(before), x)
            np.testing.assert_allclose(np.asarray(jitted[0]), u, atol=1e-6)

        rng = np.random.default_rng(0)
        check(SpectralConv2D(4, 3, strides=2, seed=1), rng.standard_normal((2, 7, 7, 3)).astype("float32"))
        check(SpectralDense(3, seed=2), rng.standard_normal((2, 5)).astype("float32"))
        print("ok")
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SpectralConv2D(0, 3), r"`filters` must be a positive integer\. Received: filters=0"),
        (lambda: SpectralConv2D(4, (3, 3, 3)), r"`kernel_size` must be a positive integer or a pair of them"),
        (lambda: SpectralConv2D(4, 3, strides=(1, 0)), r"Received: strides=\(1, 0\)"),
        (lambda: SpectralConv2D(4, 3, use_bias=None), r"`use_bias` must be a bool\. Received: use_bias=None"),
        (lambda: SpectralDense(1, seed=1.5), r"`seed` must be an integer or None\. Received: seed=1\.5"),
        (lambda: SpectralDense(1, power_iterations=True), r"n_power_iterations\)\. Received: power_iterations=True"),
        (lambda: SpectralDense(1, epsilon=-1.0), r"`epsilon` must be a positive number\. Received: epsilon=-1\.0"),
    ],
)
def test_bad_arguments_fail_with_the_argument_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_arguments_are_public_attributes():
    conv = SpectralConv2D(4, 3, strides=(1, 2), use_bias=False, power_iterations=2, epsilon=1e-6, seed=5)
    assert (conv.filters, conv.kernel_size, conv.strides) == (4, (3, 3), (1, 2))
    assert (conv.use_bias, conv.power_iterations, conv.epsilon, conv.seed) == (False, 2, 1e-6, 5)
    assert SpectralDense(3).units == 3


def test_undefined_channels_are_refused():
    with pytest.raises(ValueError, match=r"channel axis \(-1\) of the input of SpectralConv2D must have a defined"):
        SpectralConv2D(4, 3)(keras.Input((8, 8, None)))
    with pytest.raises(ValueError, match="last axis of the input of SpectralDense must have a defined size"):
        SpectralDense(1)(keras.Input((None,)))


def test_input_spec_pins_the_channels():
    layer = build_conv(channels=3)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 7, 7, 4), "float32"))
