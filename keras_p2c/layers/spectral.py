"""Spectrally normalised convolution and dense layers that behave like torch's `nn.utils.spectral_norm`.

`keras.layers.SpectralNormalization` overwrites the kernel with its projection
and does not differentiate through σ; the reference does neither (quirk g-6),
so these layers keep the reference's semantics:

* the trainable variable `kernel` is the *un-normalised* weight (torch
  `weight_orig`); every call uses `kernel / σ`, with the gradient flowing
  through σ = uᵀWv while u and v are held constant;
* in training calls, `power_iterations` power iterations first update the
  non-trainable vectors `u` and `v` (v ← normalise(Wᵀu), u ← normalise(Wv),
  normalise(x) = x / max(‖x‖, epsilon), as `torch.nn.functional.normalize`),
  without gradient; inference calls leave them alone and use the stored ones.

Variables and their torch counterparts (W = torch `weight_orig` viewed as
[out, in·kh·kw]):

| Keras | torch | layout |
|---|---|---|
| `SpectralConv2D.kernel` | `weight_orig` [O, I, kh, kw] | [kh, kw, I, O] = transpose (2, 3, 1, 0) |
| `SpectralDense.kernel` | `weight_orig` [out, in] | [in, out] = transpose |
| `bias` | `bias` [O] | same |
| `u` | `weight_u` [O] | same |
| `v` (conv) | `weight_v` [I·kh·kw] in (I, kh, kw) order | (kh, kw, I) order: `v.reshape(I, kh, kw).transpose(1, 2, 0).ravel()` |
| `v` (dense) | `weight_v` [in] | same |

The Keras kernel is flattened to the matrix M = reshape(kernel, [kh·kw·I, O]),
which is Wᵀ with its rows permuted to (kh, kw, I) order; hence the order of v.
The statistics (u, v, σ and the normalised kernel) are computed in float32,
also under mixed precision, and the normalised kernel is cast to the compute
dtype only for the product with the inputs.
"""

import keras
from keras import ops

from keras_p2c.layers.validation import (
    check_bool,
    check_int_pair,
    check_positive_int,
    check_positive_number,
    check_seed,
    defined_channels,
)


def _l2_normalize(x, epsilon):
    """x / max(‖x‖, epsilon), as `torch.nn.functional.normalize`."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), epsilon)


def _unit_normal_initializer(seed, epsilon):
    """Standard-normal values scaled to unit length, as torch initialises u and v."""
    draw = keras.initializers.RandomNormal(mean=0.0, stddev=1.0, seed=seed)

    def initializer(shape, dtype=None):
        return _l2_normalize(draw(shape, dtype=dtype), epsilon)

    return initializer


def torch_default_kernel_initializer():
    """torch's default Conv/Linear weight initialisation, U(±1/√fan_in) (kaiming_uniform with a=√5)."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def _spectral_options(use_bias, power_iterations, epsilon, seed, initializers, regularizers, constraints):
    """Validates the arguments both spectral layers share and resolves them, before `Layer.__init__`.

    `initializers`, `regularizers` and `constraints` are (kernel, bias) pairs.
    """
    check_bool("use_bias", use_bias)
    check_positive_int("power_iterations", power_iterations, hint=" (torch's n_power_iterations)")
    check_positive_number("epsilon", epsilon)
    check_seed("seed", seed)
    kernel_initializer, bias_initializer = initializers
    if kernel_initializer is None:
        kernel_initializer = torch_default_kernel_initializer()
    kernel_regularizer, bias_regularizer = regularizers
    kernel_constraint, bias_constraint = constraints
    return {
        "use_bias": use_bias,
        "power_iterations": power_iterations,
        "epsilon": epsilon,
        "seed": seed,
        "kernel_initializer": keras.initializers.get(kernel_initializer),
        "bias_initializer": keras.initializers.get(bias_initializer),
        "kernel_regularizer": keras.regularizers.get(kernel_regularizer),
        "bias_regularizer": keras.regularizers.get(bias_regularizer),
        "kernel_constraint": keras.constraints.get(kernel_constraint),
        "bias_constraint": keras.constraints.get(bias_constraint),
    }


