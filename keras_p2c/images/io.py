"""Reading photos robustly into RGB uint8 arrays, and writing images without leaving half-written files.

OpenCV decodes; this module adds what a batch tool needs around it: an error that names the file and
says what was wrong, a pixel limit checked from the file header *before* decoding (so a small file
that claims to be 100 000 x 100 000 pixels is refused without allocating anything), and one colour
layout for every input (grayscale, gray + alpha, RGBA, 16-bit and palette images all become RGB uint8;
transparency is composited on white, the background the reference crops use).

EXIF orientation: JPEGs are decoded with `cv2.IMREAD_COLOR_RGB`, which applies the EXIF orientation
tag (checked with OpenCV 5.0: orientations 6 and 8 swap width and height). Other formats are decoded
with `cv2.IMREAD_UNCHANGED` to keep alpha and 16-bit samples, which ignores orientation; cameras write
orientation tags in JPEGs.
"""

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from keras_p2c.atomic import write_bytes_atomic

# Above Pillow's warning threshold (~89 MP) and the largest phone sensors' 50 MP default output,
# below OpenCV's own hard limit (2**30 pixels, `OPENCV_IO_MAX_IMAGE_PIXELS`).
DEFAULT_MAX_PIXELS = 100_000_000


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file and the reason."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the caller allowed (a possible decompression bomb)."""


def _png_size(data):
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def _jpeg_size(data):
    """Width and height from the first start-of-frame marker, walking the segments from SOI."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header: malformed
            return None
        position += 2 + length
    return None


def _gif_size(data):
    if len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def _bmp_size(data):
    if len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    return None


def _webp_size(data):
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def image_format(data):
    """The container format from the first bytes (`"png"`, `"jpeg"`, ...), or `None` if not recognised."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


_SIZE_READERS = {"png": _png_size, "jpeg": _jpeg_size, "gif": _gif_size, "bmp": _bmp_size, "webp": _webp_size}


def header_size(data):
    """`(width, height)` read from the file header without decoding, or `None` for formats not parsed here."""
    reader = _SIZE_READERS.get(image_format(data))
    return reader(data) if reader is not None else None


def _check_pixels(width, height, max_pixels, name):
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{max_pixels:,} (a guard against decompression bombs). If you trust the file, raise the "
            f"limit (`max_pixels=`, or the command's --max-pixels option)."
        )


def _to_uint8(image):
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.round(image.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    if image.dtype in (np.float16, np.float32, np.float64):  # e.g. EXR / float TIFF, taken as [0, 1]
        return np.round(np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0) * 255.0).astype(np.uint8)
    if image.dtype == np.int8:
        return (image.astype(np.int16) + 128).astype(np.uint8)
    raise TypeError(f"unsupported sample type {image.dtype}")


def _bgr_any_to_rgb(image):
    """OpenCV's BGR / BGRA / gray (+ alpha) layouts, any depth, to RGB uint8 with alpha composited on white."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 2:  # gray + alpha
        image = image[:, :, [0, 0, 0, 1]]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise TypeError(f"unsupported channel count {channels}")
    image = _to_uint8(image)
    if channels > 1:
        image = image[:, :, [2, 1, 0, 3][:channels]]
    return as_rgb(image)


def _read_bytes(source):
    """`(bytes, name)` from a path or bytes-like object; the name is used in error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<image bytes>"
    path = Path(os.fspath(source))
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ImageReadError(f"{name}: no such file.") from None
    except IsADirectoryError:
        raise ImageReadError(f"{name}: is a folder, not an image file.") from None
    except OSError as error:
        raise ImageReadError(f"{name}: cannot be read ({error.strerror or error}).") from error
    return data, name


