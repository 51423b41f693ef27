"""Class Activation Map (CAM) attention of U-GAT-IT, for the generator and the discriminators."""

import keras
from keras import ops

from keras_p2c.layers.spectral import SpectralDense
from keras_p2c.layers.validation import check_bool, check_non_negative_number, defined_channels


@keras.saving.register_keras_serializable(package="keras_p2c")
class CAM(keras.layers.Layer):
    """CAM attention: auxiliary logits from pooled features, and the re-weighted map.

    gap = spatial mean, gmp = spatial max; `cam_logit = [gap_fc(gap), gmp_fc(gmp)]`.
    The map is multiplied channel-wise by each fc's weight row (never its bias),
    both products are concatenated (gap first), mixed by a 1×1 convolution
    `conv1x1` with bias and activated. `heatmap` is the channel sum.
    From U-GAT-IT (Kim et al., 2020, arXiv:1907.10830), as used by
    Photo2Cartoon (github.com/minivision-ai/photo2cartoon).

    In the discriminators the fc layers are spectrally normalised (Miyato et
    al., 2018, arXiv:1802.05957) and, as in the reference, the map is weighted
    by their *un-normalised* kernel while the logits use the normalised one
    (the reference takes the first parameter of the fc module, which spectral
    norm has renamed `weight_orig`).

    Args:
        use_bias: whether gap_fc and gmp_fc have a bias. Defaults to `True`
            (the generator's; the discriminators have none).
        spectral_norm: use reference-exact spectrally normalised fc layers
            (`SpectralDense`). Defaults to `False`.
        negative_slope: 0 for ReLU (generator), 0.2 for LeakyReLU
            (discriminators). Defaults to `0.0`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, channels defined.

    Output shape:
        A tuple `(features, cam_logit, heatmap)`: features as input,
        cam_logit `(batch, 2)`, heatmap `(batch, height, width, 1)`.

    Example:
    >>> features, cam_logit, heatmap = CAM()(np.random.rand(2, 8, 8, 4))
    >>> keras.ops.shape(cam_logit), keras.ops.shape(heatmap)
    ((2, 2), (2, 8, 8, 1))
    """

    def __init__(self, use_bias=True, spectral_norm=False, negative_slope=0.0, **kwargs):
        check_bool("use_bias", use_bias)
        check_bool("spectral_norm", spectral_norm)
        check_non_negative_number("negative_slope", negative_slope)
        super().__init__(**kwargs)
        self.use_bias = use_bias
        self.spectral_norm = spectral_norm
        self.negative_slope = negative_slope
        fc = SpectralDense if spectral_norm else keras.layers.Dense
        self.gap_fc = fc(1, use_bias=use_bias, dtype=self.dtype_policy, name="gap_fc")
        self.gmp_fc = fc(1, use_bias=use_bias, dtype=self.dtype_policy, name="gmp_fc")

    def build(self, input_shape):
        channels = defined_channels(self, input_shape, ndim=4)
        self.input_spec = keras.InputSpec(ndim=4, axes={-1: channels})
        self.gap_fc.build((input_shape[0], channels))
        self.gmp_fc.build((input_shape[0], channels))
        # conv1x1 maps the 2C-channel weighted map back to the input's C
        # channels, a size first known here: the constructor, as the models
        # call it, takes no channel count. Made after the fc layers, as before,
        # which keeps the order of the weights list the converters rely on.
        self.conv1x1 = keras.layers.Conv2D(channels, 1, use_bias=True, dtype=self.dtype_policy, name="conv1x1")
        self.conv1x1.build(tuple(input_shape[:-1]) + (2 * channels,))

    def _fc(self, layer, pooled, training):
        return layer(pooled, training=training) if self.spectral_norm else layer(pooled)

    def call(self, inputs, training=None):
        # The spatial mean is accumulated in float32 under mixed precision
        # too, like every statistic in these layers; the max is exact in any
        # dtype.
        gap = ops.cast(ops.mean(ops.cast(inputs, "float32"), axis=(1, 2)), self.compute_dtype)
        gap_logit = self._fc(self.gap_fc, gap, training)
        gmp_logit = self._fc(self.gmp_fc, ops.max(inputs, axis=(1, 2)), training)
        gap_weight = ops.cast(self.gap_fc.kernel[:, 0], self.compute_dtype)
        gmp_weight = ops.cast(self.gmp_fc.kernel[:, 0], self.compute_dtype)
        weighted = ops.concatenate([inputs * gap_weight, inputs * gmp_weight], axis=-1)
        features = self.conv1x1(weighted)
        if self.negative_slope:
            features = ops.leaky_relu(features, self.negative_slope)
        else:
            features = ops.relu(features)
        cam_logit = ops.concatenate([gap_logit, gmp_logit], axis=-1)
        heatmap = ops.sum(features, axis=-1, keepdims=True)
        return features, cam_logit, heatmap

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0], 2), tuple(input_shape[:-1]) + (1,)

    def get_config(self):
        return {
            **super().get_config(),
            "use_bias": self.use_bias,
            "spectral_norm": self.spectral_norm,
            "negative_slope": self.negative_slope,
        }
