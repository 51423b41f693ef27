"""Reading image files as RGB uint8 tensors, and finding the files that cannot be read."""

import logging
import re

import tensorflow as tf

logger = logging.getLogger(__name__)


def decode_rgb(contents):
    """Decodes JPEG/PNG/BMP/GIF/WebP bytes into an RGB uint8 image.

    Gray images are repeated over three channels and an alpha channel is dropped (not composited), as both
    reference loaders do (PIL `convert("RGB")`, OpenCV `imread`). 16-bit PNGs keep their 8 high bits; an
    animated GIF gives its first frame.

    Args:
        contents: a scalar string tensor, the encoded file.

    Returns:
        A `(height, width, 3)` uint8 tensor.
    """
    image = tf.io.decode_image(contents, channels=0, dtype=tf.uint8, expand_animations=False)
    channels = tf.shape(image)[-1]
    image = tf.cond(channels >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))
    image.set_shape([None, None, 3])
    return image


def load_rgb(path):
    """Reads and decodes one image file (a scalar string tensor path) into an RGB uint8 image."""
    return decode_rgb(tf.io.read_file(path))


def find_unreadable(paths):
    """Returns `{path: reason}` for the files in `paths` that cannot be read or decoded.

    Every file is decoded once, in parallel, by the same decoder the input pipelines use; the reason is
    TensorFlow's error message for that file.
    """
    paths = [str(path) for path in paths]
    if not paths:
        return {}
    # A failing element is dropped by ignore_errors, so the survivors are the readable files.
    checked = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(lambda path: (path, tf.shape(load_rgb(path))), num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors()
    )
    readable = {path.decode() for path, _ in checked.as_numpy_iterator()}
    unreadable = {}
    for path in paths:
        if path in readable:
            continue
        try:
            load_rgb(tf.constant(path))
            unreadable[path] = "could not be decoded"
        except (tf.errors.OpError, ValueError) as error:
            unreadable[path] = _short_message(error)
    return unreadable


def drop_unreadable(paths, folder):
    """The readable files of `paths`, logging one warning per unreadable file.

    Raises:
        ValueError: none of the files in `folder` can be read.
    """
    unreadable = find_unreadable(paths)
    for path, reason in unreadable.items():
        logger.warning("Skipping unreadable image %s: %s", path, reason)
    readable = [path for path in paths if path not in unreadable]
    if not readable:
        raise ValueError(
            f"None of the {len(paths)} image(s) in {folder} can be decoded (first: {paths[0]}: "
            f"{unreadable[paths[0]]}). Check that they are valid JPEG/PNG/BMP files."
        )
    return readable


def _short_message(error):
    message = getattr(error, "message", None) or str(error)
    # Drop TensorFlow's "{{function_node ...}}" prefix and "[Op:...]" suffix: they say nothing about the file.
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", message)
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", message).strip()
