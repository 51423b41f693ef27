"""The normalisations' arithmetic, with closed-form gradients.

Differentiated op by op, a normalisation's gradient is mostly bookkeeping: every broadcast of a
per-channel statistic back onto the map adds shape, reduce and reshape operations, and every mean
adds its own. Measured on the GAN's eager training step (64 px): 85.5k TensorFlow operations with
autodiff (~10k of them convolutions, activations and pads), 58.8k with the gradients here. The
backward passes here are the textbook ones (the gradient of `(x − μ)·rsqrt(k·σ² + ε)` with respect
to x is `s·(g − mean(g) − k·z·mean(g·z))`, z the normalised map), written once for the forward they
belong to, and hand the same values to both backends (`keras.ops.custom_gradient`: `tf.custom_gradient`
on TensorFlow, `jax.custom_gradient` on JAX).

The forward passes compute exactly what they computed before the gradients were written by hand, in
the same order of operations, so outputs are bit-identical. All statistics are float32: the callers
cast.

On TensorFlow the hand-written gradient is attached only where a gradient could be asked for (a
`GradientTape` is recording): inference graphs (`predict`, SavedModel and OpenVINO exports) hold the
plain forward ops, with no gradient functions to trace, save or warn about.
"""

import keras
from keras import ops


def mean_over(x, axes):
    """Mean over `axes`, one axis at a time.

    TensorFlow's float32 reduce_mean over a whole 256×256 map accumulates
    ~20× more round-off than PyTorch or JAX (measured: 1.2e-5 vs 5e-7 on a map
    of mean 5), which alone moved the generator's output by 8e-5; short
    per-axis reductions bring it back to the reference's precision.
    """
    for axis in axes:
        x = ops.mean(x, axis=axis, keepdims=True)
    return x


def _sum_to(x, rank):
    """`x` (NHWC) summed over the axes a (channels,) or (batch, channels) operand was broadcast on."""
    return ops.sum(x, axis=(0, 1, 2) if rank == 1 else (1, 2))


def _on_map(value):
    """A per-channel `(C,)` or per-sample `(N, C)` operand, broadcastable onto an NHWC map."""
    return value if len(value.shape) == 1 else value[:, None, None, :]


def _upstream(args, upstream):
    """The output's gradient, as `tf.custom_gradient` (positional) or `jax.custom_gradient` passes it."""
    return args[0] if upstream is None else upstream


def could_be_differentiated():
    """False where no gradient of what is computed now can be taken (TensorFlow with no tape recording)."""
    if keras.backend.backend() != "tensorflow":
        return True  # JAX differentiates by tracing; an un-differentiated custom_vjp is its primal function
    try:
        from tensorflow.python.eager import record
    except ImportError:  # moved in a later TensorFlow: keep the gradients
        return True
    return record.could_possibly_record()


def _with_gradient(function):
    """`function(*inputs) -> (output, gradient)` as a differentiable op, or just its output (see above)."""
    if could_be_differentiated():
        return ops.custom_gradient(function)
    return lambda *inputs: function(*inputs)[0]


def _normalized_gradient(upstream, normalized, scale, axes, correction):
    """d/dx of `z = (x − mean)·scale`, `scale = rsqrt(correction·var + ε)`, statistics over `axes`."""
    centered = upstream - mean_over(upstream, axes)
    return scale * (centered - correction * normalized * mean_over(upstream * normalized, axes))


def instance_norm_float32(x, epsilon):
    """`(x − mean) / sqrt(var + ε)` per sample and channel over height and width (biased variance)."""

    @_with_gradient
    def normalize(x):
        mean = mean_over(x, (1, 2))
        centered = x - mean
        scale = ops.rsqrt(mean_over(ops.square(centered), (1, 2)) + epsilon)
        normalized = centered * scale

        def gradient(*args, upstream=None):
            return _normalized_gradient(_upstream(args, upstream), normalized, scale, (1, 2), 1.0)

        return normalized, gradient

    return normalize(x)


def layer_instance_affine_float32(x, rho, gamma, beta, epsilon):
    """`[ρ·IN(x) + (1 − ρ)·LN(x)]·γ + β`, unbiased variances; ρ `(C,)`, γ and β `(C,)` or `(N, C)`.

    One pass over the map serves both normalisations: the layer statistics follow from the
    per-channel ones (equal counts per channel, so the layer mean is the mean of the channel means
    and, by the law of total variance, the layer's biased variance is the mean of
    `var_c + (mean_c − mean)²`), and `x − mean = (x − mean_c) + (mean_c − mean)` reuses the centred
    map, so the mix is one multiply-add on it instead of two normalised copies.
    """

    @_with_gradient
    def normalize(x, rho, gamma, beta):
        channel_mean = mean_over(x, (1, 2))
        centered = x - channel_mean
        channel_variance = mean_over(ops.square(centered), (1, 2))  # biased, per (sample, channel)
        layer_mean = ops.mean(channel_mean, axis=3, keepdims=True)
        offset = channel_mean - layer_mean
        layer_variance = ops.mean(channel_variance + ops.square(offset), axis=3, keepdims=True)
        pixels = ops.cast(ops.shape(x)[1] * ops.shape(x)[2], "float32")
        count = pixels * ops.cast(ops.shape(x)[3], "float32")
        instance_correction = pixels / (pixels - 1.0)
        layer_correction = count / (count - 1.0)
        instance_scale = ops.rsqrt(channel_variance * instance_correction + epsilon)
        layer_scale = ops.rsqrt(layer_variance * layer_correction + epsilon)
        scale = rho * instance_scale + (1.0 - rho) * layer_scale
        mixed = centered * scale + (1.0 - rho) * layer_scale * offset
        gamma_map, beta_map = _on_map(gamma), _on_map(beta)

        def gradient(*args, upstream=None):
            # Every reduction the two normalisations' gradients need follows from two per-channel means,
            # of g = upstream·γ and of g·(x − mean_c): the instance part's directly, the layer part's as
            # channel means of them (ρ and the layer scale are constant over each map).
            upstream = _upstream(args, upstream)
            to_mixed = upstream * gamma_map
            mean_g = mean_over(to_mixed, (1, 2))
            mean_g_centered = mean_over(to_mixed * centered, (1, 2))
            mean_g_offset = mean_g_centered + offset * mean_g  # mean of g·(x − layer mean)
            instance_part = (
                rho
                * instance_scale
                * (to_mixed - mean_g - instance_correction * ops.square(instance_scale) * centered * mean_g_centered)
            )
            layer_weight = 1.0 - rho
            layer_mean_g = ops.mean(layer_weight * mean_g, axis=3, keepdims=True)
            layer_mean_g_offset = ops.mean(layer_weight * mean_g_offset, axis=3, keepdims=True)
            layer_part = layer_scale * (
                layer_weight * to_mixed
                - layer_mean_g
                - layer_correction * ops.square(layer_scale) * (centered + offset) * layer_mean_g_offset
            )
            d_rho = pixels * ops.sum(instance_scale * mean_g_centered - layer_scale * mean_g_offset, axis=(0, 1, 2))
            d_gamma = _sum_to(upstream * mixed, len(gamma.shape))
            d_beta = _sum_to(upstream, len(beta.shape))
            return instance_part + layer_part, d_rho, d_gamma, d_beta

        return mixed * gamma_map + beta_map, gradient

    return normalize(x, rho, gamma, beta)
