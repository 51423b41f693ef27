import dataclasses

import keras
import numpy as np
import pytest

from keras_p2c.losses import (
    DISCRIMINATORS,
    LossWeights,
    Photo2CartoonLosses,
    binary_cross_entropy_with_logits,
    least_squares,
    mean_absolute_error,
)


def value(x):
    return float(keras.ops.convert_to_numpy(x))


def random_scores(rng, patch=5):
    return {
        key: (rng.normal(size=(2, patch, patch, 1)).astype("float32"), rng.normal(size=(2, 2)).astype("float32"))
        for key in DISCRIMINATORS
    }


def numpy_bce(logits, target):
    probability = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
    return float(np.mean(-(target * np.log(probability) + (1 - target) * np.log(1 - probability))))


def test_reference_weights_are_the_defaults():
    assert dataclasses.astuple(LossWeights()) == (1.0, 50.0, 10.0, 1000.0, 1.0)


@pytest.mark.parametrize("field", ["adv", "cycle", "identity", "cam", "face_id"])
def test_negative_or_non_numeric_weights_are_refused(field):
    with pytest.raises(ValueError, match=field):
        LossWeights(**{field: -1.0})
    with pytest.raises(ValueError, match=field):
        LossWeights(**{field: "1"})


def test_elementary_losses_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 4, 1)).astype("float32")
    y = rng.normal(size=(3, 4, 4, 1)).astype("float32")
    assert value(least_squares(x, 1.0)) == pytest.approx(np.mean((x - 1.0) ** 2), rel=1e-6)
    assert value(least_squares(x, 0.0)) == pytest.approx(np.mean(x**2), rel=1e-6)
    assert value(mean_absolute_error(x, y)) == pytest.approx(np.mean(np.abs(x - y)), rel=1e-6)
    for target in (0.0, 1.0):
        assert value(binary_cross_entropy_with_logits(x, target)) == pytest.approx(numpy_bce(x, target), rel=1e-5)


def test_bce_matches_torch_and_stays_finite_for_large_logits():
    torch = pytest.importorskip("torch")
    logits = np.array([[-300.0, -30.0], [-1e-3, 0.0], [2.5, 80.0], [300.0, 1000.0]], "float32")
    for target in (0.0, 1.0):
        expected = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(logits), torch.full((4, 2), target)
        ).item()
        got = value(binary_cross_entropy_with_logits(logits, target))
        assert np.isfinite(got)
        assert got == pytest.approx(expected, rel=1e-6)


def test_losses_are_float32_for_half_precision_inputs():
    x = np.random.default_rng(1).normal(size=(2, 3)).astype("float16")
    for loss in (least_squares(x, 1.0), mean_absolute_error(x, x * 0), binary_cross_entropy_with_logits(x, 1.0)):
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"


def test_discriminator_terms_follow_the_reference_table():
    rng = np.random.default_rng(2)
    real, fake = random_scores(rng), random_scores(rng)
    terms = Photo2CartoonLosses(LossWeights(adv=2.0)).discriminator_terms(real, fake)
    expected_total = 0.0
    for key in DISCRIMINATORS:
        adv = np.mean((real[key][0] - 1) ** 2) + np.mean(fake[key][0] ** 2)
        cam = np.mean((real[key][1] - 1) ** 2) + np.mean(fake[key][1] ** 2)
        assert value(terms[f"d_adv_{key}"]) == pytest.approx(adv, rel=1e-5)
        assert value(terms[f"d_adv_cam_{key}"]) == pytest.approx(cam, rel=1e-5)
        expected_total += adv + cam
    assert value(terms["d_loss"]) == pytest.approx(2.0 * expected_total, rel=1e-5)
    assert sorted(terms) == sorted(Photo2CartoonLosses.discriminator_term_names() + ["d_loss"])


