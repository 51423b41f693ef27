"""Shared fixtures: the astronaut portrait, its detected face, the portrait segmenter."""

import numpy as np
import pytest

from keras_p2c.faces import default_model_path


@pytest.fixture(scope="session")
def astronaut():
    data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the astronaut photo")
    image = data.astronaut()
    assert image.dtype == np.uint8 and image.shape == (512, 512, 3)
    return image


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    from keras_p2c.faces import detect_faces

    faces = detect_faces(astronaut)
    assert len(faces) == 1, [face.to_dict() for face in faces]
    return faces[0]


@pytest.fixture(scope="session")
def segmenter():
    if not default_model_path().is_file():
        pytest.skip(
            f"portrait-segmentation model {default_model_path()} absent; "
            f"run `python -m keras_p2c.faces.mask_model` to fetch it"
        )
    from keras_p2c.faces import PortraitSegmenter

    return PortraitSegmenter()
