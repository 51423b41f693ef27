"""InceptionV3 features: preprocessing, batching, FID through the network, and getting the ImageNet weights."""

import hashlib
import socket

import cv2
import keras
import numpy as np
import pytest

from keras_p2c.evaluation import features as features_module
from keras_p2c.evaluation.features import InceptionFeatures, InceptionWeightsError, inception_weights_path
from keras_p2c.evaluation.statistics import fid, kid
from tests.evaluation.conftest import smooth_images
from tests.helpers.file_server import FileServer


def test_preprocess_resizes_bilinear_and_scales_to_minus_one_one(inception):
    image = smooth_images(1, size=50)[0]
    expected = cv2.resize(image.astype(np.float32), (75, 75), interpolation=cv2.INTER_LINEAR) / 127.5 - 1.0
    np.testing.assert_allclose(inception.preprocess(image), expected, atol=1e-6)


def test_features_of_mixed_sizes_do_not_depend_on_the_batch(inception):
    images = smooth_images(4, size=64) + smooth_images(3, size=90, seed=1)
    whole = inception.features(images, progress=False)
    assert whole.shape == (7, 2048) and whole.dtype == np.float32
    batched = inception.features(iter(images), batch_size=3, progress=False, total=len(images))
    np.testing.assert_allclose(batched, whole, rtol=1e-4, atol=1e-7)
    assert inception.features([], progress=False).shape == (0, 2048)


def test_fid_of_the_same_images_is_zero_and_grows_with_distortion(inception):
    images = smooth_images(12)
    clean = inception.features(images, progress=False)
    assert fid(clean, clean) <= 1e-6 * np.sum(np.var(clean, axis=0))
    noise = np.random.default_rng(2).standard_normal((12, 64, 64, 3))
    noisy = [
        [np.clip(image + level * n, 0, 255).astype(np.uint8) for image, n in zip(images, noise)]
        for level in (8, 24, 64)
    ]
    blurred = [[cv2.GaussianBlur(image, (0, 0), sigma) for image in images] for sigma in (1.0, 2.0, 4.0)]
    for distorted in (noisy, blurred):
        distances = [fid(clean, inception.features(batch, progress=False)) for batch in distorted]
        assert 0 < distances[0] < distances[1] < distances[2], distances
    error = kid(clean, inception.features(noisy[2], progress=False), subsets=10, subset_size=6).standard_error
    assert error > 0


def test_bad_inputs_are_clear_errors(inception):
    with pytest.raises(ValueError, match="image 1: expected a uint8 image"):
        inception.features([smooth_images(1)[0], np.zeros((8, 8, 3), np.float32)], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        inception.features([], batch_size=0)
    with pytest.raises(ValueError, match="at least 75"):
        InceptionFeatures(weights=None, input_size=64)


def test_a_missing_weights_file_names_it(tmp_path):
    with pytest.raises(InceptionWeightsError, match="missing.h5: no such InceptionV3 weights file"):
        InceptionFeatures(weights=tmp_path / "missing.h5", input_size=75)


def test_a_weights_file_loads_in_float32_under_mixed_precision(inception, tmp_path):
    path = tmp_path / "inception.weights.h5"
    inception.model.save_weights(path)
    images = smooth_images(2)
    keras.config.set_dtype_policy("mixed_float16")  # as in a mixed-precision training run
    loaded = InceptionFeatures(weights=path, input_size=75)
    assert keras.config.dtype_policy().name == "mixed_float16"
    assert loaded.model.dtype_policy.name == "float32"
    np.testing.assert_allclose(
        loaded.features(images, progress=False), inception.features(images, progress=False), rtol=1e-5, atol=1e-8
    )


def test_a_file_that_is_not_inception_weights_names_it(tmp_path):
    path = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(path)
    with pytest.raises(InceptionWeightsError, match="wrong.weights.h5: not InceptionV3 weights"):
        InceptionFeatures(weights=path, input_size=75)


# --- the ImageNet download ----------------------------------------------------------------------


@pytest.fixture
def server():
    file_server = FileServer(b"pretend inception weights")
    file_server.thread.start()
    yield file_server
    file_server.httpd.shutdown()
    file_server.httpd.server_close()


def test_weights_are_downloaded_once_into_the_cache_and_checked(server, tmp_path):
    md5 = hashlib.md5(server.content).hexdigest()
    path = inception_weights_path(tmp_path, progress=False, url=server.url("w.h5"), md5=md5)
    assert path == tmp_path / features_module.INCEPTION_WEIGHTS_FILENAME
    assert path.read_bytes() == server.content
    assert inception_weights_path(tmp_path, progress=False, url=server.url("w.h5"), md5=md5) == path
    assert len(server.requests) == 1  # the second call used the cache
    path.write_bytes(b"damaged")
    inception_weights_path(tmp_path, progress=False, url=server.url("w.h5"), md5=md5)
    assert path.read_bytes() == server.content and len(server.requests) == 2


def test_a_download_with_the_wrong_md5_is_deleted(server, tmp_path):
    with pytest.raises(InceptionWeightsError, match="md5 .* expected 0+; the file was deleted"):
        inception_weights_path(tmp_path, progress=False, url=server.url("w.h5"), md5="0" * 32)
    assert not (tmp_path / features_module.INCEPTION_WEIGHTS_FILENAME).exists()


def test_offline_is_a_one_line_error_saying_how_to_provide_the_file(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InceptionWeightsError) as caught:
        inception_weights_path(tmp_path, progress=False, url=f"http://127.0.0.1:{port}/w.h5")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("Could not download http://127.0.0.1")
    assert "--inception-weights PATH" in message and features_module.INCEPTION_WEIGHTS_FILENAME in message
