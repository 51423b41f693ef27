"""The Face-ID loss's fixed preprocessing: the reference's face crop of a generator image and its
align-corners bilinear resize to MobileFaceNet's 112×112 input (torch's `F.interpolate` semantics)."""

import numpy as np
from keras import ops

# The reference's face crop of a generator-sized image, as fractions of the height:
# top = h/2.1·(0.8 − 0.33), bottom = h − h/2.1·0.3. Kept as the reference writes
# them, so the float products (and so the int() truncations) are the same.
CROP_DIVISOR = 2.1
CROP_TOP = 0.8 - 0.33
CROP_BOTTOM = 0.3


def face_crop_box(height, width):
    """The reference's square face crop of an image, as `(top, bottom, left, right)` (end-exclusive).

    At 256×256 this is rows 57:219, columns 47:209. `int()` truncates toward
    zero, as the reference's.
    """
    top = int(height / CROP_DIVISOR * CROP_TOP)
    bottom = int(height - height / CROP_DIVISOR * CROP_BOTTOM)
    size = bottom - top
    left = int(width / 2 - size / 2)
    right = left + size
    if size < 2 or left < 0 or right > width:
        raise ValueError(
            f"The Face-ID crop of a {height}×{width} image would be rows {top}:{bottom}, columns "
            f"{left}:{right}, which does not fit: give images at least about as wide as they are tall "
            "(the generator's square training images)."
        )
    return top, bottom, left, right


def align_corners_matrix(in_size, out_size):
    """`(out_size, in_size)` float32 matrix of 1-D linear interpolation with align_corners=True.

    Row i holds the two weights torch's `F.interpolate(..., mode="bilinear",
    align_corners=True)` gives output sample i. The source position and the
    weights are computed in float32, as torch does on CPU.
    """
    matrix = np.zeros((out_size, in_size), dtype="float32")
    if out_size == 1 or in_size == 1:
        matrix[:, 0] = 1.0
        return matrix
    scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    source = scale * np.arange(out_size, dtype="float32")
    lower = np.minimum(source.astype("int64"), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    upper_weight = np.clip(source - lower.astype("float32"), 0.0, 1.0).astype("float32")
    rows = np.arange(out_size)
    matrix[rows, lower] += np.float32(1.0) - upper_weight
    matrix[rows, upper] += upper_weight
    return matrix


def resize_bilinear_align_corners(images, size):
    """Bilinear resize of an NHWC batch with align_corners=True (torch's `F.interpolate` semantics).

    `keras.ops.image.resize` has no align_corners, so the resize is two
    interpolation-matrix products, one per axis (differentiable on every backend).

    Args:
        images: `(batch, height, width, channels)` with static height and width.
        size: `(out_height, out_width)`.
    """
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"resize_bilinear_align_corners needs a static height and width. Received: shape={images.shape}"
        )
    rows = ops.convert_to_tensor(align_corners_matrix(height, size[0]), dtype=images.dtype)
    cols = ops.convert_to_tensor(align_corners_matrix(width, size[1]), dtype=images.dtype)
    x = ops.einsum("oh,nhwc->nowc", rows, images)
    return ops.einsum("pw,nowc->nopc", cols, x)
