"""Evaluation during training: genA2B on fixed photos, FID/KID against fixed cartoons, identity, as eval/*."""

import numpy as np
import pytest

from keras_p2c.evaluation.features import MIN_INPUT_SIZE, InceptionFeatures
from keras_p2c.models import Photo2CartoonGAN
from keras_p2c.models.face_id import FaceFeatures
from keras_p2c.training.evaluation import PeriodicEvaluation, to_uint8
from keras_p2c.weights.mobilefacenet_table import mobilefacenet_from_state_dict
from tests.helpers.events import read_events
from tests.helpers.mobilefacenet import random_state_dict


def test_figures_are_written_at_the_steps_they_are_due(tmp_path):
    gan = Photo2CartoonGAN(img_size=64, ngf=8, ndf=8, n_blocks=2, global_layers=6, local_layers=5)
    face_features = FaceFeatures()
    face_features.build((None, 64, 64, 3))
    mobilefacenet_from_state_dict(random_state_dict(seed=3), model=face_features.backbone)
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    cartoons = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    inception = InceptionFeatures(weights=None, input_size=MIN_INPUT_SIZE, progress=False)
    evaluation = PeriodicEvaluation(tmp_path, 2, 3, photos, cartoons, inception, face_features, kid_subsets=5)
    evaluation.set_model(gan)
    for epoch in range(3):  # steps 1..6: due at 3 and 6
        evaluation.on_epoch_begin(epoch)
        for batch in range(2):
            evaluation.on_train_batch_end(batch, {})
    assert [entry["step"] for entry in evaluation.history] == [3, 6]
    figures = evaluation.history[-1]
    assert figures["fid"] > 0 and np.isfinite(figures["kid"]) and -1 <= figures["id_similarity"] <= 1
    scalars = read_events(tmp_path).scalars
    assert [step for step, _ in scalars["eval/id_similarity"]] == [3, 6]
    assert scalars["eval/fid"][-1][1] == pytest.approx(figures["fid"], rel=1e-5)
    # The cartoons it judged are genA2B's of the photos.
    expected = to_uint8(gan.genA2B.predict_on_batch(photos.astype("float32") / 127.5 - 1.0)[0])
    np.testing.assert_array_equal(evaluation.translate(), expected)


def test_too_few_images_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 photos and 2 cartoons"):
        PeriodicEvaluation("logs", 1, 1, np.zeros((1, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8), None)
