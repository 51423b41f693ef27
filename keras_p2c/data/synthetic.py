"""A tiny synthetic A/B data set (smooth "photos", flat outlined "cartoons") for tests and smoke runs.

It only has to look different enough in each domain for a short training run to have something to learn;
the faces are drawn from a few random ellipses, deterministically from the seed.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_p2c.data.files import DOMAIN_FOLDERS

_SPLIT_CODES = {"train": 0, "test": 1}
_DOMAIN_CODES = {"A": 0, "B": 1}


def write_synthetic_dataset(root, n_train=8, n_test=2, size=72, seed=0):
    """Writes `trainA/ trainB/ testA/ testB/` under `root`: JPEG photo-like A images and PNG cartoon-like B images.

    The same arguments always give the same files. Each image depends only on (seed, split, domain, index), so
    changing `n_train` does not change the test images. Existing files of the same names are overwritten.

    Args:
        root: folder to create (or reuse).
        n_train: images per domain in trainA/ and trainB/.
        n_test: images per domain in testA/ and testB/.
        size: side of the square images in pixels.
        seed: integer seed.

    Returns:
        `root` as a `Path`.
    """
    for name, value in (("n_train", n_train), ("n_test", n_test), ("size", size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if size < 16:
        raise ValueError(f"`size` must be at least 16 pixels for the faces to be drawn. Received: size={size}")
    root = Path(root)
    for (split, domain), folder_name in DOMAIN_FOLDERS.items():
        folder = root / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(n_train if split == "train" else n_test):
            rng = np.random.default_rng([seed, _SPLIT_CODES[split], _DOMAIN_CODES[domain], index])
            if domain == "A":
                encoded = tf.io.encode_jpeg(photo_like(size, rng), quality=95)
                path = folder / f"photo_{index:04d}.jpg"
            else:
                encoded = tf.io.encode_png(cartoon_like(size, rng))
                path = folder / f"cartoon_{index:04d}.png"
            path.write_bytes(encoded.numpy())
    return root


def photo_like(size, rng):
    """A smooth, shaded face-like image with soft edges and sensor noise: `(size, size, 3)` uint8."""
    yy, xx = _grid(size)
    top, bottom = rng.uniform(60, 220, 3), rng.uniform(20, 180, 3)
    image = top + (bottom - top) * yy[..., None]
    # Low-frequency blobs, like an out-of-focus background.
    for _ in range(3):
        centre, radius = rng.uniform(0, 1, 2), rng.uniform(0.15, 0.4)
        weight = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * radius**2))
        image += weight[..., None] * rng.uniform(-60, 60, 3)
    face = _face_geometry(rng)
    hair = _soft(_ellipse(yy, xx, face["cy"] - 0.06, face["cx"], face["ry"] * 1.12, face["rx"] * 1.15), 0.05)
    image = _blend(image, rng.uniform(10, 70, 3), hair)
    radius = _ellipse(yy, xx, face["cy"], face["cx"], face["ry"], face["rx"])
    skin = rng.uniform([180, 130, 100], [245, 200, 170]) * (1.05 - 0.25 * np.clip(radius, 0, 1))[..., None]
    image = _blend(image, skin, _soft(radius, 0.04))
    for side in (-1, 1):
        eye = _ellipse(yy, xx, face["eye_y"], face["cx"] + side * face["eye_dx"], 0.03, 0.05)
        image = _blend(image, np.array([40.0, 30, 30]), _soft(eye, 0.3))
    image += rng.normal(0, 4, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def cartoon_like(size, rng):
    """A flat-colour face-like drawing with dark outlines: `(size, size, 3)` uint8."""
    yy, xx = _grid(size)
    image = np.broadcast_to(rng.uniform(150, 255, 3), (size, size, 3)).copy()
    face = _face_geometry(rng)
    outline = np.array([25.0, 20, 20])
    line = 2.0 / size  # outline width in the normalised coordinates

    def fill(radius, colour, outlined=True):
        inside = radius <= 1
        image[inside] = colour
        if outlined:
            # The ring just inside the edge, about two pixels wide whatever the ellipse's size.
            image[inside & (radius > 1 - line / min(face["rx"], face["ry"]) * 1.5)] = outline

    fill(_ellipse(yy, xx, face["cy"] - 0.06, face["cx"], face["ry"] * 1.12, face["rx"] * 1.15), rng.uniform(20, 90, 3))
    fill(_ellipse(yy, xx, face["cy"], face["cx"], face["ry"], face["rx"]), rng.uniform([225, 180, 160], [255, 225, 205]))
    for side in (-1, 1):
        eye_x = face["cx"] + side * face["eye_dx"]
        fill(_ellipse(yy, xx, face["eye_y"], eye_x, 0.045, 0.045), outline, outlined=False)
        fill(_ellipse(yy, xx, face["eye_y"] - 0.012, eye_x + 0.012, 0.013, 0.013), np.array([255.0, 255, 255]), False)
    mouth = _ellipse(yy, xx, face["cy"] + face["ry"] * 0.45, face["cx"], 0.035, 0.09)
    fill(mouth, rng.uniform([180, 40, 50], [230, 90, 100]))
    return np.round(image).astype(np.uint8)


def _face_geometry(rng):
    cy, cx = rng.uniform(0.5, 0.58), rng.uniform(0.45, 0.55)
    ry, rx = rng.uniform(0.28, 0.34), rng.uniform(0.2, 0.26)
    return {"cy": cy, "cx": cx, "ry": ry, "rx": rx, "eye_y": cy - ry * 0.15, "eye_dx": rx * 0.42}


def _grid(size):
    """Pixel-centre coordinates in [0, 1], `(size, size)` each."""
    coordinates = (np.arange(size) + 0.5) / size
    return np.meshgrid(coordinates, coordinates, indexing="ij")


def _ellipse(yy, xx, cy, cx, ry, rx):
    """Normalised elliptical radius: < 1 inside the ellipse, 1 on its edge."""
    return np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)


def _soft(radius, softness):
    """A mask falling smoothly from 1 inside to 0 outside over `softness` of the radius."""
    return 1 / (1 + np.exp((radius - 1) / softness))


def _blend(image, colour, mask):
    return image * (1 - mask[..., None]) + np.asarray(colour) * mask[..., None]
