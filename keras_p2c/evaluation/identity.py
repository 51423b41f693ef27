"""Identity similarity: does the cartoon still look like the person in the photo?

For each (photo, cartoon) pair, the cosine between their face-recognition embeddings: the frozen
MobileFaceNet of the Face-ID loss (`keras_p2c.models.face_id.FaceFeatures`: the reference's face crop of a
256² generator image, resized to 112², embedded) with the weights the user gives
(InsightFace_Pytorch's `model_mobilefacenet.pth`). 1 means the same embedding; the Face-ID loss is the
batch mean of 1 - this score, so a run whose score falls while its FID improves is trading identity for
style.

Both images are taken in generator space: RGB uint8 resized to 256² (area interpolation, as the reference
resizes its crops) and scaled to [-1, 1]. Give the aligned face crops the generator saw (`p2c cartoonize
--save-aligned` writes them beside the cartoons, a prepared dataset's `testA` holds them), not whole
photos: the crop is a fixed box of the 256² image.
"""

import collections
import os

import cv2
import keras
import numpy as np
from tqdm.auto import tqdm

from keras_p2c.images import as_rgb
from keras_p2c.losses import cosine_similarity
from keras_p2c.models.face_id import FaceFeatures
from keras_p2c.weights.mobilefacenet_table import load_face_features

GENERATOR_SIZE = 256


class IdentityScores(collections.namedtuple("IdentityScores", ["scores", "mean"])):
    """Per-pair cosine similarities (`(N,)` float32, in the pairs' order) and their mean (a float, NaN for none)."""

    __slots__ = ()


def load_face_id(face_id_weights):
    """The Face-ID embedder from a weights file, or the given embedder itself.

    Args:
        face_id_weights: the path of InsightFace_Pytorch's `model_mobilefacenet.pth`, or a built
            `FaceFeatures` (e.g. a training run's `gan.face_features`), returned as it is.

    Returns:
        A frozen `FaceFeatures`.

    Raises:
        FileNotFoundError: no file at that path (the message says which file is wanted).
        keras_p2c.weights.CheckpointError / WeightConversionError: the file is not MobileFaceNet's weights.
    """
    if isinstance(face_id_weights, FaceFeatures):
        return face_id_weights
    path = os.fspath(face_id_weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such Face-ID weights file. Pass InsightFace_Pytorch's model_mobilefacenet.pth "
            "(the MobileFaceNet the Face-ID loss uses) to compute identity similarity."
        )
    return load_face_features(path)


def to_generator_space(image, name="image"):
    """An RGB uint8 image as a generator image: resized to 256² (area interpolation), scaled to [-1, 1].

    Args:
        image: `(H, W, 3)` RGB uint8 array (an aligned face crop or a cartoon; gray and RGBA are converted
            as `keras_p2c.images.as_rgb` does).
        name: what the image is, for the error message (e.g. its file).

    Returns:
        `(256, 256, 3)` float32 array in [-1, 1].

    Raises:
        keras_p2c.images.ImageReadError (a `ValueError`): not a uint8 image.
    """
    image = as_rgb(image, name)
    if image.shape[:2] != (GENERATOR_SIZE, GENERATOR_SIZE):
        image = cv2.resize(image, (GENERATOR_SIZE, GENERATOR_SIZE), interpolation=cv2.INTER_AREA)
    return image.astype(np.float32) / 127.5 - 1.0


def identity_similarity(pairs, face_id, batch_size=32, progress=True, total=None, description="Identity"):
    """Cosine similarity of the Face-ID embeddings of each photo and its cartoon.

    Args:
        pairs: an iterable of `(photo, cartoon)` RGB uint8 arrays (any sizes, see `to_generator_space`);
            a generator is consumed as it goes.
        face_id: a `FaceFeatures` embedder, or the path of its weights (see `load_face_id`).
        batch_size: pairs per forward pass (each pass embeds `2 * batch_size` images).
        progress: show a tqdm progress bar.
        total: the number of pairs, for the progress bar when `pairs` has no `len()`.
        description: the progress bar's label.

    Returns:
        `IdentityScores(scores, mean)`.

    Raises:
        ValueError: a bad `batch_size`, or an item that is not a pair of uint8 images (the message gives
            its position).
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    face_id = load_face_id(face_id)
    if total is None and hasattr(pairs, "__len__"):
        total = len(pairs)
    scores, photos, cartoons = [], [], []

    def flush():
        embeddings = face_id(np.stack(photos + cartoons))
        count = len(photos)
        scores.append(keras.ops.convert_to_numpy(cosine_similarity(embeddings[:count], embeddings[count:])))
        bar.update(count)
        photos.clear()
        cartoons.clear()

    with tqdm(total=total, desc=description, unit="pair", disable=not progress) as bar:
        for index, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"Pair {index}: expected (photo, cartoon). Received: {len(pair)} items")
            photos.append(to_generator_space(pair[0], f"pair {index}, photo"))
            cartoons.append(to_generator_space(pair[1], f"pair {index}, cartoon"))
            if len(photos) == batch_size:
                flush()
        if photos:
            flush()
    scores = np.concatenate(scores).astype(np.float32) if scores else np.zeros((0,), np.float32)
    return IdentityScores(scores, float(scores.mean()) if scores.size else float("nan"))
