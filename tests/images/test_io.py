import os
import struct

import cv2
import numpy as np
import pytest

from keras_p2c.images import ImageReadError, ImageTooLargeError, read_image, write_image_atomic
from keras_p2c.images.io import header_size
from tests.helpers.images import png_bytes, png_chunk, with_exif_orientation


def encode(image_bgr, suffix):
    ok, buffer = cv2.imencode(suffix, image_bgr)
    assert ok
    return buffer.tobytes()


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_rgb_png_and_bytes_source(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    data = encode(rgb[:, :, ::-1], ".png")
    path = write(tmp_path, "a.png", data)
    np.testing.assert_array_equal(read_image(path), rgb)
    np.testing.assert_array_equal(read_image(str(path)), rgb)
    np.testing.assert_array_equal(read_image(data), rgb)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.jpg", b"", "empty"),
        ("notes.txt", b"just some text, not a picture\n", "not an image"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "corrupt"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, name, data, reason):
    path = write(tmp_path, name, data)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_files_are_refused(tmp_path, suffix):
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(image, suffix)
    path = write(tmp_path, "cut" + suffix, data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated or corrupt") as info:
        read_image(path)
    assert "cut" + suffix in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "absent.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    out = read_image(write(tmp_path, "g.png", encode(gray, ".png")))
    assert out.shape == (6, 10, 3) and out.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], gray)


def test_rgba_is_composited_on_white(tmp_path):
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[:, :, 3] = [0, 255, 102]  # transparent, opaque, 40 %
    out = read_image(write(tmp_path, "rgba.png", encode(bgra, ".png")))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [200, 0, 0])
    # 40 % red over white: 0.4 * 200 + 0.6 * 255 = 233; green/blue 0.6 * 255 = 153.
    np.testing.assert_allclose(out[0, 2], [233, 153, 153], atol=1)


def test_gray_alpha_png(tmp_path):
    rows = np.array([[[100, 255], [100, 0]]], np.uint8)  # (1, 2, 2): gray, alpha
    out = read_image(write(tmp_path, "ga.png", png_bytes(rows, color_type=4)))
    np.testing.assert_array_equal(out[0], [[100, 100, 100], [255, 255, 255]])


def test_16_bit_png_is_scaled(tmp_path):
    values = np.array([[0, 257 * 128, 65535, 1000]], np.uint16)
    out = read_image(write(tmp_path, "deep.png", encode(values, ".png")))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, round(1000 / 257)])

    rgb16 = np.zeros((1, 1, 3), np.uint16)
    rgb16[0, 0] = [65535, 0, 257 * 10]  # BGR order for OpenCV
    out = read_image(write(tmp_path, "deep_rgb.png", encode(rgb16, ".png")))
    np.testing.assert_array_equal(out[0, 0], [10, 0, 255])


def test_palette_png(tmp_path):
    palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    out = read_image(write(tmp_path, "pal.png", png_bytes(indices, color_type=3, palette=palette)))
    np.testing.assert_array_equal(out, np.asarray(palette, np.uint8)[indices])
    # With transparency: entry 0 fully transparent -> white.
    out = read_image(write(tmp_path, "pal_t.png", png_bytes(indices, 3, palette=palette, transparency=[0, 255, 255])))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [0, 255, 0])


@pytest.mark.parametrize(
    "orientation, expected_shape, red_corner",
    [(1, (20, 40), (0, 0)), (6, (40, 20), (0, -1)), (8, (40, 20), (-1, 0)), (3, (20, 40), (-1, -1))],
)
def test_exif_orientation_is_applied(tmp_path, orientation, expected_shape, red_corner):
    # Stored image: 20 x 40, a red block at its top-left. EXIF 6 = display rotated 90 degrees
    # clockwise (stored top-left goes to the top-right), 8 = counter-clockwise, 3 = 180 degrees.
    bgr = np.full((20, 40, 3), 255, np.uint8)
    bgr[:8, :8] = (0, 0, 255)
    data = with_exif_orientation(encode(bgr, ".jpg"), orientation)
    out = read_image(write(tmp_path, f"exif{orientation}.jpg", data))
    assert out.shape[:2] == expected_shape
    row, col = red_corner
    corner = out[row * 3 if row else 3, col * 3 if col else 3].astype(int)
    assert corner[0] > 200 and corner[1] < 60 and corner[2] < 60, corner


def test_header_sizes_match_decoded_sizes():
    image = np.zeros((13, 29, 3), np.uint8)
    for suffix in (".png", ".jpg", ".bmp", ".webp"):
        assert header_size(encode(image, suffix)) == (29, 13), suffix
    assert header_size(with_exif_orientation(encode(image, ".jpg"), 6)) == (29, 13)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    # A PNG header claiming 100 000 x 100 000 pixels and no real data: refused from the header.
    fake = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    path = write(tmp_path, "bomb.png", fake)
    with pytest.raises(ImageTooLargeError, match="10,000,000,000 pixels") as info:
        read_image(path)
    assert "bomb.png" in str(info.value) and "max-pixels" in str(info.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tiff"])
def test_pixel_limit_can_be_raised(tmp_path, suffix):
    path = write(tmp_path, "big" + suffix, encode(np.zeros((300, 400, 3), np.uint8), suffix))
    with pytest.raises(ImageTooLargeError, match="120,000 pixels"):
        read_image(path, max_pixels=100_000)
    assert read_image(path, max_pixels=120_000).shape == (300, 400, 3)
    assert read_image(path, max_pixels=None).shape == (300, 400, 3)


def test_bad_max_pixels_argument(tmp_path):
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(b"irrelevant", max_pixels=0)


def test_write_image_atomic_round_trip(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    path = write_image_atomic(tmp_path / "sub" / "out.png", rgb)
    np.testing.assert_array_equal(read_image(path), rgb)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
    assert (os.stat(path).st_mode & 0o777) != 0o600  # usual permissions, not the temp file's


def test_write_image_atomic_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    old = np.zeros((4, 4, 3), np.uint8)
    write_image_atomic(path, old)

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_image_atomic(path, np.full((4, 4, 3), 255, np.uint8))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_image(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    with pytest.raises(ValueError, match="image"):
        write_image_atomic(tmp_path / "bad.png", np.zeros((4, 4, 5), np.uint8))
    assert not (tmp_path / "bad.png").exists()
    with pytest.raises(ValueError, match="could not encode"):
        write_image_atomic(tmp_path / "bad.unknown-format", old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
