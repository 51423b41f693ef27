import math

import cv2
import numpy as np

from keras_p2c.faces import align_image, level_eyes, rotate_image, transform_points
from keras_p2c.faces.align import rotation_for


def test_eyes_level_after_alignment(astronaut, astronaut_face):
    aligned, keypoints, rotation = align_image(astronaut, astronaut_face.keypoints)
    assert abs(keypoints[0, 1] - keypoints[1, 1]) < 1.0
    assert aligned.shape[:2] == (rotation.size[1], rotation.size[0])
    # The astronaut's head is tilted by a few degrees: a real rotation, and the canvas grew.
    assert 1.0 < abs(math.degrees(rotation.angle)) < 10.0
    assert aligned.shape[0] > 512 and aligned.shape[1] > 512
    # Corners of the canvas lie outside the rotated photo: white border.
    np.testing.assert_array_equal(aligned[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(aligned[-1, -1], [255, 255, 255])


def test_rotation_matches_opencv_and_reference_canvas():
    height, width, angle = 300, 500, math.radians(17.0)
    rotation = rotation_for((height, width, 3), angle)
    cos, sin = math.cos(angle), math.sin(angle)
    new_w, new_h = int(width * abs(cos) + height * abs(sin)), int(width * abs(sin) + height * abs(cos))
    assert rotation.size == (new_w, new_h)
    expected = cv2.getRotationMatrix2D((width / 2, height / 2), 17.0, 1.0)
    expected[:, 2] += (new_w // 2 - width // 2, new_h // 2 - height // 2)
    np.testing.assert_allclose(rotation.matrix, expected, atol=1e-9)
    # The photo's corners all land on the canvas (content centred, nothing cut off).
    corners = transform_points(rotation.matrix, [[0, 0], [width, 0], [width, height], [0, height]])
    assert corners.min() >= -1.0
    assert corners[:, 0].max() <= new_w + 1.0 and corners[:, 1].max() <= new_h + 1.0


def test_synthetic_tilt_is_undone():
    # Eyes 60 px apart on a line tilted by 20 degrees (down to the right), mouth below.
    eyes_centre = np.array([200.0, 150.0])
    tilt = math.radians(20.0)
    direction = np.array([math.cos(tilt), math.sin(tilt)])
    normal = np.array([-math.sin(tilt), math.cos(tilt)])
    points = np.array(
        [
            eyes_centre - 30 * direction,
            eyes_centre + 30 * direction,
            eyes_centre + 35 * normal,
            eyes_centre + 65 * normal - 25 * direction,
            eyes_centre + 65 * normal + 25 * direction,
        ]
    )
    rotation = level_eyes(points, (300, 400, 3))
    assert math.isclose(rotation.angle, tilt, abs_tol=1e-9)
    moved = transform_points(rotation.matrix, points)
    assert abs(moved[0, 1] - moved[1, 1]) < 1e-9
    assert moved[3, 1] > moved[0, 1]  # mouth below the eyes


def test_upside_down_face_is_turned_upright():
    points = np.array([[80.0, 100.0], [140.0, 100.0], [110.0, 70.0], [85.0, 40.0], [135.0, 40.0]])
    rotation = level_eyes(points, (200, 200, 3))
    moved = transform_points(rotation.matrix, points)
    assert abs(moved[0, 1] - moved[1, 1]) < 1e-9
    assert moved[3:, 1].min() > moved[:2, 1].max()


def test_rotate_image_carries_pixels_with_points():
    image = np.full((101, 151, 3), 255, np.uint8)
    image[40:43, 100:103] = 0  # a dark dot around (101, 41)
    rotation = rotation_for(image.shape, math.radians(30.0))
    rotated = rotate_image(image, rotation)
    x, y = transform_points(rotation.matrix, [[101.0, 41.0]])[0]
    assert rotated[round(y), round(x)].max() < 128
