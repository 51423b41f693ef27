"""Instance, layer-instance (LIN), adaptive (AdaLIN) and Soft-AdaLIN normalisation.

All statistics are taken in float32 and cast back to the compute dtype, and
the statistics-like weights (ρ, γ, β, w_γ, w_β) are stored and read in
float32 (`autocast=False`), so the layers are safe under mixed precision, as
`keras.layers.GroupNormalization` is. Epsilon is 1e-5 everywhere, as in the
reference.
"""

import keras
from keras import ops

from keras_p2c.layers.constraints import UnitIntervalClip
from keras_p2c.layers.normalizing import instance_norm_float32, layer_instance_affine_float32
from keras_p2c.layers.validation import check_bool, check_positive_number, defined_channels, split_input_shapes

EPSILON = 1e-5


def instance_norm(x, epsilon=EPSILON):
    """Instance normalisation of an NHWC tensor (biased variance, no affine), as `nn.InstanceNorm2d`."""
    return ops.cast(instance_norm_float32(ops.cast(x, "float32"), epsilon), x.dtype)


def layer_instance_norm(x, rho, gamma, beta, epsilon=EPSILON):
    """`[ρ·IN(x) + (1 − ρ)·LN(x)]·γ + β` in float32, with unbiased variances.

    Unbiased variance (torch.var's default) is what the reference's LIN and
    adaLIN use, and so what the released weights were trained with; the plain
    instance norm elsewhere uses the biased one. ρ is per channel; γ and β per
    channel (LIN) or per sample and channel (AdaLIN).
    """
    return layer_instance_affine_float32(
        *(ops.cast(value, "float32") for value in (x, rho, gamma, beta)), epsilon
    )


def _unit_weight(layer, name, channels, value):
    return layer.add_weight(
        name=name,
        shape=(channels,),
        initializer=keras.initializers.Constant(value),
        constraint=UnitIntervalClip(),
        autocast=False,
    )


def _statistics_weight(layer, name, channels, initializer):
    return layer.add_weight(name=name, shape=(channels,), initializer=initializer, autocast=False)


