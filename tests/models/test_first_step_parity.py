"""The issue's acceptance check: from the same converted weights and batch, the first training step matches.

The reference side is `tests/reference/torch_training_reference.py` (torch, train-mode networks with torch's own
spectral norm, torch.optim.Adam); the weights travel through the original release's `.pt` format and
`keras_p2c.weights.convert.load_official_gan`, the Face-ID weights through `model_mobilefacenet.pth`.
"""

import keras
import numpy as np
import pytest

from keras_p2c.models import Photo2CartoonGAN
from keras_p2c.weights.convert import load_official_gan, load_official_networks
from keras_p2c.weights.mobilefacenet_table import load_face_features
from tests.reference.torch_training_reference import weight_agreement

NETWORKS = ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB")


# The compiled step builds its graph once (~1–2 min with Face-ID on 2 cores): slow run only.
@pytest.fixture(scope="module", params=["eager", pytest.param("compiled", marks=pytest.mark.slow)])
def keras_step(reference_case, request):
    """The first step run eagerly, and compiled (each network traced once, grappler off) as `fit` runs it."""
    keras.config.set_dtype_policy("float32")
    gan = Photo2CartoonGAN(**reference_case["options"], face_features=load_face_features(reference_case["face_weights"]))
    load_official_gan(gan, reference_case["checkpoint"])
    gan.compile(run_eagerly=request.param == "eager")  # the reference's optimisers and loss weights
    logs = gan.train_on_batch(reference_case["real_A"], reference_case["real_B"], return_dict=True)
    return gan, {name: float(value) for name, value in logs.items()}


def test_every_loss_term_matches_the_reference(reference_case, keras_step):
    _, logs = keras_step
    expected = reference_case["terms"]
    assert set(logs) == set(expected)
    assert any(name.startswith("g_face_id") for name in expected)
    relative = {name: abs(logs[name] - value) / abs(value) for name, value in expected.items()}
    assert max(relative.values()) < 1e-3, sorted(relative.items(), key=lambda item: -item[1])[:5]


def test_weights_after_the_step_match_the_reference(reference_case, keras_step):
    gan, _ = keras_step
    lr = reference_case["lr"]
    expected = load_official_networks(reference_case["after"])
    report = weight_agreement(
        {name: [keras.ops.convert_to_numpy(w) for w in getattr(gan, name).weights] for name in NETWORKS}, expected, lr
    )
    for name, (largest, agreeing) in report.items():
        # Only near-zero total gradients may flip the direction of a first Adam step (a 2·lr difference).
        assert largest <= 2 * lr * 1.01, (name, largest)
        assert agreeing > 0.99, (name, agreeing)


def test_the_step_clipped_what_the_reference_clipped(reference_case, keras_step):
    gan, _ = keras_step
    expected = load_official_networks(reference_case["after"])
    for name in ("genA2B", "genB2A"):
        for ours, theirs in zip(getattr(gan, name).weights, expected[name].weights):
            if ours.name in ("rho", "w_gamma", "w_beta"):
                ours, theirs = keras.ops.convert_to_numpy(ours), np.asarray(theirs)
                np.testing.assert_array_equal(ours == 0.0, theirs == 0.0)
                np.testing.assert_array_equal(ours == 1.0, theirs == 1.0)
