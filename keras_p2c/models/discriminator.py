"""The Photo2Cartoon (U-GAT-IT) discriminator: spectrally normalised PatchGAN with CAM attention.

Layout (NHWC; shapes for a 256×256 input at ndf=32, global n_layers=7 / local 5):

    model_1, model_4, …  reflect-pad 1, spectral conv 4×4 stride 2 (bias),
                         LeakyReLU 0.2; n_layers − 2 of them, channels
                         ndf, 2·ndf, …                      8² × 512 / 32² × 128
    model_{3(n−2)+1}     the same with stride 1, doubling channels
                                                            7² × 1024 / 31² × 256
    cam                  CAM: spectral gap_fc / gmp_fc without bias (the map
                         weighted by their un-normalised kernels, quirk g-5),
                         plain 1×1 conv1x1 with bias, LeakyReLU 0.2,
                         heatmap = channel sum              7² / 31²
    conv                 reflect-pad 1, spectral conv 4×4 stride 1 → 1
                         channel, no bias                   6² × 1 / 30² × 1

Height and width shrink as h → h/2 per stride-2 layer (floor of (h − 2)/2 + 1),
then by 1 in the stride-1 layer and by 1 in the head. Every reflection pad
needs at least 2 pixels, so the global discriminator takes inputs of at least
96 pixels (64 gives a 1×1 map before the head) and the local one at least 24.

Names and layouts for converting the reference state dict (`disGA`, `disGB`,
`disLA`, `disLB`); `model.{i}` are the reference's Sequential indices 1, 4,
7, … (global: 1–16, local: 1–10), see `keras_p2c.layers.spectral`:

| reference key | Keras variable | layout |
|---|---|---|
| `model.{i}.weight_orig` [O, I, 4, 4] | `model_{i}/kernel` | transpose (2, 3, 1, 0) |
| `model.{i}.bias` | `model_{i}/bias` | same |
| `model.{i}.weight_u` [O] | `model_{i}/u` | same |
| `model.{i}.weight_v` [I·16] (I, kh, kw) | `model_{i}/v` | `v.reshape(I, 4, 4).transpose(1, 2, 0).ravel()` |
| `gap_fc.weight_orig` / `gmp_fc.weight_orig` [1, C] | `cam/gap_fc/kernel` / `cam/gmp_fc/kernel` [C, 1] | transpose |
| `gap_fc.weight_u` / `gmp_fc.weight_u` [1] | `cam/gap_fc/u` / `cam/gmp_fc/u` | same |
| `gap_fc.weight_v` / `gmp_fc.weight_v` [C] | `cam/gap_fc/v` / `cam/gmp_fc/v` | same |
| `conv1x1.weight` [C, 2C, 1, 1], `conv1x1.bias` | `cam/conv1x1/kernel`, `cam/conv1x1/bias` | transpose (2, 3, 1, 0) |
| `conv.weight_orig` [1, C, 4, 4], `.weight_u`, `.weight_v` | `conv/kernel`, `conv/u`, `conv/v` | as `model.{i}` |
"""

import keras
from keras import ops

from keras_p2c.layers.attention import CAM
from keras_p2c.layers.padding import reflect_pad
from keras_p2c.layers.spectral import SpectralConv2D

NEGATIVE_SLOPE = 0.2
KERNEL_SIZE = 4


def body_layer_indices(n_layers):
    """Indices of the spectral convolutions in the reference's `model` Sequential (pad, conv, LeakyReLU)."""
    return [3 * k + 1 for k in range(n_layers - 1)]


def _conv_size(size, stride):
    """Size after reflect-pad 1 and a 4×4 valid convolution, or None when the pad is impossible."""
    if size is None:
        return None
    if size < 2:
        return 0
    return (size + 2 - KERNEL_SIZE) // stride + 1


def spatial_sizes(size, n_layers):
    """Side lengths after each body layer, then of the heatmap and of the logits (None stays None)."""
    strides = [2] * (n_layers - 2) + [1]
    sizes = []
    for stride in strides:
        size = _conv_size(size, stride)
        sizes.append(size)
    sizes.append(_conv_size(size, 1))
    return sizes


def minimum_input_size(n_layers):
    """The smallest side length the discriminator accepts."""
    size = 2
    while min(spatial_sizes(size, n_layers)) < 1:
        size += 1
    return size