def generator_inputs(rng, size=8, embeddings=True):
    image = lambda: rng.uniform(-1, 1, (2, size, size, 3)).astype("float32")  # noqa: E731
    cam = lambda: rng.normal(size=(2, 2)).astype("float32")  # noqa: E731
    inputs = dict(
        real={"A": image(), "B": image()},
        cycled={"A": image(), "B": image()},
        identity={"A": image(), "B": image()},
        translated_cam={"A": cam(), "B": cam()},
        identity_cam={"A": cam(), "B": cam()},
        fake_scores=random_scores(rng),
    )
    if embeddings:
        inputs["embeddings"] = {d: tuple(rng.normal(size=(2, 16)).astype("float32") for _ in range(2)) for d in "AB"}
    return inputs


def test_generator_terms_follow_the_reference_table():
    rng = np.random.default_rng(3)
    inputs = generator_inputs(rng)
    weights = LossWeights(adv=1.5, cycle=50.0, identity=10.0, cam=1000.0, face_id=3.0)
    terms = Photo2CartoonLosses(weights).generator_terms(**inputs)
    total = 0.0
    for key in DISCRIMINATORS:
        logits, cam = inputs["fake_scores"][key]
        assert value(terms[f"g_adv_{key}"]) == pytest.approx(np.mean((logits - 1) ** 2), rel=1e-5)
        assert value(terms[f"g_adv_cam_{key}"]) == pytest.approx(np.mean((cam - 1) ** 2), rel=1e-5)
        total += weights.adv * (np.mean((logits - 1) ** 2) + np.mean((cam - 1) ** 2))
    for domain in "AB":
        real = inputs["real"][domain]
        cycle = np.mean(np.abs(inputs["cycled"][domain] - real))
        identity = np.mean(np.abs(inputs["identity"][domain] - real))
        cam = numpy_bce(inputs["translated_cam"][domain], 1.0) + numpy_bce(inputs["identity_cam"][domain], 0.0)
        first, second = inputs["embeddings"][domain]
        cosine = np.sum(first * second, 1) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))
        face_id = np.mean(1 - cosine)
        assert value(terms[f"g_cycle_{domain}"]) == pytest.approx(cycle, rel=1e-5)
        assert value(terms[f"g_identity_{domain}"]) == pytest.approx(identity, rel=1e-5)
        assert value(terms[f"g_cam_{domain}"]) == pytest.approx(cam, rel=1e-5)
        assert value(terms[f"g_face_id_{domain}"]) == pytest.approx(face_id, rel=1e-5)
        total += 50.0 * cycle + 10.0 * identity + 1000.0 * cam + 3.0 * face_id
    assert value(terms["g_loss"]) == pytest.approx(total, rel=1e-5)
    assert sorted(terms) == sorted(Photo2CartoonLosses.generator_term_names(face_id=True) + ["g_loss"])


def test_face_id_term_is_left_out_without_embeddings_or_weight():
    rng = np.random.default_rng(4)
    with_embeddings = generator_inputs(rng)
    off = Photo2CartoonLosses(LossWeights(face_id=0.0)).generator_terms(**with_embeddings)
    assert not any(name.startswith("g_face_id") for name in off)
    on = Photo2CartoonLosses(LossWeights()).generator_terms(**with_embeddings)
    without = {k: v for k, v in with_embeddings.items() if k != "embeddings"}
    none = Photo2CartoonLosses(LossWeights()).generator_terms(**without)
    assert sorted(none) == sorted(off)
    assert value(none["g_loss"]) == pytest.approx(value(off["g_loss"]), rel=1e-6)
    face_ids = value(on["g_face_id_A"]) + value(on["g_face_id_B"])
    assert value(on["g_loss"]) == pytest.approx(value(off["g_loss"]) + face_ids, rel=1e-5)


def test_losses_refuse_other_weight_objects():
    with pytest.raises(TypeError, match="LossWeights"):
        Photo2CartoonLosses({"adv": 1.0})
