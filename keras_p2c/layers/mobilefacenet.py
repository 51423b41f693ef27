"""MobileFaceNet's building blocks (InsightFace_Pytorch's `Conv_block`, `Linear_block`, `Depth_Wise`).

Sub-layer names follow the state dict of `model_mobilefacenet.pth`, so the port table
(`keras_p2c.weights.mobilefacenet_table`) reads straight across; padding is explicit zero padding on both
sides, as torch's `padding=`.
"""

import keras

# torch's BatchNorm default; Keras' is 1e-3.
BN_EPSILON = 1e-5
# torch's PReLU default slope.
PRELU_INIT = 0.25


@keras.saving.register_keras_serializable(package="keras_p2c")
class FaceConvBlock(keras.layers.Layer):
    """Convolution (plain or depthwise, no bias) → BatchNorm (eps 1e-5) → optional per-channel PReLU.

    The reference's `Conv_block` (with PReLU) and `Linear_block` (without).
    Padding is explicit zero padding on both sides, as torch's `padding=`;
    Keras' "same" would pad a stride-2 convolution on one side only.

    Args:
        filters: output channels (for `depthwise=True`, must equal the input channels).
        kernel_size: square kernel size.
        strides: square stride.
        padding: zero padding on every side before the "valid" convolution.
        depthwise: a depthwise convolution (one filter per channel).
        activation: end with PReLU (`Conv_block`) or not (`Linear_block`).

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, out_height, out_width, filters)`, out size
        `(size + 2·padding − kernel_size) // strides + 1`.
    """

    def __init__(self, filters, kernel_size=1, strides=1, padding=0, depthwise=False, activation=True, **kwargs):
        super().__init__(**kwargs)
        for name, value, minimum in (
            ("filters", filters, 1),
            ("kernel_size", kernel_size, 1),
            ("strides", strides, 1),
            ("padding", padding, 0),
        ):
            if not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.depthwise = depthwise
        self.activation = activation
        policy = self.dtype_policy
        self.pad = keras.layers.ZeroPadding2D(padding, dtype=policy, name="pad") if padding else None
        conv_options = {"strides": strides, "use_bias": False, "dtype": policy, "name": "conv"}
        if depthwise:
            self.conv = keras.layers.DepthwiseConv2D(kernel_size, **conv_options)
        else:
            self.conv = keras.layers.Conv2D(filters, kernel_size, **conv_options)
        self.bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, dtype=policy, name="bn")
        self.prelu = None
        if activation:
            self.prelu = keras.layers.PReLU(
                alpha_initializer=keras.initializers.Constant(PRELU_INIT),
                shared_axes=[1, 2],
                dtype=policy,
                name="prelu",
            )

    def build(self, input_shape):
        if self.depthwise and input_shape[-1] != self.filters:
            raise ValueError(
                f"A depthwise FaceConvBlock keeps its channels: filters={self.filters} but the input has "
                f"{input_shape[-1]} channels. Received: input_shape={input_shape}"
            )
        conv_input = input_shape
        if self.pad is not None:
            self.pad.build(input_shape)
            conv_input = self.pad.compute_output_shape(input_shape)
        self.conv.build(conv_input)
        output_shape = self.compute_output_shape(input_shape)
        self.bn.build(output_shape)
        if self.prelu is not None:
            self.prelu.build(output_shape)

    def call(self, inputs, training=None):
        x = inputs if self.pad is None else self.pad(inputs)
        x = self.bn(self.conv(x), training=training)
        return x if self.prelu is None else self.prelu(x)

    def compute_output_shape(self, input_shape):
        def size(length):
            if length is None:
                return None
            return (length + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depthwise": self.depthwise,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="keras_p2c")
class DepthWiseBlock(keras.layers.Layer):
    """MobileFaceNet bottleneck: 1×1 expand (PReLU) → depthwise 3×3 (PReLU) → linear 1×1 project.

    The reference's `Depth_Wise`; with `residual=True` (the blocks of its
    `Residual` stacks) the input is added to the projection.

    Args:
        filters: output channels (equal to the input channels when residual).
        groups: channels inside the block (the reference's `groups` argument).
        strides: stride of the depthwise 3×3 convolution.
        residual: add the input to the output.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), filters)`.
    """

    def __init__(self, filters, groups, strides=1, residual=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.groups = groups
        self.strides = strides
        self.residual = residual
        policy = self.dtype_policy
        self.conv = FaceConvBlock(groups, dtype=policy, name="conv")
        self.conv_dw = FaceConvBlock(
            groups, 3, strides=strides, padding=1, depthwise=True, dtype=policy, name="conv_dw"
        )
        self.project = FaceConvBlock(filters, activation=False, dtype=policy, name="project")

    def build(self, input_shape):
        if self.residual and (input_shape[-1] != self.filters or self.strides != 1):
            raise ValueError(
                "A residual DepthWiseBlock needs stride 1 and as many input channels as filters. "
                f"Received: filters={self.filters}, strides={self.strides}, input_shape={input_shape}"
            )
        self.conv.build(input_shape)
        inner = self.conv.compute_output_shape(input_shape)
        self.conv_dw.build(inner)
        self.project.build(self.conv_dw.compute_output_shape(inner))

    def call(self, inputs, training=None):
        x = self.conv(inputs, training=training)
        x = self.project(self.conv_dw(x, training=training), training=training)
        return inputs + x if self.residual else x

    def compute_output_shape(self, input_shape):
        inner = self.conv_dw.compute_output_shape(self.conv.compute_output_shape(input_shape))
        return tuple(inner[:-1]) + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "strides": self.strides,
            "residual": self.residual,
        }
