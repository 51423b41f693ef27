"""The square face crop of the reference, estimated from MTCNN's five points.

Reference geometry (minivision-ai photo2cartoon, `utils/preprocess.py`; 68-point landmarks on the
eye-levelled image): take the landmark box, top (eyebrows) .. bottom (chin) and left .. right (jaw);
with `H = bottom - top`, `W = right - left`,

    top'  = int(top - 0.8 H)     bottom' = int(bottom + 0.3 H)
    left' = int(left - 0.3 W)    right'  = int(right + 0.3 W)

(`int` truncates toward zero), then square it about the box: if taller, `left' -= (dh - dw) // 2`
and `right' = left' + dh`, else the same vertically. Bounds are inclusive, so the crop is a white
canvas of `bottom' - top' + 1` pixels square with the image copied in where it overlaps. For a real
face the height term wins (2.1 H > 1.6 W), so the crop is 2.1 H tall with the eyebrows 0.8 H below
its top (38 %) and the chin 0.3 H above its bottom (86 %): forehead and hair above the face, some
neck below, the face centred horizontally.

MTCNN gives five points instead: eye centres, nose tip, mouth corners. We estimate the 68-point box
from them with the proportions of a mean 68-point face (the dlib/iBUG mean shape published with
OpenFace's `align_dlib.py`, levelled on its eye centres). With `E` the midpoint of the eye centres,
`M` the midpoint of the mouth corners, `d = M_y - E_y` the eye-to-mouth height and `e` the eye
distance (in the aligned image), that mean face has `d = 1.091 e` and

    highest eyebrow point  E_y - 0.333 u    (`BROWS_ABOVE_EYES`)
    chin (point 8)         E_y + 1.762 u    (`CHIN_BELOW_EYES`)
    jaw width              2.138 u          (`JAW_WIDTH`), centred within 0.02 u of (E_x + M_x) / 2

with the unit `u = d` (so `H = 2.095 d`). For a real face we take `u = (d + 1.091 e) / 2`, the mean
of two estimates that different things disturb: a smile lifts the mouth corners and shortens `d` (the
smiling astronaut has `d = 0.94 e`), a turned head shortens `e`, a nod shortens `d`. Faces are
centred on `(E_x + M_x) / 2`, which stays on the face's midline when the head turns. The reference
margins are then applied to this box unchanged (`reference_crop_box`).

Check on `skimage.data.astronaut()` against the reference's procedure on dlib's 68 landmarks (in
`tests/faces/test_crop.py`): crop centres 1.6 px and 2.0 px apart and sides of 186 vs 189 px; with
`u = d` alone the side was 170 px (chin cut short by the smile).

With dlib's 68 points (`landmarks="dlib68"`, `keras_p2c.faces.landmarks`) there is nothing to
estimate: `landmarks_crop_box` applies the same margins to the points' own box, as the reference does.

All boxes are `CropBox(top, bottom, left, right)` with inclusive integer bounds in the coordinates of
the eye-levelled image (`align.rotate_image`); `crop_to_image_matrix` maps crop pixels back to the
original photo.
"""

from typing import NamedTuple

import cv2
import numpy as np

from keras_p2c.faces.align import WHITE

# Mean-face proportions in units of its eye-to-mouth height, and that height per eye distance (see above).
BROWS_ABOVE_EYES = 0.333
CHIN_BELOW_EYES = 1.762
JAW_WIDTH = 2.138
MOUTH_PER_EYE_DISTANCE = 1.091

# The reference's margins around the 68-point landmark box, as fractions of its height / width.
MARGIN_TOP = 0.8
MARGIN_BOTTOM = 0.3
MARGIN_SIDE = 0.3


class CropBox(NamedTuple):
    """A square crop with inclusive integer bounds; it is `side` x `side` pixels."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def side(self):
        return self.bottom - self.top + 1


def face_frame(keypoints):
    """Where a face is and how large, from five aligned keypoints: `(centre_x, eyes_y, unit)`.

    `centre_x` is halfway between the eye and mouth midpoints, `eyes_y` the height of the eye
    midpoint and `unit` the mean of the eye-to-mouth height and 1.091 x the eye distance (see above).

    Raises:
        ValueError: the mouth is not below the eyes (the points do not describe an upright face).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(5, 2)
    eyes = (keypoints[0] + keypoints[1]) / 2.0
    mouth = (keypoints[3] + keypoints[4]) / 2.0
    eye_to_mouth = mouth[1] - eyes[1]
    if not eye_to_mouth > 0.0:
        raise ValueError(
            f"The mouth keypoints (mean y {mouth[1]:.1f}) are not below the eyes (mean y {eyes[1]:.1f}) in "
            f"the aligned image; cannot place a face crop. Received: keypoints={keypoints.tolist()}"
        )
    eye_distance = float(np.hypot(*(keypoints[1] - keypoints[0])))
    unit = (eye_to_mouth + MOUTH_PER_EYE_DISTANCE * eye_distance) / 2.0
    return (eyes[0] + mouth[0]) / 2.0, eyes[1], unit


