"""Crop quality: the share of a crop outside the photo, and the thresholds both photo tools judge by."""

import numpy as np

from keras_p2c.faces import MAX_OUTSIDE, MIN_CROP, FaceQuality, face_quality, prepare_faces


def test_thresholds():
    assert not FaceQuality(crop_side=MIN_CROP, outside=MAX_OUTSIDE).is_small()
    assert not FaceQuality(crop_side=MIN_CROP, outside=MAX_OUTSIDE).is_cut()
    assert FaceQuality(crop_side=MIN_CROP - 1, outside=0.0).is_small()
    assert FaceQuality(crop_side=512, outside=MAX_OUTSIDE + 0.01).is_cut()
    assert FaceQuality(crop_side=64, outside=0.0).enlargement() == 4.0


def test_a_face_cut_by_the_border_has_its_crop_outside(astronaut):
    (whole,) = prepare_faces(astronaut)
    inside = face_quality(whole, astronaut.shape)
    assert inside.crop_side == whole.crop_box.side and inside.outside < 0.05
    cut = np.full_like(astronaut, 255)
    cut[:, :300] = astronaut[:, 212:]  # the face cut by the left edge
    (face,) = prepare_faces(cut)
    assert face_quality(face, cut.shape).outside > inside.outside + 0.1
