"""Reading photos robustly into RGB uint8 arrays, and writing images without leaving half-written files.

OpenCV decodes; this module adds what a batch tool needs around it: an error that names the file and
says what was wrong, a pixel limit checked from the file header *before* decoding (so a small file
that claims to be 100 000 x 100 000 pixels is refused without allocating anything; `headers` reads the
size of every format OpenCV decodes, and a file in no format it knows is never handed to OpenCV), and
one colour layout for every input (grayscale, gray + alpha, RGBA, CMYK, 16-bit and palette images all
become RGB uint8; transparency is composited on white, the background the reference crops use).

Animated GIF, WebP and PNG files and multi-page TIFFs give their first frame (page), as an image viewer
shows before it plays: a portrait tool has one picture to work on, and the first frame is the one a
user chose as the file's picture.

EXIF orientation: JPEGs are decoded with `cv2.IMREAD_COLOR_RGB`, which applies the EXIF orientation
tag (checked with OpenCV 5.0: orientations 6 and 8 swap width and height). Other formats are decoded
with `cv2.IMREAD_UNCHANGED` to keep alpha and 16-bit samples, which ignores orientation; cameras write
orientation tags in JPEGs.
"""

import os
from pathlib import Path

import cv2
import numpy as np

from keras_p2c.atomic import write_bytes_atomic
from keras_p2c.images.headers import FORMAT_NAMES, header_size, image_format

# Above Pillow's warning threshold (~89 MP) and the largest phone sensors' 50 MP default output,
# below OpenCV's own hard limit (2**30 pixels, `OPENCV_IO_MAX_IMAGE_PIXELS`).
DEFAULT_MAX_PIXELS = 100_000_000


class ImageReadError(ValueError):
    """A file could not be read as an image; the message names the file and the reason."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the caller allowed (a possible decompression bomb)."""


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
    EXIF orientation is applied; an animated or multi-page file gives its first frame.

    Args:
        source: a path (`str` / `os.PathLike`) or the encoded file as bytes.
        max_pixels: refuse images with more pixels than this (width x height), checked from the
            header before decoding (a header whose size cannot be read is refused too). `None`
            removes the limit (OpenCV still refuses more than 2**30 pixels).

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
    if kind is None:
        known = ", ".join(FORMAT_NAMES.values())
        raise ImageReadError(f"{name}: cannot decode the image: not an image in a format read here ({known}).")
    size = header_size(data)
    if size is None and max_pixels is not None:
        # OpenCV would allocate from a header this check cannot read; its decoder rejects such files anyway.
        raise ImageReadError(
            f"{name}: cannot decode the image: its {FORMAT_NAMES[kind]} header is truncated or corrupt (no image size "
            "in it)."
        )
    if size is not None:
        _check_pixels(size[0], size[1], max_pixels, name)
        if size[0] == 0 or size[1] == 0:
            raise ImageReadError(
                f"{name}: the {FORMAT_NAMES[kind]} header says the image is {size[0]}x{size[1]} pixels."
            )

    buffer = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_COLOR_RGB if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as error:
        raise ImageReadError(f"{name}: OpenCV could not decode it ({str(error).strip().splitlines()[-1]}).") from error
    if image is None or image.size == 0:
        raise ImageReadError(f"{name}: cannot decode the image: a truncated or corrupt {FORMAT_NAMES[kind]} file.")
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