def landmark_box(keypoints):
    """Estimate the 68-point landmark box `(top, bottom, left, right)` from five aligned keypoints.

    Args:
        keypoints: `(5, 2)` MTCNN keypoints (left eye, right eye, nose, mouth left, mouth right) in
            the eye-levelled image.

    Returns:
        Four floats: top, bottom, left, right.

    Raises:
        ValueError: the mouth is not below the eyes (the points do not describe an upright face).
    """
    centre_x, eyes_y, unit = face_frame(keypoints)
    return (
        eyes_y - BROWS_ABOVE_EYES * unit,
        eyes_y + CHIN_BELOW_EYES * unit,
        centre_x - JAW_WIDTH / 2.0 * unit,
        centre_x + JAW_WIDTH / 2.0 * unit,
    )


def _trunc(value):
    # Python's int() truncates toward zero (not floor); the reference relies on it.
    return int(value)


def reference_crop_box(top, bottom, left, right):
    """The reference's square crop box around a landmark box (margins, truncation, squaring)."""
    box_h = bottom - top
    box_w = right - left
    top_ = _trunc(top - MARGIN_TOP * box_h)
    bottom_ = _trunc(bottom + MARGIN_BOTTOM * box_h)
    left_ = _trunc(left - MARGIN_SIDE * box_w)
    right_ = _trunc(right + MARGIN_SIDE * box_w)
    crop_h = bottom_ - top_
    crop_w = right_ - left_
    if crop_h > crop_w:
        left_ -= (crop_h - crop_w) // 2
        right_ = left_ + crop_h
    else:
        top_ -= (crop_w - crop_h) // 2
        bottom_ = top_ + crop_w
    return CropBox(top_, bottom_, left_, right_)


def face_crop_box(aligned_keypoints):
    """The square crop box (aligned-image coordinates) for a face, from its five aligned keypoints."""
    return reference_crop_box(*landmark_box(aligned_keypoints))


def landmarks_crop_box(aligned_landmarks):
    """The reference's crop box itself, from all 68 landmarks in the eye-levelled image (no estimate)."""
    points = np.asarray(aligned_landmarks, dtype=np.float64).reshape(-1, 2)
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    return reference_crop_box(top, bottom, left, right)


def crop_image(image, box):
    """Cut `box` out of `image` onto a white canvas, exactly as the reference (no resampling).

    Args:
        image: `(H, W, C)` uint8 image, normally the eye-levelled photo.
        box: `CropBox`.

    Returns:
        `(box.side, box.side, C)` uint8 crop; parts of the box outside the image are white.
    """
    channels = image.shape[2] if image.ndim == 3 else 1
    crop = np.full((box.side, box.side, channels), 255, dtype=np.uint8)
    height, width = image.shape[:2]
    top, bottom = max(box.top, 0), min(box.bottom, height - 1)
    left, right = max(box.left, 0), min(box.right, width - 1)
    if top <= bottom and left <= right:
        crop[top - box.top : bottom - box.top + 1, left - box.left : right - box.left + 1] = (
            image[top : bottom + 1, left : right + 1].reshape(bottom - top + 1, right - left + 1, channels)
        )
    return crop if image.ndim == 3 else crop[:, :, 0]


def image_to_crop_matrix(rotation_matrix, box):
    """`(2, 3)` matrix mapping original-photo pixels to pixels of the crop `box` of the aligned image."""
    matrix = np.array(rotation_matrix, dtype=np.float64)
    matrix[:, 2] -= (box.left, box.top)
    return matrix


def crop_to_image_matrix(rotation_matrix, box):
    """`(2, 3)` matrix mapping crop pixels back to original-photo pixels (the inverse of the above)."""
    return cv2.invertAffineTransform(image_to_crop_matrix(rotation_matrix, box))


def warp_crop(rgb, rotation_matrix, box):
    """The crop of the aligned image, resampled straight from the original photo.

    Equal to `crop_image(rotate_image(rgb, rotation), box)` up to float rounding in the bilinear
    weights, but only the crop's pixels are computed, so it does not grow with the photo's size.

    Args:
        rgb: `(H, W, 3)` uint8 original photo.
        rotation_matrix: the `(2, 3)` eye-levelling matrix (`Rotation.matrix`).
        box: `CropBox` in aligned coordinates.

    Returns:
        `(box.side, box.side, 3)` uint8 crop, white outside the photo.
    """
    return cv2.warpAffine(
        rgb,
        image_to_crop_matrix(rotation_matrix, box),
        (box.side, box.side),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=WHITE,
    )


def crop_corners_in_image(rotation_matrix, box):
    """`(4, 2)` positions in the original photo of the crop's corner pixels (for bounds and drawing)."""
    side = box.side - 1
    corners = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float64)
    matrix = crop_to_image_matrix(rotation_matrix, box)
    return corners @ matrix[:, :2].T + matrix[:, 2]
