"""Identity similarity: Face-ID embedding cosines of photo / cartoon pairs."""

import cv2
import keras
import numpy as np
import pytest

from keras_p2c.evaluation.identity import identity_similarity, load_face_id, to_generator_space
from tests.evaluation.conftest import smooth_images


def test_identical_images_score_one_and_other_faces_less(face_id):
    faces = smooth_images(3, size=256, seed=4)
    same = identity_similarity([(face, face.copy()) for face in faces], face_id, progress=False)
    np.testing.assert_allclose(same.scores, 1.0, atol=1e-5)
    assert same.mean == pytest.approx(1.0, abs=1e-5)
    other = identity_similarity([(faces[0], faces[1]), (faces[1], faces[2])], face_id, progress=False)
    assert np.all(other.scores < 0.99), other.scores
    assert other.mean == pytest.approx(float(np.mean(other.scores)))


def test_scores_are_the_cosines_of_the_embeddings_and_do_not_depend_on_the_batch(face_id):
    photos, cartoons = smooth_images(3, size=256, seed=5), smooth_images(3, size=256, seed=6)
    result = identity_similarity(list(zip(photos, cartoons)), face_id, batch_size=2, progress=False)
    def embed(images):
        return keras.ops.convert_to_numpy(face_id(np.stack([to_generator_space(image) for image in images])))

    a, b = embed(photos), embed(cartoons)
    expected = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(result.scores, expected, atol=1e-5)
    assert result.scores.shape == (3,) and result.scores.dtype == np.float32


def test_images_are_resized_to_generator_space():
    image = smooth_images(1, size=300)[0]
    expected = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(to_generator_space(image), expected)
    assert to_generator_space(image[:256, :256]).min() >= -1.0


def test_no_pairs_give_no_scores(face_id):
    result = identity_similarity(iter([]), face_id, progress=False)
    assert result.scores.shape == (0,) and np.isnan(result.mean)


def test_errors_name_the_problem(face_id, tmp_path):
    face = smooth_images(1, size=256)[0]
    with pytest.raises(ValueError, match="pair 0, cartoon: expected a uint8 image"):
        identity_similarity([(face, face.astype(np.float32))], face_id, progress=False)
    with pytest.raises(ValueError, match="Pair 0: expected \\(photo, cartoon\\)"):
        identity_similarity([(face,)], face_id, progress=False)
    with pytest.raises(FileNotFoundError, match="model_mobilefacenet.pth: no such Face-ID weights file"):
        load_face_id(tmp_path / "model_mobilefacenet.pth")
    assert load_face_id(face_id) is face_id
