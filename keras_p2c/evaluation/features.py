"""InceptionV3 pool features of images, the embedding FID and KID compare.

`InceptionFeatures` wraps `keras.applications.InceptionV3(include_top=False, pooling="avg")`: each RGB
uint8 image is resized (bilinear) to the network's input size, scaled to [-1, 1] with
`keras.applications.inception_v3.preprocess_input`, and mapped to its 2048 average-pooled features.

The ImageNet weights (Keras' `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`, 87 MB) are
downloaded on first use into the keras-p2c cache (`keras_p2c.cache.cache_dir()`, beside the converted
weights and the segmentation model) rather than Keras' `~/.keras`, with the project's downloader (progress
bar, resumable, renamed into place only when complete) and Keras' own md5 of the file. Offline, copy that
file from a machine that has it (`~/.keras/models/` of any Keras user, or the URL below) and pass its path
(`--inception-weights PATH`, `weights=PATH`), or save it in the cache under the same name.

These are Keras' InceptionV3 weights, not the TF-slim graph the original FID code (and pytorch-fid /
torch-fidelity) ports, so the values are comparable between keras-p2c runs, not with papers' FIDs.
"""

import os
import warnings
from pathlib import Path

import cv2
import keras
import numpy as np
from tqdm.auto import tqdm

from keras_p2c.cache import cache_dir as resolve_cache_dir
from keras_p2c.images import as_rgb
from keras_p2c.weights.download import DownloadError, download, file_digest

# Keras' URL and md5 for the no-top InceptionV3 weights (keras/src/applications/inception_v3.py).
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/"
    "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
INCEPTION_WEIGHTS_FILENAME = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
DEFAULT_INPUT_SIZE = 299  # the size InceptionV3 was trained at, and the FID convention
MIN_INPUT_SIZE = 75  # InceptionV3's smallest input (its stem and reductions need it)
FEATURE_SIZE = 2048


class InceptionWeightsError(DownloadError):
    """The InceptionV3 weights could not be downloaded or read; the message says how to provide the file."""


def file_md5(path):
    """Hex md5 of a file (the hash Keras publishes for its application weights)."""
    return file_digest(path, "md5")


def _provide_hint(target):
    return (
        f"Copy {INCEPTION_WEIGHTS_FILENAME} from a machine that has it (~/.keras/models/) or download "
        f"{INCEPTION_WEIGHTS_URL}, then pass it with --inception-weights PATH (Python: inception_weights=PATH) "
        f"or save it as {target}."
    )


def inception_weights_path(cache_dir=None, progress=True, url=INCEPTION_WEIGHTS_URL, md5=INCEPTION_WEIGHTS_MD5):
    """The local path of the ImageNet InceptionV3 (no top) weights, downloaded into the cache on first use.

    A cached file whose md5 is wrong (e.g. truncated by hand) is downloaded again.

    Args:
        cache_dir: the cache folder; `None` means `keras_p2c.cache.cache_dir()`.
        progress: show the download's progress bar.
        url: where to download from (a test points it at a loopback server).
        md5: the file's expected md5, `None` to skip the check.

    Returns:
        `pathlib.Path` of the `.h5` weights file.

    Raises:
        InceptionWeightsError: offline, an HTTP error, or a file with the wrong md5; one line saying how to
            provide the file by hand.
    """
    folder = resolve_cache_dir(cache_dir)
    target = folder / INCEPTION_WEIGHTS_FILENAME
    if target.is_file():
        if md5 is None or file_md5(target) == md5:
            return target
        target.unlink()  # the cache's own copy, damaged: fetch it again
    try:
        path = download(url, cache_dir=folder, filename=INCEPTION_WEIGHTS_FILENAME, progress=progress)
    except DownloadError as error:
        raise InceptionWeightsError(f"{_first_sentence(error, limit=300)}. {_provide_hint(target)}") from error
    if md5 is not None:
        actual = file_md5(path)
        if actual != md5:
            path.unlink()
            raise InceptionWeightsError(
                f"The InceptionV3 weights downloaded from {url} have md5 {actual}, expected {md5}; the file was "
                f"deleted. {_provide_hint(target)}"
            )
    return path


def _build_inception(weights_path, input_size):
    """Keras' InceptionV3 without the top, average-pooled, in float32, with the weights of `weights_path`.

    Args:
        weights_path: a weights file, or `None` for random weights.
        input_size: the square input size.

    Returns:
        The `keras.Model`.

    Raises:
        ValueError / OSError: what Keras raises for a file that does not fit (re-raised by the caller
            with the file's name). Keras' warnings about the file are shown only when it loads: a wrong
            file makes one per layer before its error.
    """
    # float32 whatever the global policy (a mixed-precision training run): FID is sensitive to the
    # features' round-off and is compared between runs.
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.applications.InceptionV3(
                include_top=False,
                pooling="avg",
                weights=None if weights_path is None else os.fspath(weights_path),
                input_shape=(input_size, input_size, 3),
            )
    finally:
        keras.config.set_dtype_policy(policy)
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return model