class SpectralNormMixin:
    """Shared spectral normalisation for a layer with a `kernel` whose last axis is the output axis.

    The layer validates its shared arguments with `_spectral_options` before
    `Layer.__init__`, keeps them with `_init_spectral` after it, calls
    `_build_spectral` and `_build_bias` in `build`, and
    `normalized_kernel(training)` in `call`.
    """

    def _init_spectral(self, options):
        """Keeps the resolved `_spectral_options` as public attributes of the same names."""
        for name, value in options.items():
            setattr(self, name, value)

    def _build_spectral(self, kernel_shape):
        # autocast=False: the statistics stay float32 under mixed precision
        # instead of being read as float16 inside `call`.
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,
        )
        out_size = kernel_shape[-1]
        in_size = 1
        for size in kernel_shape[:-1]:
            in_size *= size
        v_seed = None if self.seed is None else self.seed + 1
        self.u = self.add_weight(
            name="u",
            shape=(out_size,),
            initializer=_unit_normal_initializer(self.seed, self.epsilon),
            trainable=False,
            autocast=False,
        )
        self.v = self.add_weight(
            name="v",
            shape=(in_size,),
            initializer=_unit_normal_initializer(v_seed, self.epsilon),
            trainable=False,
            autocast=False,
        )

    def _kernel_matrix(self):
        kernel = ops.cast(self.kernel, "float32")
        return ops.reshape(kernel, (-1, ops.shape(kernel)[-1]))

    def power_iteration(self):
        """Runs `power_iterations` steps from the stored u, assigns u and v, and returns them.

        No gradient flows through the result (torch runs it under `no_grad`).
        """
        matrix = ops.stop_gradient(self._kernel_matrix())
        u = ops.cast(self.u, "float32")
        v = ops.cast(self.v, "float32")
        for _ in range(self.power_iterations):
            # matrix = Wᵀ (rows permuted), so matrix·u = Wᵀu and vᵀ·matrix = (Wv)ᵀ.
            v = _l2_normalize(ops.matmul(matrix, u), self.epsilon)
            u = _l2_normalize(ops.matmul(v, matrix), self.epsilon)
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        self.u.assign(u)
        self.v.assign(v)
        return u, v

    def sigma(self, u=None, v=None):
        """σ = uᵀWv (float32), differentiable in the kernel; the stored u, v unless given."""
        u = ops.cast(self.u, "float32") if u is None else u
        v = ops.cast(self.v, "float32") if v is None else v
        return ops.sum(u * ops.matmul(v, self._kernel_matrix()))

    def normalized_kernel(self, training=False):
        """The kernel divided by σ, in float32 and the kernel's shape.

        Args:
            training: first run the power iteration and update u and v, as a
                training-mode call does. False uses the stored u and v.
        """
        u, v = self.power_iteration() if training else (None, None)
        return ops.cast(self.kernel, "float32") / self.sigma(u, v)

    def _spectral_config(self):
        return {
            "power_iterations": self.power_iterations,
            "epsilon": self.epsilon,
            "seed": self.seed,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
        }

    def _build_bias(self, units):
        if not self.use_bias:
            self.bias = None
            return
        self.bias = self.add_weight(
            name="bias",
            shape=(units,),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def _add_bias(self, outputs):
        return outputs if self.bias is None else outputs + self.bias


@keras.saving.register_keras_serializable(package="keras_p2c")
class SpectralConv2D(SpectralNormMixin, keras.layers.Layer):
    """2D convolution with reference-exact spectral normalisation and no padding.

    Spectral normalisation after Miyato et al., 2018 (arXiv:1802.05957), with
    the semantics of torch's `nn.utils.spectral_norm`, which the U-GAT-IT and
    Photo2Cartoon discriminators use. Pad beforehand (the reference
    reflect-pads, see `ReflectionPadding2D`).

    Args:
        filters: output channels.
        kernel_size: int or pair.
        strides: int or pair. Defaults to `1`.
        use_bias: add a bias (not normalised). Defaults to `True`.
        power_iterations: power iterations per training call (torch's
            `n_power_iterations`). Defaults to `1`, the reference's.
        epsilon: floor of the norm in the normalisation of u and v.
            Defaults to `1e-12`, torch's.
        seed: seed of the random initial u (v uses seed + 1). Defaults to
            `None` (random).
        kernel_initializer: of the un-normalised kernel. Defaults to `None`,
            torch's default U(±1/√fan_in), which matters because the
            discriminator CAM weights its map by an un-normalised kernel.
        bias_initializer: Defaults to `"zeros"`.
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: as in `keras.layers.Conv2D`. Default to `None`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined.

    Output shape:
        `(batch, (height - kh) // sh + 1, (width - kw) // sw + 1, filters)`.

    Example:
    >>> layer = SpectralConv2D(8, 4, strides=2)
    >>> keras.ops.shape(layer(np.zeros((1, 10, 10, 3)), training=True))  # updates u, v
    (1, 4, 4, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        use_bias=True,
        power_iterations=1,
        epsilon=1e-12,
        seed=None,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        check_positive_int("filters", filters)
        kernel_size = check_int_pair("kernel_size", kernel_size)
        strides = check_int_pair("strides", strides)
        options = _spectral_options(
            use_bias,
            power_iterations,
            epsilon,
            seed,
            (kernel_initializer, bias_initializer),
            (kernel_regularizer, bias_regularizer),
            (kernel_constraint, bias_constraint),
        )
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self._init_spectral(options)

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: channels})
        self._build_spectral(self.kernel_size + (channels, self.filters))
        self._build_bias(self.filters)

    def call(self, inputs, training=None):
        kernel = ops.cast(self.normalized_kernel(training=bool(training)), self.compute_dtype)
        outputs = ops.conv(inputs, kernel, strides=self.strides, padding="valid", data_format="channels_last")
        return self._add_bias(outputs)

    def compute_output_shape(self, input_shape):
        def size(length, kernel, stride):
            return None if length is None else (length - kernel) // stride + 1

        return (
            input_shape[0],
            size(input_shape[1], self.kernel_size[0], self.strides[0]),
            size(input_shape[2], self.kernel_size[1], self.strides[1]),
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "use_bias": self.use_bias,
            **self._spectral_config(),
        }


@keras.saving.register_keras_serializable(package="keras_p2c")
class SpectralDense(SpectralNormMixin, keras.layers.Layer):
    """Dense layer with reference-exact spectral normalisation.

    Spectral normalisation after Miyato et al., 2018 (arXiv:1802.05957), with
    the semantics of torch's `nn.utils.spectral_norm`; the discriminators'
    CAM fc layers in U-GAT-IT and Photo2Cartoon.

    Args:
        units: output size.
        use_bias: add a bias (not normalised). Defaults to `False`: the
            reference's discriminator CAM has none.
        power_iterations: power iterations per training call. Defaults to `1`.
        epsilon: floor of the norm of u and v. Defaults to `1e-12`.
        seed: seed of the random initial u (v uses seed + 1). Defaults to
            `None` (random).
        kernel_initializer: Defaults to `None`, torch's U(±1/√fan_in).
        bias_initializer: Defaults to `"zeros"`.
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: as in `keras.layers.Dense`. Default to `None`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(..., in_features)`, in_features defined.

    Output shape:
        `(..., units)`.

    Example:
    >>> layer = SpectralDense(1)
    >>> keras.ops.shape(layer(np.ones((2, 16))))
    (2, 1)
    """

    def __init__(
        self,
        units,
        use_bias=False,
        power_iterations=1,
        epsilon=1e-12,
        seed=None,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        check_positive_int("units", units)
        options = _spectral_options(
            use_bias,
            power_iterations,
            epsilon,
            seed,
            (kernel_initializer, bias_initializer),
            (kernel_regularizer, bias_regularizer),
            (kernel_constraint, bias_constraint),
        )
        super().__init__(**kwargs)
        self.units = units
        self._init_spectral(options)

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"SpectralDense expects an input of rank 2 or more. Received: input_shape={input_shape}")
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                "The last axis of the input of SpectralDense must have a defined size. "
                f"Received: input_shape={input_shape}"
            )
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: features})
        self._build_spectral((features, self.units))
        self._build_bias(self.units)

    def call(self, inputs, training=None):
        kernel = ops.cast(self.normalized_kernel(training=bool(training)), self.compute_dtype)
        return self._add_bias(ops.matmul(inputs, kernel))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias, **self._spectral_config()}
