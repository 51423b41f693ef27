import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.data.augment import eval_transform, random_crop_flip, resize_bicubic, to_unit_range
from tests.helpers.images import ramp_image

RNG = np.random.default_rng(1)


@pytest.mark.parametrize("height, width, size", [(40, 50, 57), (90, 70, 64), (3, 7, 16)])
def test_resize_matches_opencv_bicubic(height, width, size):
    image = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ours = resize_bicubic(tf.constant(image), size).numpy()
    theirs = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    assert ours.dtype == np.uint8 and ours.shape == (size, size, 3)
    # OpenCV works in fixed point, so a few pixels round the other way.
    difference = np.abs(ours.astype(int) - theirs)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.1


def test_resize_to_the_same_size_is_identity():
    image = RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_bicubic(tf.constant(image), 20).numpy(), image)


def test_crop_and_flip_are_a_crop_of_the_input_and_depend_only_on_the_seed():
    image = ramp_image(40)
    seen = set()
    for draw in range(12):
        seed = tf.constant([draw, 5], tf.int64)
        out = random_crop_flip(tf.constant(image), 32, seed).numpy()
        np.testing.assert_array_equal(out, random_crop_flip(tf.constant(image), 32, seed).numpy())
        flipped = out[0, 0, 0] > out[0, -1, 0]
        top, left = out[0, 0, 1] // 3, (out[0, -1, 0] if flipped else out[0, 0, 0]) // 3
        crop = image[top : top + 32, left : left + 32]
        np.testing.assert_array_equal(out, crop[:, ::-1] if flipped else crop)
        seen.add((top, left, flipped))
    assert len(seen) > 6 and {flip for _, _, flip in seen} == {True, False}


def test_unit_range_endpoints_and_test_transform():
    values = to_unit_range(tf.constant([0, 255], tf.uint8)).numpy()
    np.testing.assert_array_equal(values, [-1.0, 1.0])
    out = eval_transform(tf.constant(RNG.integers(0, 256, (30, 50, 3), dtype=np.uint8)), 16).numpy()
    assert out.shape == (16, 16, 3) and out.dtype == np.float32 and -1 <= out.min() <= out.max() <= 1
