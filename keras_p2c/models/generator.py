"""The Photo2Cartoon generator: hourglasses, encoder, CAM, Soft-AdaLIN decoder, hourglasses.

Layout (NHWC, shapes for a 256×256 input at ngf=32; see the reference spec):

    ConvBlock1   reflect-pad 3, conv 7×7 → ngf, IN, ReLU        256² × 32
    HourGlass1-2 residual hourglasses                            256² × 32
    DownBlock1-2 reflect-pad 1, conv 3×3 stride 2, IN, ReLU      64² × 128
    EncodeBlock  n_blocks residual blocks; content features =
                 global average pool after each
    cam          CAM attention → features, cam_logit, heatmap
    FC           style features: MLP on the pooled CAM output
                 (light) or on the flattened map (full)
    DecodeBlock  n_blocks Soft-AdaLIN residual blocks; block k
                 gets the content feature of encoder block n+1−k
    UpBlock1-2   nearest ×2, reflect-pad 1, conv 3×3, LIN, ReLU  256² × 32
    HourGlass3   residual hourglass; HourGlass4 returns RGB     256² × 3
    ConvBlock2   reflect-pad 3, conv 7×7 3 → 3, tanh             256² × 3

Sub-layer names follow the reference state dict (`DownBlock1.1.weight` →
`DownBlock1_conv`, `FC.0.weight` → `FC_0`, `gap_fc` → `cam/gap_fc`).
"""

import keras
from keras import ops

from keras_p2c.layers.attention import CAM
from keras_p2c.layers.blocks import HourGlass, ResnetBlock, ResnetSoftAdaLINBlock, upsample_nearest
from keras_p2c.layers.normalization import LIN, instance_norm
from keras_p2c.layers.padding import reflect_pad

# Four 2×2 pools inside every hourglass.
SIZE_MULTIPLE = 16


def options_from_fc0(ngf, fc0_inputs):
    """`light` and `img_size` of a generator, from ngf and the input width of its first Dense layer `FC.0`.

    A light generator pools the encoder's `4·ngf` channels first (input width `4·ngf`, any image size; the
    release's 256); a full one flattens a `(img_size / 4)²` map of them.
    """
    light = fc0_inputs == ngf * 4
    img_size = 256 if light else int(round((fc0_inputs / (ngf * 4)) ** 0.5)) * 4
    return {"light": bool(light), "img_size": img_size}


