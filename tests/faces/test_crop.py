import numpy as np

from keras_p2c.faces import align_image, crop_image, face_crop_box, landmark_box, reference_crop_box, rotate_image
from keras_p2c.faces.align import eye_angle, rotation_for, transform_points
from keras_p2c.faces.crop import CropBox, crop_corners_in_image, warp_crop

# The 68 landmarks (x, y) that dlib 20.0.1's shape predictor (face_recognition_models 0.3.0, iBUG
# 68-point scheme, as the reference's landmark detector) finds on skimage.data.astronaut(); computed
# once outside the test suite, as an independent check of the 5-point crop estimate.
DLIB68 = np.array(
    [
        179, 104, 180, 116, 181, 127, 182, 139, 185, 150, 191, 160, 200, 168, 209, 176, 220, 178, 232, 177, 243, 171,
        253, 163, 260, 154, 265, 143, 268, 131, 270, 120, 272, 108, 186, 94, 192, 88, 200, 87, 208, 89, 216, 92, 236,
        93, 244, 91, 252, 91, 260, 92, 265, 99, 226, 102, 225, 111, 225, 119, 225, 127, 214, 131, 219, 133, 224, 134,
        229, 133, 234, 132, 195, 101, 200, 98, 207, 98, 212, 104, 206, 104, 199, 104, 237, 106, 243, 100, 250, 100,
        255, 105, 250, 107, 244, 107, 201, 139, 209, 139, 218, 139, 224, 141, 230, 140, 238, 140, 246, 141, 238, 151,
        229, 155, 222, 156, 216, 155, 208, 150, 204, 141, 218, 143, 223, 144, 230, 143, 243, 142, 229, 150, 223, 151,
        217, 150
    ],
    dtype=np.float64,
).reshape(68, 2)


def test_reference_crop_box_by_hand():
    # H = 10, W = 8: top' = int(1 - 8) = -7, bottom' = int(11 + 3) = 14, left' = int(-2.4) = -2
    # (toward zero, not -3), right' = int(10.4) = 10; taller by 9, so left' -= 4 and right' = left' + 21.
    assert reference_crop_box(1.0, 11.0, 0.0, 8.0) == CropBox(top=-7, bottom=14, left=-6, right=15)
    # Wider than tall: top' = int(-1.6) = -1, bottom' = int(2.6) = 2, left' = -6, right' = 26; wider by
    # 29, so top' -= 14 and bottom' = top' + 32.
    assert reference_crop_box(0.0, 2.0, 0.0, 20.0) == CropBox(top=-15, bottom=17, left=-6, right=26)


def test_crop_box_follows_the_documented_geometry(astronaut, astronaut_face):
    _, keypoints, _ = align_image(astronaut, astronaut_face.keypoints)
    eyes = (keypoints[0] + keypoints[1]) / 2
    mouth = (keypoints[3] + keypoints[4]) / 2
    eye_distance = np.linalg.norm(keypoints[1] - keypoints[0])
    unit = ((mouth[1] - eyes[1]) + 1.091 * eye_distance) / 2
    top, bottom = eyes[1] - 0.333 * unit, eyes[1] + 1.762 * unit
    left, right = (eyes[0] + mouth[0]) / 2 - 1.069 * unit, (eyes[0] + mouth[0]) / 2 + 1.069 * unit
    np.testing.assert_allclose(landmark_box(keypoints), (top, bottom, left, right), atol=1e-9)

    box = face_crop_box(keypoints)
    height = bottom - top
    side = int(bottom + 0.3 * height) - int(top - 0.8 * height)  # the height term wins for a face
    assert box.bottom - box.top == box.right - box.left == side
    assert box.top == int(top - 0.8 * height)
    assert abs((box.left + box.right) / 2 - (eyes[0] + mouth[0]) / 2) <= 1.0


def test_crop_places_the_face_like_the_reference(astronaut, astronaut_face):
    aligned, keypoints, rotation = align_image(astronaut, astronaut_face.keypoints)
    box = face_crop_box(keypoints)
    crop = crop_image(aligned, box)
    assert crop.shape == (box.side, box.side, 3)
    # Eyes a little above the middle, mouth well above the bottom (chin and neck below), centred.
    relative = (keypoints - [box.left, box.top]) / box.side
    assert 0.35 < relative[:2, 1].mean() < 0.55
    assert 0.55 < relative[3:, 1].mean() < 0.75
    assert abs(relative[:, 0].mean() - 0.5) < 0.05

    # The reference's own procedure on the 68 landmarks (angle from the outer eye corners 36 and 45),
    # compared in photo coordinates.
    ref_rotation = rotation_for(astronaut.shape, eye_angle(DLIB68[36], DLIB68[45]))
    landmarks = transform_points(ref_rotation.matrix, DLIB68)
    (left, top), (right, bottom) = landmarks.min(axis=0), landmarks.max(axis=0)
    ref_box = reference_crop_box(top, bottom, left, right)
    ours = crop_corners_in_image(rotation.matrix, box).mean(axis=0)
    theirs = crop_corners_in_image(ref_rotation.matrix, ref_box).mean(axis=0)
    # Measured: centres 1.6 and 2.0 px apart, sides 186 and 189 px.
    assert np.all(np.abs(ours - theirs) < 0.03 * ref_box.side), (ours, theirs, ref_box.side)
    assert abs(box.side / ref_box.side - 1) < 0.04, (box.side, ref_box.side)


def test_warp_crop_equals_rotate_then_crop(astronaut, astronaut_face):
    aligned, keypoints, rotation = align_image(astronaut, astronaut_face.keypoints)
    box = face_crop_box(keypoints)
    direct = warp_crop(astronaut, rotation.matrix, box).astype(int)
    two_step = crop_image(rotate_image(astronaut, rotation), box).astype(int)
    assert direct.shape == two_step.shape
    assert np.abs(direct - two_step).max() <= 2


def test_crop_image_outside_is_white():
    image = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    box = CropBox(top=-3, bottom=6, left=5, right=14)  # sticks out above and to the right
    crop = crop_image(image, box)
    assert crop.shape == (10, 10, 3)
    for y in range(10):
        for x in range(10):
            iy, ix = y + box.top, x + box.left
            expected = image[iy, ix] if 0 <= iy < 10 and 0 <= ix < 12 else [255, 255, 255]
            np.testing.assert_array_equal(crop[y, x], expected)
    assert (crop_image(image, CropBox(50, 59, 50, 59)) == 255).all()  # entirely outside