def read_image(source, max_pixels=DEFAULT_MAX_PIXELS):
    """Read an image file (or encoded bytes) as an RGB uint8 array.

    Grayscale is repeated over three channels; transparency (RGBA, gray + alpha, palette with
    transparency) is composited on white; 16-bit samples are scaled to 8 bits with rounding; JPEG
    EXIF orientation is applied.

    Args:
        source: a path (`str` / `os.PathLike`) or the encoded file as bytes.
        max_pixels: refuse images with more pixels than this (width x height), checked from the
            header before decoding for PNG, JPEG, GIF, BMP and WebP, and after decoding for other
            formats. `None` removes the limit (OpenCV still refuses more than 2**30 pixels).

    Returns:
        `(height, width, 3)` uint8 array, RGB.

    Raises:
        ImageTooLargeError: more pixels than `max_pixels`.
        ImageReadError: missing, empty, truncated, corrupt or non-image file; the message names it.
    """
    if max_pixels is not None and (not isinstance(max_pixels, (int, np.integer)) or max_pixels <= 0):
        raise ValueError(f"`max_pixels` must be a positive integer or None. Received: max_pixels={max_pixels!r}")
    data, name = _read_bytes(source)
    if not data:
        raise ImageReadError(f"{name}: file is empty (0 bytes).")
    kind = image_format(data)
    size = header_size(data)
    if size is not None:
        _check_pixels(size[0], size[1], max_pixels, name)
        if size[0] == 0 or size[1] == 0:
            raise ImageReadError(f"{name}: the {kind.upper()} header says the image is {size[0]}x{size[1]} pixels.")

    buffer = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_COLOR_RGB if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as error:
        raise ImageReadError(f"{name}: OpenCV could not decode it ({str(error).strip().splitlines()[-1]}).") from error
    if image is None or image.size == 0:
        if kind:
            what = f"a {kind.upper()} file that is truncated or corrupt"
        else:
            what = "not an image in a format OpenCV reads"
        raise ImageReadError(f"{name}: cannot decode the image: {what}.")
    if size is None:
        _check_pixels(image.shape[1], image.shape[0], max_pixels, name)
    if kind == "jpeg":
        return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    try:
        return _bgr_any_to_rgb(image)
    except TypeError as error:
        raise ImageReadError(f"{name}: {error}; expected 1-4 channels of 8/16-bit or float samples.") from None


def as_rgb(image, name="<array>"):
    """RGB uint8 from a `(H, W)` gray, `(H, W, 3)` RGB or `(H, W, 4)` RGBA uint8 array.

    The same colour layout `read_image` gives files: gray repeated over three channels, transparency
    composited on white.

    Raises:
        ImageReadError: not a uint8 array of one of those shapes (the message starts with `name`).
    """
    image = np.asarray(image)
    channels = image.shape[2] if image.ndim == 3 else 1
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or channels not in (1, 3, 4):
        raise ImageReadError(
            f"{name}: expected a uint8 image (H, W), (H, W, 3) RGB or (H, W, 4) RGBA. "
            f"Received: shape={image.shape}, dtype={image.dtype}"
        )
    if image.ndim == 2 or channels == 1:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    if channels == 4:
        alpha = image[:, :, 3:].astype(np.float32) / 255.0
        return np.round(image[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(image)


def encode_image(rgb, suffix=".png", params=None):
    """Encode an RGB (or RGBA, or gray) uint8 image in memory; returns the file's bytes.

    Args:
        rgb: `(H, W, 3)` RGB, `(H, W, 4)` RGBA or `(H, W)` gray array, uint8 (or uint16 for PNG).
        suffix: the format, as a file suffix (`.png`, `.jpg`, ...).
        params: optional `cv2.imencode` parameters, e.g. `[cv2.IMWRITE_JPEG_QUALITY, 95]`.

    Raises:
        ValueError: the array is not an image OpenCV can encode in that format.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        encoded_input = rgb[:, :, ::-1]
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        encoded_input = rgb[:, :, [2, 1, 0, 3]]
    elif rgb.ndim == 2:
        encoded_input = rgb
    else:
        raise ValueError(f"Expected an (H, W), (H, W, 3) or (H, W, 4) image. Received: shape={rgb.shape}")
    try:
        ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(encoded_input), params or [])
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {rgb.shape}, dtype {rgb.dtype} as {suffix!r}.")
    return encoded.tobytes()


def write_image_atomic(path, rgb, params=None):
    """Write an RGB (or gray) uint8 image so that `path` is either absent, the old file, or complete.

    The image is encoded in memory (`encode_image`), written to a temporary file in the same folder
    and renamed over `path`; an interruption leaves no half-written image. The format comes from the
    suffix.

    Args:
        path: destination file (`.png`, `.jpg`, ...); its folder is created if needed.
        rgb: `(H, W, 3)` RGB, `(H, W, 4)` RGBA or `(H, W)` gray array, uint8 (or uint16 for PNG).
        params: optional `cv2.imencode` parameters, e.g. `[cv2.IMWRITE_JPEG_QUALITY, 95]`.

    Returns:
        The destination as a `pathlib.Path`.
    """
    path = Path(path)
    write_bytes_atomic(path, encode_image(rgb, path.suffix or ".png", params))
    return path
