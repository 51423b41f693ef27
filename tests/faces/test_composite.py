import cv2
import numpy as np
import pytest

from keras_p2c.faces import (
    cartoon_to_float,
    composite_cartoon,
    generator_input,
    paste_back,
    prepare_faces,
    resize_to_generator,
)
from keras_p2c.faces.crop import crop_corners_in_image


@pytest.fixture(scope="module")
def prepared(astronaut):
    (face,) = prepare_faces(astronaut)  # no segmenter: all-ones mask
    return face


def test_generator_input_formula():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    mask = rng.random((8, 8)).astype(np.float32)
    out = generator_input(face, mask)
    assert out.dtype == np.float32 and out.shape == (8, 8, 3)
    m = mask.astype(np.float64)[..., None]
    expected = 2.0 * (m * face + (1 - m) * 255.0) / 255.0 - 1.0
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(generator_input(face, np.zeros((8, 8))), 1.0)  # all background: white


def test_resize_to_generator_is_area_averaging():
    rng = np.random.default_rng(1)
    face = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    mask = rng.random((512, 512)).astype(np.float32)
    face_256, mask_256 = resize_to_generator(face, mask)
    # Halving with area interpolation is the mean of each 2x2 block.
    block_mean = face.reshape(256, 2, 256, 2, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(face_256 - block_mean).max() <= 0.5 + 1e-9
    np.testing.assert_allclose(mask_256, mask.reshape(256, 2, 256, 2).mean(axis=(1, 3)), atol=1e-6)
    _, ones = resize_to_generator(face, None)
    assert ones.shape == (256, 256) and (ones == 1).all()
    with pytest.raises(ValueError, match="mask"):
        resize_to_generator(face, mask[:100])


def test_composite_cartoon_truncates_like_the_reference():
    output = np.full((1, 3, 3), 100.7 / 127.5 - 1.0, np.float32)  # cartoon value 100.7 everywhere
    mask = np.array([[1.0, 0.0, 0.5]], np.float32)
    result = composite_cartoon(output, mask)
    assert result.dtype == np.uint8
    # m = 1: 100.7 -> 100 (truncated, not rounded); m = 0: white; m = 0.5: 177.85 -> 177.
    np.testing.assert_array_equal(result[0, :, 0], [100, 255, 177])
    np.testing.assert_allclose(cartoon_to_float(np.array([-1.0, 0.0, 1.0])), [0.0, 127.5, 255.0])


def _region(photo_shape, prepared, grow):
    region = np.zeros(photo_shape[:2], np.uint8)
    corners = crop_corners_in_image(prepared.matrix, prepared.crop_box)
    cv2.fillConvexPoly(region, np.round(corners).astype(np.int32), 1)
    return cv2.dilate(region, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0


def test_paste_back_changes_only_the_face_region(astronaut, prepared):
    cartoon = np.zeros((256, 256, 3), np.float32)  # a black "cartoon" changes every covered pixel
    result = paste_back(astronaut, cartoon, prepared.mask_256, prepared.crop_box, prepared.matrix)
    assert result.shape == astronaut.shape and result.dtype == np.uint8
    changed = np.any(result != astronaut, axis=2)
    assert changed.sum() > 0.5 * prepared.crop_box.side**2
    assert not changed[~_region(astronaut.shape, prepared, grow=2)].any()
    # With a zero mask nothing changes at all.
    untouched = paste_back(astronaut, cartoon, np.zeros((256, 256)), prepared.crop_box, prepared.matrix)
    np.testing.assert_array_equal(untouched, astronaut)


def test_paste_back_inverts_crop_and_rotation(astronaut, prepared):
    # Pasting the (unmasked) aligned face itself must give back the photo in the face region.
    face_256 = cv2.resize(prepared.crop, (256, 256), interpolation=cv2.INTER_AREA)
    result = paste_back(astronaut, face_256, None, prepared.crop_box, prepared.matrix, feather=0.0)
    inner = _region(astronaut.shape, prepared, grow=0)
    inner = cv2.erode(inner.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    error = np.abs(result.astype(int) - astronaut.astype(int))[inner]
    assert error.mean() < 4.0, error.mean()  # two resamplings blur, geometry errors would be tens


def test_paste_back_bad_arguments(astronaut, prepared):
    with pytest.raises(ValueError, match="square"):
        paste_back(astronaut, np.zeros((256, 200, 3)), None, prepared.crop_box, prepared.matrix)
    with pytest.raises(ValueError, match="photo"):
        paste_back(astronaut[:, :, 0], np.zeros((256, 256, 3)), None, prepared.crop_box, prepared.matrix)
