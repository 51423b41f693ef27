"""Shared, small evaluation fixtures: random-weight networks (built once per session) and smooth test images."""

import cv2
import numpy as np
import pytest

from keras_p2c.evaluation.features import MIN_INPUT_SIZE, InceptionFeatures
from keras_p2c.models.face_id import FaceFeatures
from keras_p2c.weights.mobilefacenet_table import mobilefacenet_from_state_dict
from tests.helpers.mobilefacenet import random_state_dict


def smooth_images(count, size=64, seed=0):
    """`count` blurred-noise RGB uint8 images stretched to the full range: distinct, image-like (smooth) content."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        noise = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        images.append(cv2.normalize(cv2.GaussianBlur(noise, (0, 0), size / 20), None, 0, 255, cv2.NORM_MINMAX))
    return images


@pytest.fixture(scope="session")
def inception():
    """InceptionV3 with random weights at its smallest input (75²): fast, and enough to test the plumbing."""
    return InceptionFeatures(weights=None, input_size=MIN_INPUT_SIZE)


@pytest.fixture(scope="session")
def face_id():
    """A frozen `FaceFeatures` with random weights at a sane scale (He-like kernels, spread BatchNorm statistics)."""
    features = FaceFeatures()
    features.build((None, 256, 256, 3))
    mobilefacenet_from_state_dict(random_state_dict(seed=3), model=features.backbone)
    return features
