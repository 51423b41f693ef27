"""Photo2CartoonGAN on the JAX backend: the stateless step, both optimisers' state, and the first-step parity.

Keras picks its backend once per process, so `jax_training_run.py` does the training in a subprocess
(`KERAS_BACKEND=jax`) and reports what it saw as JSON; the tests below check the report. The worker
that runs this file waits for the subprocess, which has its core meanwhile; `tests/conftest.py` hands
this file out first, so that the other worker goes through the rest of the suite beside it. The run starts from its own torch reference case (random networks in the
release's `.pt`, synthetic MobileFaceNet weights, the torch first step).
"""

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    from tests.models.jax_training_run import JaxRun

    run = JaxRun(tmp_path_factory.mktemp("jax_training_run"))
    try:
        yield run.result()
    finally:
        run.stop()


def test_first_step_matches_the_reference_on_jax(jax_run):
    expected = jax_run["reference_terms"]
    got = jax_run["first_step"]
    assert set(got) == set(expected)
    assert any(name.startswith("g_face_id") for name in got)
    relative = {name: abs(got[name] - value) / abs(value) for name, value in expected.items()}
    assert max(relative.values()) < 1e-3, sorted(relative.items(), key=lambda item: -item[1])[:5]
    for name, (largest, agreeing) in jax_run["agreement"].items():
        assert largest <= 2 * jax_run["lr"] * 1.01, (name, largest)
        assert agreeing > 0.99, (name, agreeing)


def test_both_optimisers_advance_every_step(jax_run):
    assert jax_run["iterations_after_first"] == [1, 1]
    assert jax_run["iterations"] == [2, 2]


def test_fit_updates_every_network_and_nothing_else(jax_run):
    assert all(np.isfinite(values).all() for values in jax_run["history"].values())
    assert "g_face_id_A" in jax_run["history"]
    assert jax_run["unchanged_trainable"] == []
    assert jax_run["unchanged_spectral_vectors"] == []
    assert jax_run["face_features_difference"] == 0.0


def test_rho_and_w_are_clipped_on_jax(jax_run):
    unit = jax_run["unit_interval"]
    assert unit["min"] >= 0.0 and unit["max"] <= 1.0
    assert unit["at_zero"] > 0 and unit["at_one"] > 0


def test_backup_and_restore_resumes_weights_and_both_optimisers_on_jax(jax_run):
    state, g_size, d_size = jax_run["restored_sizes"]
    assert state == 2 + g_size + d_size and min(g_size, d_size) > 2
    assert jax_run["backup_difference"] == 0.0
    assert jax_run["restored_weights_difference"] == 0.0
    assert jax_run["restored_zero_moments"] == 0
    assert jax_run["resumed_iterations"] == [2, 2]


def test_inference_entry_points_on_jax(jax_run):
    batch, size = jax_run["shape"][:2]
    assert jax_run["translate"]["A2B"] == [batch, size, size, 3]
    assert jax_run["translate"]["heatmap_B2A"] == [batch, size, size, 1]
    assert jax_run["predict"][0] == [batch, size, size, 3]
    # Both through the program the step compiled for genA2B, from the same weights: the same numbers.
    assert jax_run["predict_vs_A2B"] <= 1e-6
    assert jax_run["predict_vs_A2A"] > 1e-3
