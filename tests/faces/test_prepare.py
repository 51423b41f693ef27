import numpy as np
import pytest

from keras_p2c.faces import NoFaceError, SeveralFacesError, paste_all, prepare_faces, select_faces


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
    prepared = prepare_faces(canvas, all_faces=True, max_side=None)
    assert len(prepared) == 2
    assert len(prepare_faces(canvas, max_side=None)) == 1
    # A mirrored face gives a crop of about the same size (MTCNN is not exactly mirror-symmetric).
    assert abs(prepared[0].crop_box.side / prepared[1].crop_box.side - 1) < 0.03
    outputs = [np.full((256, 256, 3), -1.0, np.float32)] * 2  # black cartoons
    result = paste_all(canvas, prepared, outputs)
    assert result.shape == canvas.shape
    changed = np.any(result != canvas, axis=2)
    assert changed[:, :512].any() and changed[:, 512:].any()
    assert not changed[400:].any()  # the lower part of the photo (suits, helmet) is untouched


def test_select_faces_is_the_one_choice_of_faces(two_faces):
    (largest,), found = select_faces(two_faces, max_side=None)
    assert found == 2
    everyone, _ = select_faces(two_faces, "all", max_side=None)
    assert len(everyone) == 2 and everyone[0] is not largest and everyone[0].area == largest.area
    with pytest.raises(SeveralFacesError, match="group.png: 2 faces found"):
        select_faces(two_faces, "single", max_side=None, name="group.png")
    with pytest.raises(NoFaceError, match="blank.png: no face found .*detect-size"):
        select_faces(np.full((120, 160, 3), 200, np.uint8), name="blank.png")
    with pytest.raises(ValueError, match="faces"):
        select_faces(two_faces, "most")
