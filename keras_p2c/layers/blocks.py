"""Convolutional blocks of the Photo2Cartoon generator: ConvBlock, hourglass, residual blocks.

Sub-layer names follow the reference state-dict names, so the weight
converters read straight across (`ConvBlock1.3.weight` → `ConvBlock1.kernel`).
Every convolution is "valid" after explicit reflection padding, without bias
unless said otherwise, as in the reference.
"""

import keras
from keras import ops

from keras_p2c.layers.normalization import EPSILON, SoftAdaLIN, instance_norm
from keras_p2c.layers.padding import reflect_pad
from keras_p2c.layers.validation import (
    check_bool,
    check_positive_int,
    check_positive_number,
    defined_channels,
    split_input_shapes,
)

# Four 2×2 average pools inside every hourglass, and the innermost map is
# reflect-padded by 1, which needs 2 pixels.
HOURGLASS_SIZE_MULTIPLE = 16
HOURGLASS_MIN_SIZE = 2 * HOURGLASS_SIZE_MULTIPLE


def _conv(layer, filters, kernel_size, name, use_bias=False, strides=1):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, use_bias=use_bias, dtype=layer.dtype_policy, name=name
    )


def _with_channels(shape, channels):
    return tuple(shape[:-1]) + (channels,)


def _map_spec(channels):
    return keras.InputSpec(ndim=4, axes={-1: channels})


def upsample_nearest(x, factor=2):
    """Nearest-neighbour ×factor up-sampling of an NHWC tensor (pixel repeat, as torch's default)."""
    return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)


def avg_pool_2x2(x):
    return ops.average_pool(x, pool_size=2, strides=2, padding="valid")


