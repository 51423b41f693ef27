import numpy as np
import pytest

from keras_p2c.faces import DetectionOptions, NoFaceError, SeveralFacesError, paste_all, prepare_faces, select_faces

FULL_SIZE = DetectionOptions(max_side=None)


def test_prepare_without_segmenter(astronaut, astronaut_face):
    (face,) = prepare_faces(astronaut)
    assert face.input_256.shape == (256, 256, 3) and face.input_256.dtype == np.float32
    assert -1.0 <= face.input_256.min() and face.input_256.max() <= 1.0
    assert (face.mask_256 == 1).all() and face.crop_mask is None
    assert face.crop.shape == (face.crop_box.side, face.crop_box.side, 3)
    np.testing.assert_allclose(face.face.keypoints, astronaut_face.keypoints)
    assert abs(face.aligned_keypoints[0, 1] - face.aligned_keypoints[1, 1]) < 1.0
    # With an all-ones mask the input is the resized crop itself.
    assert np.abs(face.face_256.astype(int) - np.round((face.input_256 + 1) * 127.5)).max() == 0


def test_all_faces_and_paste_all(astronaut):
    canvas = np.full((512, 1024, 3), 255, np.uint8)
    canvas[:, :512] = astronaut
    canvas[:, 512:] = astronaut[:, ::-1]
    prepared = prepare_faces(canvas, all_faces=True, detection=FULL_SIZE)
    assert len(prepared) == 2
    assert len(prepare_faces(canvas, detection=FULL_SIZE)) == 1
    # A mirrored face gives a crop of about the same size (MTCNN is not exactly mirror-symmetric).
    assert abs(prepared[0].crop_box.side / prepared[1].crop_box.side - 1) < 0.03
    outputs = [np.full((256, 256, 3), -1.0, np.float32)] * 2  # black cartoons
    result = paste_all(canvas, prepared, outputs)
    assert result.shape == canvas.shape
    changed = np.any(result != canvas, axis=2)
    assert changed[:, :512].any() and changed[:, 512:].any()
    assert not changed[400:].any()  # the lower part of the photo (suits, helmet) is untouched


def test_select_faces_is_the_one_choice_of_faces(two_faces):
    (largest,), found = select_faces(two_faces, detection=FULL_SIZE)
    assert found == 2
    everyone, _ = select_faces(two_faces, "all", FULL_SIZE)
    assert len(everyone) == 2 and everyone[0] is not largest and everyone[0].area == largest.area
    with pytest.raises(SeveralFacesError, match="group.png: 2 faces found"):
        select_faces(two_faces, "single", FULL_SIZE, name="group.png")
    with pytest.raises(NoFaceError, match="blank.png: no face found .*detect-size"):
        select_faces(np.full((120, 160, 3), 200, np.uint8), name="blank.png")
    with pytest.raises(ValueError, match="faces"):
        select_faces(two_faces, "most")


def test_detection_options_are_checked_when_given():
    assert DetectionOptions() == DetectionOptions(0.9, 640, 20, "mtcnn5")
    bad = [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"min_confidence": "high"}, "min_confidence"),
        ({"max_side": 16}, "at least 32"),
        ({"max_side": 640.5}, "max_side"),
        ({"min_face_size": 0}, "min_face_size"),
        ({"landmarks": "dlib5"}, "landmarks"),
    ]
    for arguments, message in bad:
        with pytest.raises(ValueError, match=message):
            DetectionOptions(**arguments)
    assert "at most 640 px" in DetectionOptions().describe()
    assert "at most" not in DetectionOptions(max_side=None).describe()


def test_the_detection_options_reach_the_detector(two_faces):
    # The two astronauts score 0.9987 and 0.9992: a higher threshold finds neither, and the message says
    # what was searched.
    with pytest.raises(NoFaceError, match=r"confidence >= 0\.9999, detection on a copy at most 640 px"):
        select_faces(two_faces, detection=DetectionOptions(min_confidence=0.9999))
    # On a copy at most 320 px wide the faces are ~27 px: found with MTCNN's default smallest face (20 px),
    # not with 60 px; on a 64-px copy (faces of ~5 px), not at all.
    assert select_faces(two_faces, "all", DetectionOptions(max_side=320))[1] == 2
    for options in (DetectionOptions(max_side=320, min_face_size=60), DetectionOptions(max_side=64)):
        with pytest.raises(NoFaceError):
            select_faces(two_faces, detection=options)
