"""Resizing, random crop and flip, and scaling to [-1, 1]: the reference's image transforms in TensorFlow ops.

The transforms follow PaddleGAN's photo2cartoon config (resize bicubic → random crop → random horizontal flip →
(x − 127.5) / 127.5). The original PyTorch code flips first and resizes with PIL *bilinear* (antialiased when
shrinking); flipping before or after a resize and a uniformly random crop gives the same distribution, so the only
difference is the interpolation, and bicubic is kept, as in PaddleGAN.
"""

import tensorflow as tf

# OpenCV's INTER_CUBIC uses Keys' cubic with a = −0.75 (tf.image.resize's bicubic uses −0.5), so the resized
# images match PaddleGAN's `cv2.resize` to within one grey level.
_CUBIC_A = -0.75


def _cubic_taps(in_size, out_size):
    """Source indices `(out_size, 4)` and weights `(out_size, 4)` of OpenCV's bicubic resize along one axis."""
    scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    position = (tf.range(out_size, dtype=tf.float32) + 0.5) * scale - 0.5
    start = tf.floor(position)
    t = position - start
    a = _CUBIC_A
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    weights = tf.stack([w0, w1, w2, 1.0 - w0 - w1 - w2], axis=1)
    # Taps outside the image repeat the edge pixel (OpenCV's resize border).
    indices = tf.cast(start, tf.int32)[:, None] + tf.range(-1, 3)[None, :]
    return tf.clip_by_value(indices, 0, in_size - 1), weights


def resize_bicubic(image, size):
    """Resizes an RGB uint8 image to `size × size` like `cv2.resize(..., interpolation=cv2.INTER_CUBIC)`.

    No antialiasing when shrinking (neither OpenCV nor PaddleGAN has any).

    Args:
        image: `(height, width, channels)` uint8 tensor.
        size: output side in pixels (the image is squashed to a square, as in both references).

    Returns:
        `(size, size, channels)` uint8 tensor (rounded and clipped, as OpenCV's uint8 output is).
    """
    shape = tf.shape(image)
    rows, row_weights = _cubic_taps(shape[0], size)
    cols, col_weights = _cubic_taps(shape[1], size)
    pixels = tf.cast(image, tf.float32)
    # Separable: 4 taps along the height, then 4 along the width. (Written as einsums: a sum of broadcast
    # products instead is mis-rewritten by Grappler's arithmetic optimiser in TF 2.21 when the size is unknown.)
    pixels = tf.einsum("hk,hkwc->hwc", row_weights, tf.gather(pixels, rows, axis=0))
    pixels = tf.einsum("wk,hwkc->hwc", col_weights, tf.gather(pixels, cols, axis=1))
    resized = tf.cast(tf.clip_by_value(tf.round(pixels), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(resized, [size, size, image.shape[-1]])


def random_crop_flip(image, size, seed):
    """A random `size × size` crop, flipped left-right with probability 0.5; both drawn from `seed`.

    Args:
        image: `(height, width, channels)` tensor with height and width ≥ `size`.
        size: crop side in pixels.
        seed: shape `(2,)` int tensor; the same seed gives the same crop and flip (stateless ops).
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    image = tf.image.stateless_random_crop(image, [size, size, image.shape[-1]], seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def to_unit_range(image):
    """uint8 `[0, 255]` → float32 `[-1, 1]`, as `(x − 127.5) / 127.5`."""
    return (tf.cast(image, tf.float32) - 127.5) / 127.5


def train_transform(image, load_size, img_size, seed):
    """Resize to `load_size` (bicubic), random crop `img_size`, random flip, scale to [-1, 1]."""
    return to_unit_range(random_crop_flip(resize_bicubic(image, load_size), img_size, seed))


def eval_transform(image, img_size):
    """Resize to `img_size` (bicubic) and scale to [-1, 1]; no randomness."""
    return to_unit_range(resize_bicubic(image, img_size))
