import os

# Quieter TensorFlow start-up in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts (and ends) in float32, whatever a previous test set."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def astronaut():
    """`skimage.data.astronaut()`: a real 512×512 portrait that works offline."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the astronaut photo")
    image = data.astronaut()
    assert image.dtype == np.uint8 and image.shape == (512, 512, 3)
    return image


@pytest.fixture(scope="session")
def segmenter():
    """The shared MediaPipe portrait segmenter; skips where its model has not been fetched."""
    from keras_p2c.faces import default_model_path, get_segmenter

    if not default_model_path().is_file():
        pytest.skip(
            f"portrait-segmentation model {default_model_path()} absent; "
            f"run `python -m keras_p2c.faces.mask_model` to fetch it"
        )
    return get_segmenter()