@keras.saving.register_keras_serializable(package="keras_p2c")
class Generator(keras.Model):
    """Photo2Cartoon generator (U-GAT-IT ResnetGenerator with Soft-AdaLIN and hourglasses).

    Args:
        ngf: channels after the stem (32 in Photo2Cartoon); the bottleneck has 4·ngf.
        img_size: training image size; used only by the full (non-light)
            model, whose style MLP sees the flattened (img_size/4)² map.
        n_blocks: residual blocks in the encoder and in the decoder.
        light: style MLP on the pooled CAM output (Photo2Cartoon) instead of
            the flattened map.
        linear_bias: biases in the Dense layers (the original release has
            them; the PaddleGAN port has none).

    Input shape:
        `(batch, height, width, 3)` in [-1, 1], height and width multiples of 16.

    Output shape:
        A tuple `(image, cam_logit, heatmap)`: image `(batch, height, width, 3)`
        in (-1, 1), cam_logit `(batch, 2)`, heatmap `(batch, height/4, width/4, 1)`.

    Example:
    >>> generator = Generator(ngf=8)
    >>> image, cam_logit, heatmap = generator(np.zeros((1, 64, 64, 3)))
    """

    def __init__(self, ngf=32, img_size=256, n_blocks=4, light=True, linear_bias=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(ngf, int) or ngf <= 0 or ngf % 4:
            raise ValueError(f"`ngf` must be a positive multiple of 4. Received: ngf={ngf}")
        if not isinstance(n_blocks, int) or n_blocks < 1:
            raise ValueError(f"`n_blocks` must be a positive integer. Received: n_blocks={n_blocks}")
        if not isinstance(img_size, int) or img_size <= 0 or img_size % SIZE_MULTIPLE:
            raise ValueError(f"`img_size` must be a positive multiple of {SIZE_MULTIPLE}. Received: img_size={img_size}")
        self.ngf = ngf
        self.img_size = img_size
        self.n_blocks = n_blocks
        self.light = light
        self.linear_bias = linear_bias
        policy = self.dtype_policy
        bottleneck = ngf * 4

        def conv(filters, kernel_size, name, strides=1):
            return keras.layers.Conv2D(filters, kernel_size, strides=strides, use_bias=False, dtype=policy, name=name)

        def dense(name):
            return keras.layers.Dense(bottleneck, activation="relu", use_bias=linear_bias, dtype=policy, name=name)

        self.ConvBlock1_conv = conv(ngf, 7, "ConvBlock1_conv")
        self.HourGlass1 = HourGlass(ngf, dtype=policy, name="HourGlass1")
        self.HourGlass2 = HourGlass(ngf, dtype=policy, name="HourGlass2")
        self.DownBlock1_conv = conv(ngf * 2, 3, "DownBlock1_conv", strides=2)
        self.DownBlock2_conv = conv(bottleneck, 3, "DownBlock2_conv", strides=2)
        self.EncodeBlocks = [ResnetBlock(dtype=policy, name=f"EncodeBlock{k}") for k in range(1, n_blocks + 1)]
        self.cam = CAM(use_bias=linear_bias, dtype=policy, name="cam")
        self.FC_0 = dense("FC_0")
        self.FC_2 = dense("FC_2")
        self.DecodeBlocks = [
            ResnetSoftAdaLINBlock(use_bias=linear_bias, dtype=policy, name=f"DecodeBlock{k}")
            for k in range(1, n_blocks + 1)
        ]
        self.UpBlock1_conv = conv(ngf * 2, 3, "UpBlock1_conv")
        self.UpBlock1_norm = LIN(dtype=policy, name="UpBlock1_norm")
        self.UpBlock2_conv = conv(ngf, 3, "UpBlock2_conv")
        self.UpBlock2_norm = LIN(dtype=policy, name="UpBlock2_norm")
        self.HourGlass3 = HourGlass(ngf, dtype=policy, name="HourGlass3")
        self.HourGlass4 = HourGlass(ngf, use_res=False, dtype=policy, name="HourGlass4")
        self.ConvBlock2_conv = conv(3, 7, "ConvBlock2_conv")

    def build(self, input_shape):
        batch = input_shape[0]
        ngf, bottleneck = self.ngf, self.ngf * 4
        if input_shape[-1] != 3:
            raise ValueError(f"Generator expects RGB input (3 channels). Received: input_shape={input_shape}")
        for size in input_shape[1:3]:
            if size is not None and size % SIZE_MULTIPLE:
                raise ValueError(
                    f"Generator input height and width must be multiples of {SIZE_MULTIPLE}. "
                    f"Received: input_shape={input_shape}"
                )
        height, width = input_shape[1], input_shape[2]
        quarter = lambda size: None if size is None else size // 4  # noqa: E731
        full = (batch, height, width, ngf)
        small = (batch, quarter(height), quarter(width), bottleneck)
        vector = (batch, bottleneck)
        self.ConvBlock1_conv.build(input_shape)
        self.HourGlass1.build(full)
        self.HourGlass2.build(full)
        self.DownBlock1_conv.build(full)
        self.DownBlock2_conv.build((batch, None, None, ngf * 2))
        for block in self.EncodeBlocks:
            block.build(small)
        self.cam.build(small)
        if self.light:
            self.FC_0.build(vector)
        else:
            self.FC_0.build((batch, (self.img_size // 4) ** 2 * bottleneck))
        self.FC_2.build(vector)
        for block in self.DecodeBlocks:
            block.build([small, vector, vector])
        self.UpBlock1_conv.build((batch, None, None, bottleneck))
        self.UpBlock1_norm.build((batch, None, None, ngf * 2))
        self.UpBlock2_conv.build((batch, None, None, ngf * 2))
        self.UpBlock2_norm.build(full)
        self.HourGlass3.build(full)
        self.HourGlass4.build(full)
        self.ConvBlock2_conv.build((batch, None, None, 3))
        self.built = True

    def _down(self, conv, x):
        return ops.relu(instance_norm(conv(reflect_pad(x, 1))))

    def _up(self, conv, norm, x):
        return ops.relu(norm(conv(reflect_pad(upsample_nearest(x), 1))))

    def call(self, inputs, training=None):
        # `training` changes nothing (no dropout or batch statistics); it is accepted so that
        # `stateless_call(..., training=...)` and a GAN's train step can pass it uniformly.
        del training
        x = ops.relu(instance_norm(self.ConvBlock1_conv(reflect_pad(inputs, 3))))
        x = self.HourGlass2(self.HourGlass1(x))
        x = self._down(self.DownBlock2_conv, self._down(self.DownBlock1_conv, x))

        content_features = []
        for block in self.EncodeBlocks:
            x = block(x)
            content_features.append(ops.mean(x, axis=(1, 2)))

        x, cam_logit, heatmap = self.cam(x)
        style_input = ops.mean(x, axis=(1, 2)) if self.light else ops.reshape(x, (ops.shape(x)[0], -1))
        style_features = self.FC_2(self.FC_0(style_input))

        for block, content in zip(self.DecodeBlocks, reversed(content_features)):
            x = block([x, content, style_features])

        x = self._up(self.UpBlock1_conv, self.UpBlock1_norm, x)
        x = self._up(self.UpBlock2_conv, self.UpBlock2_norm, x)
        x = self.HourGlass4(self.HourGlass3(x))
        image = ops.tanh(self.ConvBlock2_conv(reflect_pad(x, 3)))
        # Outputs stay float32 under mixed precision: losses and PNG encoding want full range.
        return tuple(ops.cast(t, "float32") for t in (image, cam_logit, heatmap))

    def compute_output_shape(self, input_shape):
        quarter = lambda size: None if size is None else size // 4  # noqa: E731
        batch, height, width = input_shape[0], input_shape[1], input_shape[2]
        return (batch, height, width, 3), (batch, 2), (batch, quarter(height), quarter(width), 1)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "ngf": self.ngf,
            "img_size": self.img_size,
            "n_blocks": self.n_blocks,
            "light": self.light,
            "linear_bias": self.linear_bias,
        }
