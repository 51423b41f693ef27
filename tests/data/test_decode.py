import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.data.decode import decode_rgb, find_unreadable, load_rgb
from tests.helpers.images import write_png

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (5, 7, 1), dtype=np.uint8)


def _decoded(data):
    image = decode_rgb(tf.constant(data)).numpy()
    assert image.dtype == np.uint8 and image.shape == (5, 7, 3)
    return image


def test_rgb_png_round_trips():
    np.testing.assert_array_equal(_decoded(tf.io.encode_png(RGB).numpy()), RGB)


def test_gray_is_repeated_over_three_channels():
    expected = np.repeat(GRAY, 3, axis=-1)
    np.testing.assert_array_equal(_decoded(tf.io.encode_png(GRAY).numpy()), expected)
    gray_alpha = np.concatenate([GRAY, np.zeros_like(GRAY)], axis=-1)
    np.testing.assert_array_equal(_decoded(tf.io.encode_png(gray_alpha).numpy()), expected)


def test_alpha_is_dropped():
    rgba = np.concatenate([RGB, np.full((5, 7, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(_decoded(tf.io.encode_png(rgba).numpy()), RGB)


def test_16_bit_png_keeps_the_high_byte():
    deep = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    np.testing.assert_array_equal(_decoded(tf.io.encode_png(deep).numpy()), (deep >> 8).astype(np.uint8))


def test_gray_jpeg_and_bmp_files(tmp_path):
    cv2.imwrite(str(tmp_path / "gray.jpg"), GRAY[..., 0])
    cv2.imwrite(str(tmp_path / "colour.bmp"), RGB[..., ::-1])  # OpenCV writes BGR
    gray = load_rgb(tf.constant(str(tmp_path / "gray.jpg"))).numpy()
    assert gray.shape == (5, 7, 3)
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    np.testing.assert_array_equal(load_rgb(tf.constant(str(tmp_path / "colour.bmp"))).numpy(), RGB)


def test_find_unreadable_names_each_bad_file_with_a_reason(tmp_path):
    good = write_png(tmp_path / "good.png", RGB)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes(tf.io.encode_jpeg(RGB).numpy()[:40])
    paths = [str(good)] + [str(tmp_path / name) for name in ("bad.png", "empty.jpg", "truncated.jpg")]
    unreadable = find_unreadable(paths)
    assert sorted(unreadable) == sorted(paths[1:])
    assert all(reason and "function_node" not in reason for reason in unreadable.values())


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(tf.errors.NotFoundError):
        load_rgb(tf.constant(str(tmp_path / "nope.png")))
    assert list(find_unreadable([tmp_path / "nope.png"])) == [str(tmp_path / "nope.png")]
