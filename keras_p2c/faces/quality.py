"""Measures of a prepared face that tell a poor crop: how large it is, and how much of it lies outside the photo.

Dataset preparation skips such faces (a 40-pixel face enlarged to 256 teaches the generator blur; a
crop half outside the photo is half white fill); `p2c cartoonize` still cartoonizes them and
mentions it in its summary. Both judge by the same thresholds, `MIN_CROP` and `MAX_OUTSIDE`.
"""

import dataclasses

import numpy as np

from keras_p2c.faces.crop import crop_to_image_matrix

# A crop under this many photo pixels is enlarged more than 2x to the generator's 256.
MIN_CROP = 128
# More than this share of the crop outside the photo: the face is cut by the border.
MAX_OUTSIDE = 0.25


@dataclasses.dataclass(frozen=True)
class FaceQuality:
    """Attributes:
    crop_side: side of the square crop in photo pixels (the generator sees it at 256).
    outside: share of the crop that lies outside the photo, in [0, 1].
    """

    crop_side: int
    outside: float

    def enlargement(self, size=256):
        """How many times the crop is enlarged to reach the generator's `size`."""
        return size / self.crop_side

    def is_small(self, min_crop=MIN_CROP):
        """The crop is smaller than `min_crop` pixels."""
        return self.crop_side < min_crop

    def is_cut(self, max_outside=MAX_OUTSIDE):
        """More than `max_outside` of the crop lies outside the photo."""
        return self.outside > max_outside


def crop_outside_fraction(photo_shape, rotation_matrix, box, samples=32):
    """Share of a face crop outside the photo (filled white), from a `samples` x `samples` grid of crop pixels.

    Args:
        photo_shape: `(height, width, ...)` of the original photo.
        rotation_matrix: the face's `(2, 3)` eye-levelling matrix.
        box: its `CropBox` (eye-levelled coordinates).
    """
    grid = (np.arange(samples) + 0.5) * box.side / samples - 0.5
    xs, ys = np.meshgrid(grid, grid)
    matrix = crop_to_image_matrix(rotation_matrix, box)
    mapped = np.stack([xs.ravel(), ys.ravel()], axis=1) @ matrix[:, :2].T + matrix[:, 2]
    height, width = photo_shape[:2]
    inside = (
        (mapped[:, 0] >= -0.5) & (mapped[:, 0] <= width - 0.5) & (mapped[:, 1] >= -0.5) & (mapped[:, 1] <= height - 0.5)
    )
    return 1.0 - float(inside.mean())


def face_quality(prepared, photo_shape):
    """`FaceQuality` of a `PreparedFace` cut from a photo of `photo_shape`."""
    return FaceQuality(
        crop_side=prepared.crop_box.side,
        outside=crop_outside_fraction(photo_shape, prepared.matrix, prepared.crop_box),
    )
