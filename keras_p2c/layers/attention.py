"""Class Activation Map (CAM) attention of U-GAT-IT, for the generator and the discriminators."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_p2c")
class CAM(keras.layers.Layer):
    """CAM attention: auxiliary logits from pooled features, and the re-weighted map.

    gap = spatial mean, gmp = spatial max; `cam_logit = [gap_fc(gap), gmp_fc(gmp)]`.
    The map is multiplied channel-wise by each fc's weight row (never its bias),
    both products are concatenated (gap first), mixed by a 1×1 convolution
    `conv1x1` with bias and activated. `heatmap` is the channel sum.

    In the discriminators the fc layers are spectrally normalised and, as in
    the reference, the map is weighted by their *un-normalised* kernel while the
    logits use the normalised one (the reference takes the first parameter of
    the fc module, which spectral norm has renamed `weight_orig`).

    Args:
        use_bias: whether gap_fc and gmp_fc have a bias.
        spectral_norm: use reference-exact spectrally normalised fc layers.
        negative_slope: 0 for ReLU (generator), 0.2 for LeakyReLU (discriminators).

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        A tuple `(features, cam_logit, heatmap)`: features as input,
        cam_logit `(batch, 2)`, heatmap `(batch, height, width, 1)`.
    """

    def __init__(self, use_bias=True, spectral_norm=False, negative_slope=0.0, **kwargs):
        super().__init__(**kwargs)
        if negative_slope < 0:
            raise ValueError(f"`negative_slope` must be >= 0. Received: negative_slope={negative_slope}")
        self.use_bias = use_bias
        self.spectral_norm = spectral_norm
        self.negative_slope = negative_slope
        if spectral_norm:
            from keras_p2c.layers.spectral import SpectralDense

            make_fc = lambda name: SpectralDense(1, use_bias=use_bias, dtype=self.dtype_policy, name=name)  # noqa: E731
        else:
            make_fc = lambda name: keras.layers.Dense(1, use_bias=use_bias, dtype=self.dtype_policy, name=name)  # noqa: E731
        self.gap_fc = make_fc("gap_fc")
        self.gmp_fc = make_fc("gmp_fc")

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gap_fc.build((input_shape[0], channels))
        self.gmp_fc.build((input_shape[0], channels))
        self.conv1x1 = keras.layers.Conv2D(channels, 1, use_bias=True, dtype=self.dtype_policy, name="conv1x1")
        self.conv1x1.build(tuple(input_shape[:-1]) + (2 * channels,))

    def _fc(self, layer, pooled, training):
        return layer(pooled, training=training) if self.spectral_norm else layer(pooled)

    def call(self, inputs, training=None):
        gap_logit = self._fc(self.gap_fc, ops.mean(inputs, axis=(1, 2)), training)
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
