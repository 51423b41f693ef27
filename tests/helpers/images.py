"""Test images: PNGs written by hand (layouts OpenCV cannot write), EXIF-rotated JPEGs, pixel patterns."""

import struct
import zlib

import numpy as np
import tensorflow as tf


def write_png(path, pixels):
    """Writes a uint8/uint16 `(h, w, c)` array as PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return path


def constant_image(value, size=72):
    return np.full((size, size, 3), value, np.uint8)


def ramp_image(size=72):
    """Red rises with x, green with y (3 per pixel), blue constant: any crop or flip of it is identifiable."""
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([3 * xx, 3 * yy, np.full_like(xx, 100)], axis=-1).astype(np.uint8)


def png_chunk(kind, payload):
    """One PNG chunk: length, type, payload, CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bytes(rows, color_type, bit_depth=8, palette=None, transparency=None):
    """A PNG written by hand (filter 0 on every row), for layouts OpenCV cannot write."""
    rows = np.asarray(rows)
    height, width = rows.shape[:2]
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    sample = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + row.astype(sample).tobytes() for row in rows.reshape(height, -1))
    body = png_chunk(b"IHDR", ihdr)
    if palette is not None:
        body += png_chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel()))
    if transparency is not None:
        body += png_chunk(b"tRNS", bytes(transparency))
    return b"\x89PNG\r\n\x1a\n" + body + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def with_exif_orientation(jpeg, orientation):
    """Insert an APP1 Exif segment holding only an Orientation tag right after SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]
