"""Finding the image files of a data set folder (`ROOT/trainA`, `ROOT/trainB`, `ROOT/testA`, `ROOT/testB`)."""

import logging
from pathlib import Path

from keras_p2c.images.inputs import IMAGE_SUFFIXES, walk_files

logger = logging.getLogger(__name__)

# The image formats `tf.io.decode_image` reads: the training pipelines use these. The rest of
# `IMAGE_SUFFIXES` (what OpenCV reads; the reference's list also has .ppm/.pgm/.tif), and HEIC, are
# reported by `list_image_files`, not silently dropped.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".gif")
UNSUPPORTED_IMAGE_EXTENSIONS = tuple(suffix for suffix in IMAGE_SUFFIXES if suffix not in IMAGE_EXTENSIONS) + (".heic",)

DOMAIN_FOLDERS = {
    ("train", "A"): "trainA",
    ("train", "B"): "trainB",
    ("test", "A"): "testA",
    ("test", "B"): "testB",
}


def list_image_files(folder):
    """Returns the sorted paths (as strings) of the images under `folder`, sub-folders included.

    Args:
        folder: a directory of images (JPEG, PNG, BMP, GIF, WebP; see `IMAGE_EXTENSIONS`).

    Raises:
        FileNotFoundError: `folder` does not exist or is not a directory.
        ValueError: `folder` holds no file with a supported extension.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Image folder not found: {folder}. A data set root must hold the folders trainA/ (photos), "
            "trainB/ (cartoons), testA/ and testB/; create it or pass the right root."
        )
    paths, unsupported = [], []
    # Sorted, like the reference's loader, so the file order does not depend on the file system.
    for path in walk_files(folder):
        suffix = path.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            paths.append(str(path))
        elif suffix in UNSUPPORTED_IMAGE_EXTENSIONS:
            unsupported.append(str(path))
    if unsupported:
        logger.warning(
            "Ignoring %d image(s) in %s whose format TensorFlow cannot decode (first: %s); convert them to PNG or "
            "JPEG to use them.",
            len(unsupported),
            folder,
            unsupported[0],
        )
    if not paths:
        raise ValueError(
            f"No images in {folder}: it holds no file ending in {', '.join(IMAGE_EXTENSIONS)}. "
            "Put the domain's images there (see data_tools/ to prepare them)."
        )
    return paths


def domain_folder(root, split, domain):
    """The folder of one split ("train" or "test") and domain ("A" photos, "B" cartoons) under a data set root."""
    key = (split, domain)
    if key not in DOMAIN_FOLDERS:
        raise ValueError(f"`split` must be 'train' or 'test' and `domain` 'A' or 'B'. Received: {split=}, {domain=}")
    return Path(root) / DOMAIN_FOLDERS[key]