@keras.saving.register_keras_serializable(package="keras_p2c")
class ConvBlock(keras.layers.Layer):
    """Pre-activation multi-scale block: three chained 3×3 convolutions, concatenated, plus a residual.

    Branch k: InstanceNorm → ReLU → reflect-pad 1 → conv 3×3 (no bias), each on
    the previous branch's output, with filters/2, filters/4, filters/4 channels.
    The residual is the input when its channels equal `filters`, otherwise
    `ConvBlock4` (InstanceNorm → ReLU → conv 1×1). The building block of
    Photo2Cartoon's hourglasses (github.com/minivision-ai/photo2cartoon).

    Args:
        filters: output channels, a positive multiple of 4.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined.

    Output shape:
        `(batch, height, width, filters)`.

    Example:
    >>> keras.ops.shape(ConvBlock(8)(np.random.rand(1, 16, 16, 4)))
    (1, 16, 16, 8)
    """

    def __init__(self, filters, **kwargs):
        check_positive_int("filters", filters, multiple=4)
        super().__init__(**kwargs)
        self.filters = filters
        self.ConvBlock1 = _conv(self, filters // 2, 3, "ConvBlock1")
        self.ConvBlock2 = _conv(self, filters // 4, 3, "ConvBlock2")
        self.ConvBlock3 = _conv(self, filters // 4, 3, "ConvBlock3")

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        self.input_spec = _map_spec(channels)
        padded = (input_shape[0], None, None)
        self.ConvBlock1.build(padded + (channels,))
        self.ConvBlock2.build(padded + (self.filters // 2,))
        self.ConvBlock3.build(padded + (self.filters // 4,))
        # Whether the residual needs a projection depends on the input's
        # channels, first known here; the reference has the same condition.
        self.ConvBlock4 = None
        if channels != self.filters:
            self.ConvBlock4 = _conv(self, self.filters, 1, "ConvBlock4")
            self.ConvBlock4.build(input_shape)

    def _branch(self, conv, x):
        return conv(reflect_pad(ops.relu(instance_norm(x)), 1))

    def call(self, inputs):
        x1 = self._branch(self.ConvBlock1, inputs)
        x2 = self._branch(self.ConvBlock2, x1)
        x3 = self._branch(self.ConvBlock3, x2)
        residual = inputs if self.ConvBlock4 is None else self.ConvBlock4(ops.relu(instance_norm(inputs)))
        return residual + ops.concatenate([x1, x2, x3], axis=-1)

    def compute_output_shape(self, input_shape):
        return _with_channels(input_shape, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def _check_hourglass_size(layer, input_shape):
    for size in input_shape[1:3]:
        if size is not None and (size % HOURGLASS_SIZE_MULTIPLE or size < HOURGLASS_MIN_SIZE):
            raise ValueError(
                f"{type(layer).__name__} needs height and width that are multiples of {HOURGLASS_SIZE_MULTIPLE} "
                f"(four 2×2 pools) and at least {HOURGLASS_MIN_SIZE}. Received: input_shape={input_shape}"
            )


@keras.saving.register_keras_serializable(package="keras_p2c")
class HourGlassBlock(keras.layers.Layer):
    """Four-level hourglass of ConvBlocks: pool down with skips, then up-sample and add.

    Level i: skip_i = ConvBlock{i}_1(h); h = ConvBlock{i}_2(avgpool(h)), the
    pool taken of the level input. Then ConvBlock5 at the centre, and for
    j = 6..9: h = nearest-up(ConvBlock{j}(h)) + skip_{10−j}. The hourglass of
    Newell et al., 2016 (arXiv:1603.06937) as Photo2Cartoon builds it
    (github.com/minivision-ai/photo2cartoon).

    Args:
        filters: channels throughout, a positive multiple of 4.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined, height and
        width multiples of 16 and at least 32.

    Output shape:
        `(batch, height, width, filters)`.

    Example:
    >>> keras.ops.shape(HourGlassBlock(8)(np.random.rand(1, 32, 32, 8)))
    (1, 32, 32, 8)
    """

    LEVELS = 4

    def __init__(self, filters, **kwargs):
        check_positive_int("filters", filters, multiple=4)
        super().__init__(**kwargs)
        self.filters = filters
        block = lambda name: ConvBlock(filters, dtype=self.dtype_policy, name=name)  # noqa: E731
        self.skip_blocks = [block(f"ConvBlock{i}_1") for i in range(1, self.LEVELS + 1)]
        self.down_blocks = [block(f"ConvBlock{i}_2") for i in range(1, self.LEVELS + 1)]
        self.ConvBlock5 = block("ConvBlock5")
        self.up_blocks = [block(f"ConvBlock{j}") for j in range(6, 6 + self.LEVELS)]

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        _check_hourglass_size(self, input_shape)
        self.input_spec = _map_spec(channels)
        inner = _with_channels(input_shape, self.filters)
        self.skip_blocks[0].build(input_shape)
        self.down_blocks[0].build(input_shape)
        for layer in self.skip_blocks[1:] + self.down_blocks[1:] + [self.ConvBlock5] + self.up_blocks:
            layer.build(inner)

    def call(self, inputs):
        skips, h = [], inputs
        for skip_block, down_block in zip(self.skip_blocks, self.down_blocks):
            skips.append(skip_block(h))
            h = down_block(avg_pool_2x2(h))
        h = self.ConvBlock5(h)
        for up_block, skip in zip(self.up_blocks, reversed(skips)):
            h = upsample_nearest(up_block(h)) + skip
        return h

    def compute_output_shape(self, input_shape):
        return _with_channels(input_shape, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="keras_p2c")
class HourGlass(keras.layers.Layer):
    """Hourglass module with an RGB side output, used twice before the encoder and twice after the decoder.

    ll = HG(x) with HG = [HourGlassBlock, ConvBlock, conv 1×1 (no bias),
    InstanceNorm, ReLU]; side = Conv1(ll), a 1×1 conv to 3 channels. With
    `use_res`, returns x + Conv2(ll) + Conv3(side); without, returns side.
    Photo2Cartoon's module (github.com/minivision-ai/photo2cartoon) around
    the hourglass of Newell et al., 2016 (arXiv:1603.06937).

    Args:
        filters: channels of the hourglass, a positive multiple of 4; with
            `use_res` the input must have this many channels.
        use_res: residual output (True) or the 3-channel side output (False).
            Defaults to `True`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined, height and
        width multiples of 16 and at least 32.

    Output shape:
        `(batch, height, width, filters)` with `use_res`, else `(batch, height, width, 3)`.

    Example:
    >>> keras.ops.shape(HourGlass(8, use_res=False)(np.random.rand(1, 32, 32, 8)))
    (1, 32, 32, 3)
    """

    def __init__(self, filters, use_res=True, **kwargs):
        check_positive_int("filters", filters, multiple=4)
        check_bool("use_res", use_res)
        super().__init__(**kwargs)
        self.filters = filters
        self.use_res = use_res
        self.HG_0 = HourGlassBlock(filters, dtype=self.dtype_policy, name="HG_0")
        self.HG_1 = ConvBlock(filters, dtype=self.dtype_policy, name="HG_1")
        self.HG_2 = _conv(self, filters, 1, "HG_2")
        self.Conv1 = _conv(self, 3, 1, "Conv1", use_bias=True)
        if use_res:
            self.Conv2 = _conv(self, filters, 1, "Conv2", use_bias=True)
            self.Conv3 = _conv(self, filters, 1, "Conv3", use_bias=True)

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        if self.use_res and channels != self.filters:
            raise ValueError(
                f"HourGlass with use_res=True needs {self.filters} input channels. Received: input_shape={input_shape}"
            )
        self.input_spec = _map_spec(channels)
        inner = _with_channels(input_shape, self.filters)
        self.HG_0.build(input_shape)
        for layer in (self.HG_1, self.HG_2, self.Conv1):
            layer.build(inner)
        if self.use_res:
            self.Conv2.build(inner)
            self.Conv3.build(_with_channels(input_shape, 3))

    def call(self, inputs):
        ll = ops.relu(instance_norm(self.HG_2(self.HG_1(self.HG_0(inputs)))))
        side = self.Conv1(ll)
        if not self.use_res:
            return side
        return inputs + self.Conv2(ll) + self.Conv3(side)

    def compute_output_shape(self, input_shape):
        return _with_channels(input_shape, self.filters if self.use_res else 3)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "use_res": self.use_res}


@keras.saving.register_keras_serializable(package="keras_p2c")
class ResnetBlock(keras.layers.Layer):
    """Residual block [pad, conv 3×3, IN, ReLU, pad, conv 3×3, IN] + input, the encoder's bottleneck.

    U-GAT-IT's ResnetBlock (Kim et al., 2020, arXiv:1907.10830) with the
    bias-free convolutions Photo2Cartoon's generator gives it
    (github.com/minivision-ai/photo2cartoon).

    Args:
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined.

    Output shape:
        Same as input.

    Example:
    >>> keras.ops.shape(ResnetBlock()(np.random.rand(2, 8, 8, 4)))
    (2, 8, 8, 4)
    """

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        self.input_spec = _map_spec(channels)
        # Both convolutions keep the input's channel count, first known here:
        # the constructor, as the models call it, takes none.
        # `conv_block.1` and `conv_block.5` in the reference's Sequential.
        self.conv_block_1 = _conv(self, channels, 3, "conv_block_1")
        self.conv_block_5 = _conv(self, channels, 3, "conv_block_5")
        self.conv_block_1.build(input_shape)
        self.conv_block_5.build(input_shape)

    def call(self, inputs):
        h = ops.relu(instance_norm(self.conv_block_1(reflect_pad(inputs, 1))))
        return inputs + instance_norm(self.conv_block_5(reflect_pad(h, 1)))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_p2c")
class ResnetSoftAdaLINBlock(keras.layers.Layer):
    """Residual decoder block normalised by Soft-AdaLIN (content + style statistics).

    [pad, conv1 3×3, SoftAdaLIN norm1, ReLU, pad, conv2 3×3, SoftAdaLIN norm2] + x.
    Photo2Cartoon's decoder block (github.com/minivision-ai/photo2cartoon),
    U-GAT-IT's ResnetAdaILNBlock (Kim et al., 2020, arXiv:1907.10830) with
    Soft-AdaLIN in place of AdaLIN.

    Args:
        use_bias: biases in the Soft-AdaLIN Dense layers (see `SoftAdaLIN`).
            Defaults to `True`.
        epsilon: normalisation epsilon. Defaults to `1e-5`, the reference's.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        A list `[x, content, style]`: x `(batch, height, width, channels)`,
        content and style `(batch, features)`, all sizes but batch defined.

    Output shape:
        Same as x.

    Example:
    >>> x, content, style = np.random.rand(2, 8, 8, 4), np.random.rand(2, 4), np.random.rand(2, 4)
    >>> keras.ops.shape(ResnetSoftAdaLINBlock()([x, content, style]))
    (2, 8, 8, 4)
    """

    def __init__(self, use_bias=True, epsilon=EPSILON, **kwargs):
        check_bool("use_bias", use_bias)
        check_positive_number("epsilon", epsilon)
        super().__init__(**kwargs)
        self.use_bias = use_bias
        self.epsilon = epsilon
        norm = lambda name: SoftAdaLIN(use_bias, epsilon, dtype=self.dtype_policy, name=name)  # noqa: E731
        self.norm1 = norm("norm1")
        self.norm2 = norm("norm2")

    def build(self, input_shape):
        x_shape = split_input_shapes(self, input_shape, ("x", "content", "style"))[0]
        channels = defined_channels(self, x_shape, ndim=4, what="x")
        self.input_spec = [_map_spec(channels), keras.InputSpec(ndim=2), keras.InputSpec(ndim=2)]
        # Both convolutions keep x's channel count, first known here: the
        # constructor, as the models call it, takes none. Made after norm1 and
        # norm2, as before, which keeps the order of the weights list.
        self.conv1 = _conv(self, channels, 3, "conv1")
        self.conv2 = _conv(self, channels, 3, "conv2")
        self.conv1.build(x_shape)
        self.conv2.build(x_shape)
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)

    def call(self, inputs):
        x, content, style = inputs
        h = ops.relu(self.norm1([self.conv1(reflect_pad(x, 1)), content, style]))
        return x + self.norm2([self.conv2(reflect_pad(h, 1)), content, style])

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias, "epsilon": self.epsilon}
