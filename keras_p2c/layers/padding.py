"""Reflection padding, the only spatial padding the reference networks use."""

import keras
from keras import ops


def reflect_pad(x, padding):
    """Pads the two spatial axes of an NHWC tensor by reflection (edge not repeated)."""
    if padding == 0:
        return x
    return ops.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode="reflect")


@keras.saving.register_keras_serializable(package="keras_p2c")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by reflection, like `torch.nn.ReflectionPad2d`.

    Args:
        padding: pixels added on each side of both spatial axes.

    Input shape:
        `(batch, height, width, channels)`, with height and width > padding.

    Output shape:
        `(batch, height + 2 * padding, width + 2 * padding, channels)`.

    Example:
    >>> ReflectionPadding2D(1)(np.zeros((1, 4, 4, 3))).shape
    (1, 6, 6, 3)
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f"`padding` must be a non-negative integer. Received: padding={padding}")
        self.padding = padding

    def call(self, inputs):
        return reflect_pad(inputs, self.padding)

    def compute_output_shape(self, input_shape):
        grow = lambda size: None if size is None else size + 2 * self.padding  # noqa: E731
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