@keras.saving.register_keras_serializable(package="keras_p2c")
class InstanceNormalization(keras.layers.Layer):
    """Instance normalisation without affine parameters, like `torch.nn.InstanceNorm2d`.

    Each sample and channel is normalised over height and width with the
    biased variance (Ulyanov et al., 2016, arXiv:1607.08022).

    Args:
        epsilon: added to the variance. Defaults to `1e-5`, the reference's.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        Same as input.

    Example:
    >>> keras.ops.shape(InstanceNormalization()(np.random.rand(2, 8, 8, 4)))
    (2, 8, 8, 4)
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        check_positive_number("epsilon", epsilon)
        super().__init__(**kwargs)
        # The statistics are taken in float32 whatever the input dtype (see `call`).
        self.autocast = False
        self.epsilon = epsilon

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"InstanceNormalization expects a rank-4 input (channels last). Received: input_shape={input_shape}"
            )
        self.input_spec = keras.InputSpec(ndim=4)

    def call(self, inputs):
        return ops.cast(instance_norm(inputs, self.epsilon), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_p2c")
class LIN(keras.layers.Layer):
    """Layer-Instance Normalisation with ρ, γ and β learned per channel.

    `[ρ·IN(x) + (1 − ρ)·LN(x)]·γ + β`, with unbiased variances, ρ initialised
    to 0 and kept in [0, 1] by a weight constraint. Used in the generator's
    up-sampling blocks. From U-GAT-IT (Kim et al., 2020, arXiv:1907.10830),
    as used by Photo2Cartoon (github.com/minivision-ai/photo2cartoon).

    Args:
        epsilon: added to the (unbiased) variances. Defaults to `1e-5`, the
            reference's.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined.

    Output shape:
        Same as input.

    Example:
    >>> keras.ops.shape(LIN()(np.random.rand(2, 8, 8, 4)))
    (2, 8, 8, 4)
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        check_positive_number("epsilon", epsilon)
        super().__init__(**kwargs)
        # Inputs and weights stay as given: the statistics are taken in float32 (see `call`).
        self.autocast = False
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: channels})
        self.rho = _unit_weight(self, "rho", channels, 0.0)
        self.gamma = _statistics_weight(self, "gamma", channels, "ones")
        self.beta = _statistics_weight(self, "beta", channels, "zeros")

    def call(self, inputs):
        out = layer_instance_norm(inputs, self.rho, self.gamma, self.beta, self.epsilon)
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_p2c")
class AdaLIN(keras.layers.Layer):
    """Adaptive Layer-Instance Normalisation: LIN whose γ and β are inputs.

    `[ρ·IN(x) + (1 − ρ)·LN(x)]·γ + β` with γ, β given per sample and channel,
    ρ learned per channel (initialised to 0.9, kept in [0, 1] by a weight
    constraint). From U-GAT-IT (Kim et al., 2020, arXiv:1907.10830).

    Args:
        epsilon: added to the (unbiased) variances. Defaults to `1e-5`, the
            reference's.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[x, gamma, beta]`: x `(batch, height, width, channels)`,
        channels defined; gamma and beta `(batch, channels)`.

    Output shape:
        Same as x.

    Example:
    >>> x, gamma, beta = np.random.rand(2, 8, 8, 4), np.ones((2, 4)), np.zeros((2, 4))
    >>> keras.ops.shape(AdaLIN()([x, gamma, beta]))
    (2, 8, 8, 4)
    """

    def __init__(self, epsilon=EPSILON, **kwargs):
        check_positive_number("epsilon", epsilon)
        super().__init__(**kwargs)
        # γ and β reach `call` unrounded (Soft-AdaLIN blends them in float32);
        # the statistics are taken in float32 (see `call`).
        self.autocast = False
        self.epsilon = epsilon

    def build(self, input_shape):
        x_shape, gamma_shape, beta_shape = split_input_shapes(self, input_shape, ("x", "gamma", "beta"))
        channels = defined_channels(self, x_shape, ndim=4, what="x")
        for name, shape in (("gamma", gamma_shape), ("beta", beta_shape)):
            if len(shape) != 2 or shape[-1] not in (None, channels):
                raise ValueError(
                    f"AdaLIN expects {name} of shape (batch, {channels}), one value per channel of x. "
                    f"Received: input_shape={input_shape}"
                )
        self.input_spec = [
            keras.InputSpec(ndim=4, axes={-1: channels}),
            keras.InputSpec(ndim=2, axes={-1: channels}),
            keras.InputSpec(ndim=2, axes={-1: channels}),
        ]
        self.rho = _unit_weight(self, "rho", channels, 0.9)

    def call(self, inputs):
        x, gamma, beta = inputs
        return ops.cast(layer_instance_norm(x, self.rho, gamma, beta, self.epsilon), self.compute_dtype)

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
    Photo2Cartoon's extension (github.com/minivision-ai/photo2cartoon) of
    U-GAT-IT's AdaLIN (Kim et al., 2020, arXiv:1907.10830). Sub-layer names
    follow the reference (`c_gamma.0` → `c_gamma_0`, …).

    Args:
        use_bias: whether the Dense layers have biases (the original
            Photo2Cartoon: yes; the PaddleGAN port: no). Defaults to `True`.
        epsilon: added to the (unbiased) variances. Defaults to `1e-5`, the
            reference's.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[x, content, style]`: x `(batch, height, width, channels)`,
        content and style `(batch, features)`, all sizes but batch defined.

    Output shape:
        Same as x.

    Example:
    >>> x, content, style = np.random.rand(2, 8, 8, 4), np.random.rand(2, 6), np.random.rand(2, 5)
    >>> keras.ops.shape(SoftAdaLIN()([x, content, style]))
    (2, 8, 8, 4)
    """

    def __init__(self, use_bias=True, epsilon=EPSILON, **kwargs):
        check_bool("use_bias", use_bias)
        check_positive_number("epsilon", epsilon)
        super().__init__(**kwargs)
        self.use_bias = use_bias
        self.epsilon = epsilon
        self.norm = AdaLIN(epsilon, dtype=self.dtype_policy, name="norm")

    def _dense(self, channels, name, activation=None):
        return keras.layers.Dense(
            channels, activation=activation, use_bias=self.use_bias, dtype=self.dtype_policy, name=name
        )

    def build(self, input_shape):
        x_shape, content_shape, style_shape = split_input_shapes(self, input_shape, ("x", "content", "style"))
        channels = defined_channels(self, x_shape, ndim=4, what="x")
        content_features = defined_channels(self, content_shape, ndim=2, what="content")
        style_features = defined_channels(self, style_shape, ndim=2, what="style")
        self.input_spec = [
            keras.InputSpec(ndim=4, axes={-1: channels}),
            keras.InputSpec(ndim=2, axes={-1: content_features}),
            keras.InputSpec(ndim=2, axes={-1: style_features}),
        ]
        # Each Dense emits one γ or β per channel of x, a size first known
        # here: the constructor, as the models call it, takes no channel count.
        # They are made in the reference's order, after `norm`, which fixes the
        # order of the weights list the converters and .weights.h5 files rely on.
        self.c_gamma_0 = self._dense(channels, "c_gamma_0", "relu")
        self.c_gamma_2 = self._dense(channels, "c_gamma_2")
        self.c_beta_0 = self._dense(channels, "c_beta_0", "relu")
        self.c_beta_2 = self._dense(channels, "c_beta_2")
        self.s_gamma = self._dense(channels, "s_gamma")
        self.s_beta = self._dense(channels, "s_beta")
        vector = (content_shape[0], channels)
        for layer in (self.c_gamma_0, self.c_beta_0):
            layer.build(content_shape)
        for layer in (self.c_gamma_2, self.c_beta_2):
            layer.build(vector)
        for layer in (self.s_gamma, self.s_beta):
            layer.build(style_shape)
        self.norm.build([x_shape, vector, vector])
        self.w_gamma = _unit_weight(self, "w_gamma", channels, 0.0)
        self.w_beta = _unit_weight(self, "w_beta", channels, 0.0)

    def call(self, inputs):
        x, content, style = inputs
        content_gamma = self.c_gamma_2(self.c_gamma_0(content))
        content_beta = self.c_beta_2(self.c_beta_0(content))
        style_gamma, style_beta = self.s_gamma(style), self.s_beta(style)
        # Blended in float32: γ and β scale and shift the normalised map, and
        # AdaLIN takes them without rounding to the compute dtype.
        w_gamma = ops.cast(self.w_gamma, "float32")
        w_beta = ops.cast(self.w_beta, "float32")
        style_gamma, content_gamma = ops.cast(style_gamma, "float32"), ops.cast(content_gamma, "float32")
        style_beta, content_beta = ops.cast(style_beta, "float32"), ops.cast(content_beta, "float32")
        gamma = (1.0 - w_gamma) * style_gamma + w_gamma * content_gamma
        beta = (1.0 - w_beta) * style_beta + w_beta * content_beta
        return self.norm([x, gamma, beta])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias, "epsilon": self.epsilon}
