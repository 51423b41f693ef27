"""The normalisations' hand-written gradients against automatic differentiation of the textbook formulas.

The references below are the formulas written op by op, differentiated by the backend in float64: the
hand-written backward passes (float32) must agree with them to float32 round-off, on TensorFlow here and
on JAX in a subprocess.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.layers.normalizing import instance_norm_float32, layer_instance_affine_float32

EPS = 1e-5
# float32 round-off of a few reductions over at most 16×16×8 values, relative to the largest gradient.
RELATIVE = 2e-5

REFERENCES = '''
def reference_instance_norm(x):
    mean = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
    variance = tf.reduce_mean(tf.square(x - mean), axis=(1, 2), keepdims=True)
    return (x - mean) / tf.sqrt(variance + 1e-5)


def reference_layer_instance(x, rho, gamma, beta):
    def normalize(axes):
        count = np.prod([x.shape[axis] for axis in axes])
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        variance = tf.reduce_sum(tf.square(x - mean), axis=axes, keepdims=True) / (count - 1)
        return (x - mean) / tf.sqrt(variance + 1e-5)

    if len(gamma.shape) == 2:
        gamma, beta = gamma[:, None, None, :], beta[:, None, None, :]
    return (rho * normalize((1, 2)) + (1 - rho) * normalize((1, 2, 3))) * gamma + beta
'''
exec(REFERENCES)  # the same text runs under JAX below, with tf → jax.numpy spelled by a shim


def gradients(function, inputs, upstream):
    inputs = [tf.constant(value) for value in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        output = function(*inputs)
        loss = tf.reduce_sum(output * tf.cast(upstream, output.dtype))
    return output.numpy(), [gradient.numpy() for gradient in tape.gradient(loss, inputs)]


def assert_close(actual, expected):
    actual, expected = np.asarray(actual, "float64"), np.asarray(expected, "float64")
    scale = max(np.abs(expected).max(), 1e-30)
    assert np.abs(actual - expected).max() <= RELATIVE * scale, (np.abs(actual - expected).max(), scale)


def cases(seed=0, shape=(2, 16, 16, 8), per_sample=False):
    rng = np.random.default_rng(seed)
    batch, channels = shape[0], shape[-1]
    affine = (batch, channels) if per_sample else (channels,)
    x = (rng.standard_normal(shape) * 3 + 2).astype("float32")
    rho = rng.uniform(0, 1, channels).astype("float32")
    rho[:2] = (0.0, 1.0)  # both ends of the clip
    gamma = rng.normal(1, 0.5, affine).astype("float32")
    beta = rng.normal(0, 0.5, affine).astype("float32")
    upstream = rng.standard_normal(shape).astype("float32")
    return x, rho, gamma, beta, upstream


@pytest.mark.parametrize("shape", [(2, 16, 16, 8), (1, 5, 3, 2), (3, 1, 1, 4)])
def test_instance_norm_gradient_is_the_formulas(shape):
    x, _, _, _, upstream = cases(shape=shape)
    output, (gradient,) = gradients(lambda x: instance_norm_float32(x, EPS), [x], upstream)
    expected_output, (expected,) = gradients(reference_instance_norm, [x.astype("float64")], upstream)
    assert_close(output, expected_output)
    assert_close(gradient, expected)
    if shape[1] * shape[2] == 1:  # a 1×1 map normalises to 0 whatever x: no gradient
        np.testing.assert_array_equal(gradient, 0)


@pytest.mark.parametrize("per_sample", [False, True], ids=["lin", "adalin"])
@pytest.mark.parametrize("shape", [(2, 16, 16, 8), (1, 4, 6, 3)])
def test_layer_instance_gradients_are_the_formulas(per_sample, shape):
    inputs = cases(shape=shape, per_sample=per_sample)
    upstream = inputs[-1]
    output, actual = gradients(
        lambda *values: layer_instance_affine_float32(*values, EPS), inputs[:-1], upstream
    )
    expected_output, expected = gradients(
        reference_layer_instance, [value.astype("float64") for value in inputs[:-1]], upstream
    )
    assert_close(output, expected_output)
    for name, got, want in zip(("x", "rho", "gamma", "beta"), actual, expected):
        assert got.shape == want.shape, name
        assert_close(got, want)


def test_the_gradients_hold_inside_a_traced_function():
    inputs = cases(seed=3)
    upstream = inputs[-1]
    eager = gradients(lambda *values: layer_instance_affine_float32(*values, EPS), inputs[:-1], upstream)
    @tf.function
    def traced_gradients(x, rho, gamma, beta):
        with tf.GradientTape() as tape:
            tape.watch([x, rho, gamma, beta])
            loss = tf.reduce_sum(layer_instance_affine_float32(x, rho, gamma, beta, EPS) * upstream)
        return tape.gradient(loss, [x, rho, gamma, beta])

    for got, want in zip(traced_gradients(*inputs[:-1]), eager[1]):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_jax_gradients_are_the_formulas():
    pytest.importorskip("jax")
    script = textwrap.dedent(
        """
        import jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import keras
        assert keras.backend.backend() == "jax"
        from keras_p2c.layers.normalizing import instance_norm_float32, layer_instance_affine_float32

        class tf:  # the reference formulas' few TensorFlow names, on jax.numpy
            reduce_mean, reduce_sum, sqrt, square = jnp.mean, jnp.sum, jnp.sqrt, jnp.square
        """
    ) + REFERENCES + textwrap.dedent(
        """
        rng = np.random.default_rng(0)
        worst = 0.0
        for per_sample in (False, True):
            affine = (2, 8) if per_sample else (8,)
            x = (rng.standard_normal((2, 16, 16, 8)) * 3 + 2).astype("float32")
            rho = rng.uniform(0, 1, 8).astype("float32")
            gamma = rng.normal(1, 0.5, affine).astype("float32")
            beta = rng.normal(0, 0.5, affine).astype("float32")
            upstream = rng.standard_normal(x.shape)
            ours = jax.jit(jax.grad(
                lambda *v: jnp.sum(layer_instance_affine_float32(*v, 1e-5) * upstream), argnums=(0, 1, 2, 3)
            ))(x, rho, gamma, beta)
            reference = jax.grad(
                lambda *v: jnp.sum(reference_layer_instance(*v) * upstream), argnums=(0, 1, 2, 3)
            )(*(v.astype("float64") for v in (x, rho, gamma, beta)))
            ours_in = jax.grad(lambda x: jnp.sum(instance_norm_float32(x, 1e-5) * upstream))(x)
            reference_in = jax.grad(lambda x: jnp.sum(reference_instance_norm(x) * upstream))(x.astype("float64"))
            for got, want in list(zip(ours, reference)) + [(ours_in, reference_in)]:
                got, want = np.asarray(got, "float64"), np.asarray(want)
                assert got.shape == want.shape
                worst = max(worst, np.abs(got - want).max() / np.abs(want).max())
        print("worst", worst)
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.split()[-1]) <= RELATIVE, result.stdout