@keras.saving.register_keras_serializable(package="keras_p2c")
class Discriminator(keras.Model):
    """Photo2Cartoon discriminator: spectral-norm PatchGAN with CAM attention.

    `training=True` runs one power iteration in every spectral layer (as the
    reference's train mode does on each call); inference uses the stored
    vectors.

    Args:
        ndf: channels of the first layer (32 in Photo2Cartoon).
        n_layers: 7 for the global discriminator, 5 for the local one; the
            body has n_layers − 2 stride-2 layers and one stride-1 layer.

    Input shape:
        `(batch, height, width, channels)` in [-1, 1]; height and width at
        least `minimum_input_size(n_layers)` (96 global, 24 local).

    Output shape:
        A tuple `(logits, cam_logit, heatmap)`: patch logits
        `(batch, h − 1, w − 1, 1)`, cam_logit `(batch, 2)` ([gap, gmp]),
        heatmap `(batch, h, w, 1)`, where h = height / 2^(n_layers − 2) − 1
        (7 and 31 at 256² for the global and local discriminators).

    Example:
    >>> discriminator = Discriminator(ndf=8, n_layers=5)
    >>> logits, cam_logit, heatmap = discriminator(np.zeros((1, 64, 64, 3)))
    >>> logits.shape, heatmap.shape
    ((1, 6, 6, 1), (1, 7, 7, 1))
    """

    def __init__(self, ndf=64, n_layers=5, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(ndf, int) or ndf < 1:
            raise ValueError(f"`ndf` must be a positive integer. Received: ndf={ndf}")
        if not isinstance(n_layers, int) or n_layers < 3:
            raise ValueError(
                "`n_layers` must be an integer >= 3 (7 global, 5 local in Photo2Cartoon). "
                f"Received: n_layers={n_layers}"
            )
        self.ndf = ndf
        self.n_layers = n_layers
        policy = self.dtype_policy
        indices = body_layer_indices(n_layers)
        self.body = [
            SpectralConv2D(
                ndf * 2**k,
                KERNEL_SIZE,
                strides=2 if k < n_layers - 2 else 1,
                use_bias=True,
                dtype=policy,
                name=f"model_{index}",
            )
            for k, index in enumerate(indices)
        ]
        self.cam = CAM(use_bias=False, spectral_norm=True, negative_slope=NEGATIVE_SLOPE, dtype=policy, name="cam")
        self.conv = SpectralConv2D(1, KERNEL_SIZE, use_bias=False, dtype=policy, name="conv")

    @property
    def channels(self):
        """Channels of the CAM features (ndf · 2^(n_layers − 2))."""
        return self.ndf * 2 ** (self.n_layers - 2)

    def _check_size(self, input_shape):
        for size in input_shape[1:3]:
            if size is not None and min(spatial_sizes(size, self.n_layers)) < 1:
                raise ValueError(
                    f"Discriminator(n_layers={self.n_layers}) needs inputs of at least "
                    f"{minimum_input_size(self.n_layers)} pixels in height and width (every reflection pad "
                    f"needs 2). Received: input_shape={input_shape}"
                )

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"The channel axis of the input must be known. Received: input_shape={input_shape}")
        self._check_size(input_shape)
        batch = input_shape[0]
        channels = input_shape[-1]
        for layer in self.body:
            layer.build((batch, None, None, channels))
            channels = layer.filters
        self.cam.build((batch, None, None, channels))
        self.conv.build((batch, None, None, channels))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.body:
            x = ops.leaky_relu(layer(reflect_pad(x, 1), training=training), NEGATIVE_SLOPE)
        x, cam_logit, heatmap = self.cam(x, training=training)
        logits = self.conv(reflect_pad(x, 1), training=training)
        # Outputs stay float32 under mixed precision: the least-squares losses want full range.
        return tuple(ops.cast(t, "float32") for t in (logits, cam_logit, heatmap))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        height = spatial_sizes(input_shape[1], self.n_layers)
        width = spatial_sizes(input_shape[2], self.n_layers)
        return (batch, height[-1], width[-1], 1), (batch, 2), (batch, height[-2], width[-2], 1)

    def spectral_layers(self):
        """Every spectrally normalised layer, in the reference's state-dict order (model, gap_fc, gmp_fc, conv)."""
        return [*self.body, self.cam.gap_fc, self.cam.gmp_fc, self.conv]

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "ndf": self.ndf,
            "n_layers": self.n_layers,
        }
