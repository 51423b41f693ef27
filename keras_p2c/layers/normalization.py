"""Instance, layer-instance (LIN), adaptive (AdaLIN) and Soft-AdaLIN normalisation.

All statistics are taken in float32 and cast back, so the layers are safe under
mixed precision. Epsilon is 1e-5 everywhere, as in the reference.
"""

import keras
from keras import ops

from keras_p2c.layers.constraints import UnitIntervalClip

EPSILON = 1e-5


def _validate_epsilon(epsilon):
    if not epsilon > 0:
        raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon}")


def _mean(x, axes):
    """Mean over `axes`, one axis at a time.

    TensorFlow's float32 reduce_mean over a whole 256×256 map accumulates
    ~20× more round-off than PyTorch or JAX (measured: 1.2e-5 vs 5e-7 on a map
    of mean 5), which alone moved the generator's output by 8e-5; short
    per-axis reductions bring it back to the reference's precision.
    """
    for axis in axes:
        x = ops.mean(x, axis=axis, keepdims=True)
    return x


def _normalize(x, axes, epsilon, unbiased):
    """(x - mean) / sqrt(var + epsilon) over `axes`, x already float32."""
    mean = _mean(x, axes)
    centered = x - mean
    variance = _mean(ops.square(centered), axes)
    if unbiased:
        count = 1
        for axis in axes:
            count *= ops.shape(x)[axis]
        count = ops.cast(count, "float32")
        variance = variance * count / (count - 1.0)
    return centered * ops.rsqrt(variance + epsilon)


def instance_norm(x, epsilon=EPSILON):
    """Instance normalisation of an NHWC tensor (biased variance, no affine), as `nn.InstanceNorm2d`."""
    dtype = x.dtype
    return ops.cast(_normalize(ops.cast(x, "float32"), (1, 2), epsilon, unbiased=False), dtype)


def layer_instance_mix(x, rho, epsilon=EPSILON):
    """ρ·IN(x) + (1 − ρ)·LN(x) with unbiased variances, in float32.

    Unbiased variance (torch.var's default) is what the reference's LIN and
    adaLIN use, and so what the released weights were trained with; the plain
    instance norm elsewhere uses the biased one.
    """
    x = ops.cast(x, "float32")
    rho = ops.cast(rho, "float32")
    instance = _normalize(x, (1, 2), epsilon, unbiased=True)
    layer = _normalize(x, (1, 2, 3), epsilon, unbiased=True)
    return rho * instance + (1.0 - rho) * layer


def _unit_weight(layer, name, channels, value):
    return layer.add_weight(
        name=name,
        shape=(channels,),
        initializer=keras.initializers.Constant(value),
        constraint=UnitIntervalClip(),
    )


@keras.saving.register_keras_serializable(package="keras_p2c")
class InstanceNormalization(keras.layers.Layer):
    """Instance normalisation without affine parameters, like `torch.nn.InstanceNorm2d`.

    Args:
        epsilon: added to the (biased) variance.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as input.
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        super().__init__(**kwargs)
        _validate_epsilon(epsilon)
        self.epsilon = epsilon

    def call(self, inputs):
        return instance_norm(inputs, self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_p2c")
class LIN(keras.layers.Layer):
    """Layer-Instance Normalisation with learned ρ, γ, β per channel.

    `[ρ·IN(x) + (1 − ρ)·LN(x)]·γ + β`, ρ kept in [0, 1]. Used in the
    generator's up-sampling blocks.

    Args:
        epsilon: added to the (unbiased) variances.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as input.

    Example:
    >>> LIN()(np.random.rand(2, 8, 8, 4)).shape
    (2, 8, 8, 4)
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        super().__init__(**kwargs)
        _validate_epsilon(epsilon)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.rho = _unit_weight(self, "rho", channels, 0.0)
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        mixed = layer_instance_mix(inputs, self.rho, self.epsilon)
        out = mixed * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_p2c")