def _first_sentence(error, limit=160):
    text = " ".join(str(error).split()) or type(error).__name__
    text = text.split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InceptionFeatures:
    """InceptionV3 average-pool features (2048 per image) of RGB uint8 images of any size, batched.

    Args:
        weights: `"imagenet"` (downloaded on first use into the cache, see the module docstring),
            `None` (random weights: tests only; the figures mean nothing), or the path of a Keras
            InceptionV3 weights file without the top (`.h5` / `.weights.h5`).
        input_size: the square size images are resized to (299, the FID convention; at least 75).
        cache_dir: cache folder for the `"imagenet"` download; `None` means `keras_p2c.cache.cache_dir()`.
        progress: show the download's progress bar.

    Example:

    >>> inception = InceptionFeatures()
    >>> features = inception.features(images)  # (len(images), 2048) float32
    """

    def __init__(self, weights="imagenet", input_size=DEFAULT_INPUT_SIZE, cache_dir=None, progress=True):
        if not isinstance(input_size, (int, np.integer)) or input_size < MIN_INPUT_SIZE:
            raise ValueError(
                f"`input_size` must be an integer of at least {MIN_INPUT_SIZE} (InceptionV3's smallest input). "
                f"Received: input_size={input_size!r}"
            )
        self.weights = weights
        self.input_size = int(input_size)
        if weights == "imagenet":
            weights_path = inception_weights_path(cache_dir, progress=progress)
        elif weights is None:
            weights_path = None
        else:
            weights_path = Path(os.fspath(weights)).expanduser()
            if not weights_path.is_file():
                raise InceptionWeightsError(
                    f"{weights_path}: no such InceptionV3 weights file. Pass the path of "
                    f"{INCEPTION_WEIGHTS_FILENAME} (Keras' ImageNet InceptionV3 without the top), or \"imagenet\" "
                    f"to download it."
                )
        self.weights_path = weights_path
        try:
            self.model = _build_inception(weights_path, self.input_size)
        except (ValueError, OSError) as error:
            if weights_path is None:
                raise
            raise InceptionWeightsError(
                f"{weights_path}: not InceptionV3 weights without the top ({_first_sentence(error)}). "
                f"{_provide_hint(resolve_cache_dir(cache_dir) / INCEPTION_WEIGHTS_FILENAME)}"
            ) from error

    @property
    def feature_size(self):
        """The length of one feature vector (2048)."""
        return int(self.model.output_shape[-1])

    def preprocess(self, image, index=0):
        """One image as the network's input: resized (bilinear) to `input_size`², scaled to [-1, 1].

        Args:
            image: `(H, W, 3)` RGB uint8 array (gray and RGBA are converted as `keras_p2c.images.as_rgb` does).
            index: its position in the batch, for the error message.

        Returns:
            `(input_size, input_size, 3)` float32 array.

        Raises:
            keras_p2c.images.ImageReadError (a `ValueError`): not a uint8 image.
        """
        image = as_rgb(image, f"image {index}").astype(np.float32)
        if image.shape[:2] != (self.input_size, self.input_size):
            image = cv2.resize(image, (self.input_size, self.input_size), interpolation=cv2.INTER_LINEAR)
        return keras.applications.inception_v3.preprocess_input(image)

    def features(self, images, batch_size=32, progress=True, total=None, description="Inception features"):
        """The pool features of many images, computed `batch_size` at a time.

        Args:
            images: an iterable of `(H, W, 3)` RGB uint8 arrays (any sizes), or an `(N, H, W, 3)` array;
                a generator is consumed as it goes, so a folder need not fit in memory.
            batch_size: images per forward pass.
            progress: show a tqdm progress bar.
            total: the number of images, for the progress bar when `images` has no `len()`.
            description: the progress bar's label.

        Returns:
            `(N, 2048)` float32 array (`(0, 2048)` for no image).

        Raises:
            ValueError: a bad `batch_size`, or an item that is not a uint8 image (the message gives its
                position).
        """
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        if total is None and hasattr(images, "__len__"):
            total = len(images)
        outputs, batch = [], []
        with tqdm(total=total, desc=description, unit="image", disable=not progress) as bar:
            for index, image in enumerate(images):
                batch.append(self.preprocess(image, index))
                if len(batch) == batch_size:
                    outputs.append(self._run(batch))
                    bar.update(len(batch))
                    batch = []
            if batch:
                outputs.append(self._run(batch))
                bar.update(len(batch))
        if not outputs:
            return np.zeros((0, self.feature_size), dtype=np.float32)
        return np.concatenate(outputs)

    def _run(self, batch):
        return np.asarray(self.model.predict_on_batch(np.stack(batch)), dtype=np.float32)

    def __call__(self, images, **kwargs):
        """Same as `features(images, **kwargs)`."""
        return self.features(images, **kwargs)
