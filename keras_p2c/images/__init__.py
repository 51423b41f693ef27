"""Image files: reading and writing with a pixel limit (`io`), and finding the inputs (`inputs`).

OpenCV and NumPy only, no TensorFlow: the photo pipelines (faces, inference, dataset preparation,
serving) all read and write images through here.
"""

from keras_p2c.images.inputs import (
    IMAGE_SUFFIXES,
    InputFile,
    expand_inputs,
    name_bytes,
    printable_name,
    short_reason,
    walk_files,
)
from keras_p2c.images.io import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    ImageTooLargeError,
    as_rgb,
    encode_image,
    read_image,
    write_image_atomic,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "ImageTooLargeError",
    "InputFile",
    "as_rgb",
    "encode_image",
    "expand_inputs",
    "name_bytes",
    "printable_name",
    "read_image",
    "short_reason",
    "walk_files",
    "write_image_atomic",
]