class AdaLIN(keras.layers.Layer):
    """Adaptive Layer-Instance Normalisation: LIN whose γ and β come from outside.

    `[ρ·IN(x) + (1 − ρ)·LN(x)]·γ + β` with γ, β given per sample and channel,
    ρ learned per channel (initialised to 0.9, kept in [0, 1]).

    Args:
        epsilon: added to the (unbiased) variances.

    Input shape:
        A list `[x, gamma, beta]`: x `(batch, height, width, channels)`,
        gamma and beta `(batch, channels)`.

    Output shape:
        Same as x.
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        super().__init__(**kwargs)
        _validate_epsilon(epsilon)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.rho = _unit_weight(self, "rho", input_shape[0][-1], 0.9)

    def call(self, inputs):
        x, gamma, beta = inputs
        mixed = layer_instance_mix(x, self.rho, self.epsilon)
        gamma = ops.cast(gamma, "float32")[:, None, None, :]
        beta = ops.cast(beta, "float32")[:, None, None, :]
        return ops.cast(mixed * gamma + beta, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_p2c")
class SoftAdaLIN(keras.layers.Layer):
    """Soft-AdaLIN: AdaLIN whose γ, β blend decoder "style" and encoder "content".

    γ_c, β_c = MLP(content) (Dense → ReLU → Dense); γ_s, β_s = Dense(style);
    γ = (1 − w_γ)·γ_s + w_γ·γ_c, β = (1 − w_β)·β_s + w_β·β_c, with w_γ, w_β
    learned per channel (initialised to 0: pure style) and kept in [0, 1].
    Sub-layer names follow the reference (`c_gamma.0` → `c_gamma_0`, …).

    Args:
        use_bias: whether the Dense layers have biases (the original
            Photo2Cartoon: yes; the PaddleGAN port: no).
        epsilon: added to the (unbiased) variances.

    Input shape:
        A list `[x, content, style]`: x `(batch, height, width, channels)`,
        content and style `(batch, features)`.

    Output shape:
        Same as x.
    """

    def __init__(self, use_bias=True, epsilon=EPSILON, **kwargs):
        super().__init__(**kwargs)
        _validate_epsilon(epsilon)
        self.use_bias = use_bias
        self.epsilon = epsilon
        self.norm = AdaLIN(epsilon, dtype=self.dtype_policy, name="norm")

    def build(self, input_shape):
        x_shape, content_shape, style_shape = input_shape
        channels = x_shape[-1]

        def dense(name, activation=None):
            return keras.layers.Dense(
                channels, activation=activation, use_bias=self.use_bias, dtype=self.dtype_policy, name=name
            )

        self.c_gamma_0, self.c_gamma_2 = dense("c_gamma_0", "relu"), dense("c_gamma_2")
        self.c_beta_0, self.c_beta_2 = dense("c_beta_0", "relu"), dense("c_beta_2")
        self.s_gamma, self.s_beta = dense("s_gamma"), dense("s_beta")
        for layer in (self.c_gamma_0, self.c_beta_0):
            layer.build(content_shape)
        for layer in (self.c_gamma_2, self.c_beta_2):
            layer.build((content_shape[0], channels))
        for layer in (self.s_gamma, self.s_beta):
            layer.build(style_shape)
        self.norm.build(input_shape)
        self.w_gamma = _unit_weight(self, "w_gamma", channels, 0.0)
        self.w_beta = _unit_weight(self, "w_beta", channels, 0.0)

    def call(self, inputs):
        x, content, style = inputs
        content_gamma = self.c_gamma_2(self.c_gamma_0(content))
        content_beta = self.c_beta_2(self.c_beta_0(content))
        style_gamma, style_beta = self.s_gamma(style), self.s_beta(style)
        w_gamma = ops.cast(self.w_gamma, self.compute_dtype)
        w_beta = ops.cast(self.w_beta, self.compute_dtype)
        gamma = (1.0 - w_gamma) * style_gamma + w_gamma * content_gamma
        beta = (1.0 - w_beta) * style_beta + w_beta * content_beta
        return self.norm([x, gamma, beta])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias, "epsilon": self.epsilon}
