"""Reflection padding, the only spatial padding the reference networks use."""

import keras
from keras import ops

from keras_p2c.layers.validation import check_non_negative_int


def reflect_pad(x, padding):
    """Pads the two spatial axes of an NHWC tensor by reflection (edge not repeated)."""
    if padding == 0:
        return x
    return ops.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode="reflect")


@keras.saving.register_keras_serializable(package="keras_p2c")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by reflection, like `torch.nn.ReflectionPad2d`.

    Args:
        padding: pixels added on each side of both spatial axes. Defaults to `1`.
        **kwargs: base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, height, width, channels)`, with height and width > padding.

    Output shape:
        `(batch, height + 2 * padding, width + 2 * padding, channels)`.

    Example:
    >>> keras.ops.shape(ReflectionPadding2D(1)(np.zeros((1, 4, 4, 3))))
    (1, 6, 6, 3)
    """

    def __init__(self, padding=1, **kwargs):
        check_non_negative_int("padding", padding)
        super().__init__(**kwargs)
        self.padding = padding

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"ReflectionPadding2D expects a rank-4 input (channels last). Received: input_shape={input_shape}"
            )
        for size in input_shape[1:3]:
            # A reflection never repeats the edge pixel, so it needs more pixels than it adds.
            if size is not None and size <= self.padding:
                raise ValueError(
                    f"ReflectionPadding2D(padding={self.padding}) needs height and width above {self.padding}. "
                    f"Received: input_shape={input_shape}"
                )
        self.input_spec = keras.InputSpec(ndim=4)

    def call(self, inputs):
        return reflect_pad(inputs, self.padding)

    def compute_output_shape(self, input_shape):
        grow = lambda size: None if size is None else size + 2 * self.padding  # noqa: E731
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
