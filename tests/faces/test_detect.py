import cv2
import numpy as np
import pytest

from keras_p2c.faces import KEYPOINT_NAMES, NoFaceError, detect_faces, prepare_faces


def test_astronaut_has_one_confident_face(astronaut_face):
    face = astronaut_face
    assert face.confidence > 0.99
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 512
    # All five points inside the box; eyes above the nose, nose above the mouth; image-relative left/right.
    assert np.all((face.keypoints >= [x1, y1]) & (face.keypoints <= [x2, y2]))
    left_eye, right_eye, nose, mouth_left, mouth_right = face.keypoints
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert set(face.to_dict()["keypoints"]) == set(KEYPOINT_NAMES)


def test_downscaled_detection_maps_back(astronaut, astronaut_face):
    # Detect on a 2x copy through a 512-px detection image: points come back in the copy's pixels.
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    (face,) = detect_faces(big, max_side=512)
    expected = (astronaut_face.keypoints + 0.5) * 2 - 0.5
    np.testing.assert_allclose(face.keypoints, expected, atol=4.0)


def test_faces_are_sorted_largest_first(astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 1024, 3), 255, np.uint8)
    canvas[:, :512] = astronaut
    canvas[100:356, 600:856] = small
    faces = detect_faces(canvas, max_side=None)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[2] < 512 < faces[1].box[0]


def test_no_face():
    blank = np.full((120, 160, 3), 200, np.uint8)
    assert detect_faces(blank) == []
    with pytest.raises(NoFaceError, match="blank.png: no face found"):
        prepare_faces(blank, name="blank.png")


def test_bad_input():
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_faces(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_faces(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="min_confidence"):
        detect_faces(np.zeros((10, 10, 3), np.uint8), min_confidence=2)
