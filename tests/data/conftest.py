"""Image-writing helpers for the data pipeline tests."""

import numpy as np
import pytest
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


@pytest.fixture
def indexed_root(tmp_path):
    """trainA and trainB with 6 constant images each, grey level 10 + 40·i, so each output names its file."""
    for folder in ("trainA", "trainB", "testA", "testB"):
        for index in range(6):
            write_png(tmp_path / folder / f"{index:02d}.png", constant_image(10 + 40 * index))
    return tmp_path
