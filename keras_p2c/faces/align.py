"""Rotating a photo so the eyes are level, with the reference's geometry.

The reference (minivision-ai photo2cartoon, `utils/face_detect.py`) turns the whole image about its
centre by the angle of the eye line, onto a canvas grown to hold every rotated pixel,
`new_w = int(w|cos| + h|sin|)`, `new_h = int(w|sin| + h|cos|)`, shifted by
`(new_w // 2 - w // 2, new_h // 2 - h // 2)` so the content stays centred. The 2x3 matrix equals
OpenCV's `getRotationMatrix2D(centre, degrees(angle), 1)` plus that shift; the image is resampled
bilinearly with a white border, and the landmarks go through the same matrix. The reference takes the
angle from the outer eye corners (68-point landmarks 36 and 45, `level_eye_corners`); with MTCNN we use
the eye centres (`level_eyes`).
The matrix is kept: `composite.paste_back` inverts it to put a cartoon face back into the photo.
"""

import dataclasses
import math

import cv2
import numpy as np

WHITE = (255, 255, 255)

# The outer eye corners of the 68-point (iBUG) scheme, image-left first: the reference's eye line.
OUTER_EYE_CORNERS = (36, 45)


@dataclasses.dataclass(frozen=True, eq=False)
class Rotation:
    """An eye-levelling rotation of an image.

    Attributes:
        matrix: `(2, 3)` float64 affine matrix, original image pixels -> rotated canvas pixels.
        size: `(width, height)` of the rotated canvas.
        angle: the rotation in radians (the eye line's angle; beyond +-pi/2 only for an upside-down face).
    """

    matrix: np.ndarray
    size: tuple
    angle: float

    @property
    def inverse(self):
        """`(2, 3)` matrix mapping canvas pixels back to original image pixels."""
        return cv2.invertAffineTransform(self.matrix)


def transform_points(matrix, points):
    """Apply a `(2, 3)` affine matrix to `(N, 2)` points; returns `(N, 2)` float64."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ np.asarray(matrix, dtype=np.float64)[:, :2].T + np.asarray(matrix, dtype=np.float64)[:, 2]


def eye_angle(left_eye, right_eye):
    """Angle (radians) of the line from the image-left eye to the image-right eye.

    Folded into (-pi/2, pi/2] like the reference's `arctan(dy / dx)`, so a face is never turned
    upside down; a vertical eye line gives pi/2.
    """
    dx = float(right_eye[0]) - float(left_eye[0])
    dy = float(right_eye[1]) - float(left_eye[1])
    if dx == 0.0:
        return math.pi / 2 if dy != 0.0 else 0.0
    return math.atan(dy / dx)


def rotation_for(image_shape, angle):
    """The reference's rotation about the image centre by `angle` (radians), canvas grown to fit.

    Args:
        image_shape: `(height, width, ...)` of the image.
        angle: radians; positive turns a line going down to the right back to horizontal.

    Returns:
        `Rotation`.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    cos, sin = math.cos(angle), math.sin(angle)
    new_w = int(width * abs(cos) + height * abs(sin))
    new_h = int(width * abs(sin) + height * abs(cos))
    shift_x = new_w // 2 - width // 2
    shift_y = new_h // 2 - height // 2
    matrix = np.array(
        [
            [cos, sin, (1 - cos) * width / 2.0 - sin * height / 2.0 + shift_x],
            [-sin, cos, sin * width / 2.0 + (1 - cos) * height / 2.0 + shift_y],
        ],
        dtype=np.float64,
    )
    return Rotation(matrix=matrix, size=(new_w, new_h), angle=float(angle))


def level_eyes(keypoints, image_shape):
    """The `Rotation` that makes the eyes level, from MTCNN keypoints (`(5, 2)`, left eye first).

    The reference's folded angle leaves an upside-down face upside down; here, when the mouth would
    end up above the eyes, the rotation is turned by a further half turn so the face is upright.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    angle = eye_angle(keypoints[0], keypoints[1])
    rotation = rotation_for(image_shape, angle)
    eyes_y, mouth_y = _eye_and_mouth_y(transform_points(rotation.matrix, keypoints))
    if mouth_y < eyes_y:
        rotation = rotation_for(image_shape, angle - math.pi if angle > 0 else angle + math.pi)
    return rotation


def level_eye_corners(landmarks, image_shape):
    """The reference's own `Rotation` from 68 landmarks: the line through the outer eye corners made level.

    Unlike `level_eyes` there is no half-turn for an upside-down face: the reference has none, and
    dlib's frontal detector finds upright faces only.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
    left, right = OUTER_EYE_CORNERS
    return rotation_for(image_shape, eye_angle(landmarks[left], landmarks[right]))


def _eye_and_mouth_y(keypoints):
    return (keypoints[0, 1] + keypoints[1, 1]) / 2.0, (keypoints[3, 1] + keypoints[4, 1]) / 2.0


def rotate_image(rgb, rotation):
    """Resample the whole image onto the rotated canvas (bilinear, white outside the photo)."""
    return cv2.warpAffine(
        rgb, rotation.matrix, rotation.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=WHITE
    )


def align_image(rgb, keypoints):
    """Rotate a photo so the eyes of one face are level.

    Args:
        rgb: `(H, W, 3)` uint8 image.
        keypoints: `(5, 2)` MTCNN keypoints of the face (see `detect.KEYPOINT_NAMES`).

    Returns:
        `(aligned_image, aligned_keypoints, rotation)`: the rotated canvas, the keypoints in it
        (eyes at equal y up to float rounding) and the `Rotation` used.
    """
    rotation = level_eyes(keypoints, rgb.shape)
    return rotate_image(rgb, rotation), transform_points(rotation.matrix, keypoints), rotation
