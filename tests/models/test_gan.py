"""Photo2CartoonGAN on the TensorFlow backend (the JAX step is checked in test_gan_jax.py).

The networks are tiny (64 px, ngf = ndf = 8, 2 blocks, discriminators of 5 and 4 layers; the 7-layer
global discriminator needs 96 px) and most steps run eagerly: tracing the whole step into one graph takes
minutes on a small CPU, whatever the image size. Graph mode and XLA are covered by the slow tests.
"""

import keras
import numpy as np
import pytest

from keras_p2c.losses import LossWeights, Photo2CartoonLosses
from keras_p2c.models import FaceFeatures, Photo2CartoonGAN
from keras_p2c.optimizers import GANOptimizer, LinearDecayAfter, ReferenceAdam
from keras_p2c.weights.convert import load_official_gan

OPTIONS = dict(img_size=64, ngf=8, ndf=8, n_blocks=2, global_layers=5, local_layers=4)
NETWORKS = ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB")
UNIT_INTERVAL = ("rho", "w_gamma", "w_beta")
STEPS = 1  # each eager step costs seconds; one moves every weight and already decays the schedule
G_SCHEDULE = dict(initial=0.05, decay_start=1, total_steps=4)


def images(count, seed, size=64):
    return np.random.default_rng(seed).uniform(-1, 1, (count, size, size, 3)).astype("float32")


def snapshot(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def face_features(size=64):
    features = FaceFeatures()
    features.build((None, size, size, 3))
    return features


def unit_interval_variables(gan):
    return [v for v in gan.generator_variables if v.name in UNIT_INTERVAL]


def expected_metric_names(face_id):
    return {"d_loss", "g_loss"} | set(Photo2CartoonLosses.discriminator_term_names()) | set(
        Photo2CartoonLosses.generator_term_names(face_id=face_id)
    )


def compile_for_test(gan, **kwargs):
    gan.compile(
        g_optimizer=ReferenceAdam(LinearDecayAfter(**G_SCHEDULE)),  # large steps: ρ, w cross their bounds
        d_optimizer=ReferenceAdam(1e-3),
        run_eagerly=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def backup_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("backup"))


@pytest.fixture(scope="module")
def trained(backup_dir):
    """A GAN after one epoch of one eager fit step (batch 2), with ρ and w started next to their bounds.

    `BackupAndRestore` writes the training state into `backup_dir` at the end of the epoch.
    """
    keras.config.set_dtype_policy("float32")
    gan = Photo2CartoonGAN(**OPTIONS, face_features=face_features())
    rng = np.random.default_rng(0)
    for variable in unit_interval_variables(gan):
        variable.assign(rng.choice([0.02, 0.98], size=variable.shape).astype("float32"))
    before = {name: snapshot(getattr(gan, name).weights) for name in NETWORKS + ("face_features",)}
    compile_for_test(gan)
    backup = keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False)
    history = gan.fit(
        images(2 * STEPS, 1), images(2 * STEPS, 2), batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[backup]
    )
    return gan, before, history


def test_fit_reports_every_term_finite(trained):
    gan, _, history = trained
    assert set(history.history) == expected_metric_names(face_id=True)
    for name, values in history.history.items():
        assert np.isfinite(values).all(), name
    assert history.history["g_loss"][0] > history.history["g_cam_A"][0]


def test_every_network_weight_is_updated(trained):
    gan, before, _ = trained
    for name in NETWORKS:
        network = getattr(gan, name)
        for variable, old in zip(network.weights, before[name]):
            if variable.trainable:
                assert not np.array_equal(keras.ops.convert_to_numpy(variable), old), variable.path


def test_spectral_norm_vectors_advance_in_training_calls(trained):
    gan, before, _ = trained
    for name in NETWORKS[2:]:
        network = getattr(gan, name)
        for variable, old in zip(network.weights, before[name]):
            # (A length-1 u of the CAM fc layers is always [1].)
            if variable.name in ("u", "v") and variable.shape[0] > 1:
                assert not np.array_equal(keras.ops.convert_to_numpy(variable), old), variable.path


def test_face_features_never_change(trained):
    gan, before, _ = trained
    assert not gan.face_features.trainable_weights
    for variable, old in zip(gan.face_features.weights, before["face_features"]):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), old, err_msg=variable.path)


def test_rho_and_w_are_clipped_to_the_unit_interval(trained):
    gan, _, _ = trained
    values = np.concatenate([keras.ops.convert_to_numpy(v).ravel() for v in unit_interval_variables(gan)])
    assert values.size and values.min() >= 0.0 and values.max() <= 1.0
    # Started 0.02 from a bound and moved by about the learning rate (0.05): some crossed and were clipped.
    assert np.any(values == 0.0) and np.any(values == 1.0)


def test_both_optimisers_count_every_step(trained):
    gan, _, _ = trained
    assert isinstance(gan.optimizer, GANOptimizer)
    assert int(gan.g_optimizer.iterations) == STEPS
    assert int(gan.d_optimizer.iterations) == STEPS
    assert int(gan.optimizer.iterations) == STEPS


def test_learning_rate_follows_the_schedule(trained):
    gan, _, _ = trained
    expected = float(LinearDecayAfter(**G_SCHEDULE)(STEPS))
    assert expected < G_SCHEDULE["initial"]
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(expected)
    assert float(gan.optimizer.learning_rate) == pytest.approx(expected)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(1e-3)


def test_save_and_load_weights_restore_both_optimisers(trained, tmp_path):
    gan, _, _ = trained
    path = tmp_path / "gan.weights.h5"
    gan.save_weights(path)
    fresh = Photo2CartoonGAN(**OPTIONS, face_features=face_features())
    fresh.compile(g_optimizer=ReferenceAdam(LinearDecayAfter(**G_SCHEDULE)), d_optimizer=ReferenceAdam(1e-3))
    fresh.load_weights(path)
    for saved, loaded in zip(gan.weights, fresh.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(saved))
    for part in ("g_optimizer", "d_optimizer"):
        saved, loaded = getattr(gan, part).variables, getattr(fresh, part).variables
        assert len(saved) == len(loaded) > 2
        for a, b in zip(saved, loaded):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a), err_msg=a.path)
        moments = [keras.ops.convert_to_numpy(v) for v in loaded[2:]]
        assert all(np.any(m != 0) for m in moments), f"{part}: restored moments are zero"
    assert int(fresh.g_optimizer.iterations) == int(fresh.d_optimizer.iterations) == STEPS


def test_evaluate_reports_the_terms_without_updating(trained):
    gan, _, _ = trained
    before = snapshot(gan.weights)
    optimizer_before = snapshot(gan.optimizer.variables)
    logs = gan.evaluate(images(2, 3), images(2, 4), batch_size=2, verbose=0, return_dict=True)
    assert set(logs) == expected_metric_names(face_id=True)
    assert all(np.isfinite(value) for value in logs.values())
    # Nothing moves, not even the spectral-norm vectors (inference-mode discriminators).
    for variable, old in zip(gan.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), old, err_msg=variable.path)
    for variable, old in zip(gan.optimizer.variables, optimizer_before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), old)


def test_predict_translates_photos_with_genA2B(trained):
    gan, _, _ = trained
    photos = images(3, 5)
    image, cam_logit, heatmap = gan.predict(photos, batch_size=2, verbose=0)
    assert image.shape == photos.shape and cam_logit.shape == (3, 2) and heatmap.shape == (3, 16, 16, 1)
    expected = keras.ops.convert_to_numpy(gan.genA2B(photos)[0])
    # Traced predict in batches of 2 + 1 vs one eager batch of 3: other kernels, other float order.
    # Measured over 4 initialisations: max |difference| 0 (default), 9.4e-5 (ONEDNN_MAX_CPU_ISA=AVX2),
    # 1.3e-5 (TF_ENABLE_ONEDNN_OPTS=0); this trained tiny generator's float32-vs-float64 gap is up to
    # 3.1e-4. 1e-3 (~0.13 of a uint8 level) is ~3x that gap and still catches wrong batching or weights.
    np.testing.assert_allclose(image, expected, atol=1e-3)


def test_translate_gives_images_and_normalised_heatmaps(trained):
    gan, _, _ = trained
    outputs = gan.translate(images(2, 6), images(2, 7))
    names = {"real_A", "A2B", "A2B2A", "A2A", "real_B", "B2A", "B2A2B", "B2B"}
    names |= {f"heatmap_{key}" for key in ("A2B", "A2B2A", "A2A", "B2A", "B2A2B", "B2B")}
    assert set(outputs) == names
    for name, value in outputs.items():
        value = keras.ops.convert_to_numpy(value)
        assert value.shape == (2, 64, 64, 1 if name.startswith("heatmap") else 3), name
        if name.startswith("heatmap"):
            assert value.min() >= 0.0 and value.max() <= 1.0 + 1e-6
    # Run eagerly, translate calls the generators themselves.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(outputs["A2B"]), keras.ops.convert_to_numpy(gan.genA2B(images(2, 6))[0])
    )
    # Compiled, it runs the step's traced networks (one trace for both twins).
    compiled = Photo2CartoonGAN.from_config(gan.get_config())
    compiled.set_weights(gan.get_weights())
    compiled.compile()
    a_side = {"real_A", "A2B", "A2B2A", "A2A", "heatmap_A2B", "heatmap_A2B2A", "heatmap_A2A"}
    traced = compiled.translate(images(2, 6))
    assert set(traced) == a_side
    # A traced graph against eager ops: other kernels, other float order. This trained tiny generator's
    # float32-vs-float64 gap is up to 3.1e-4 (see the predict test), and a cycle passes through two of them
    # (2.2e-4 measured on AVX-512); 1e-3 still catches a wrong network or weights.
    for name, value in traced.items():
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(value), keras.ops.convert_to_numpy(outputs[name]), atol=1e-3, err_msg=name
        )


def test_backup_and_restore_resumes_both_optimisers(trained, backup_dir):
    gan, _, _ = trained
    saved = snapshot(gan.optimizer.variables)

    class RecordOptimizerState(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.state = snapshot(self.model.optimizer.variables)

    resumed = Photo2CartoonGAN(**OPTIONS, face_features=face_features())
    compile_for_test(resumed)
    record = RecordOptimizerState()
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir), record]
    # The backup is at the end of epoch 1 of 1: restoring is all this fit does (no step to pay for).
    resumed.fit(images(2, 9), images(2, 10), batch_size=2, epochs=1, verbose=0, callbacks=callbacks)
    assert len(record.state) == len(saved) == 2 + len(gan.g_optimizer.variables) + len(gan.d_optimizer.variables)
    for restored, original in zip(record.state, saved):
        np.testing.assert_array_equal(restored, original)
    assert int(resumed.g_optimizer.iterations) == int(resumed.d_optimizer.iterations) == STEPS
    for restored, original in zip(resumed.weights, gan.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(original))


def test_config_round_trip_and_face_id_metrics(trained):
    gan, _, _ = trained
    assert {m.name for m in gan.metrics} == expected_metric_names(face_id=True)
    clone = Photo2CartoonGAN.from_config(gan.get_config())
    assert {key: getattr(clone, key) for key in OPTIONS} == OPTIONS
    assert isinstance(clone.face_features, FaceFeatures)
    clone.compile(loss_weights=LossWeights(face_id=0.0))
    assert {m.name for m in clone.metrics} == expected_metric_names(face_id=False)


def test_compile_defaults_and_errors():
    with pytest.raises(ValueError, match="at least 96"):
        Photo2CartoonGAN(img_size=64, ngf=8, ndf=8, n_blocks=2)  # the 7-layer global discriminator
    with pytest.raises(TypeError, match="FaceFeatures"):
        Photo2CartoonGAN(**OPTIONS, face_features=keras.layers.Dense(3))
    gan = Photo2CartoonGAN(**OPTIONS)
    with pytest.raises(ValueError, match="compile"):
        gan.train_step((images(1, 0), images(1, 1)))
    with pytest.raises(ValueError, match="loss_weights"):
        gan.compile(loss="mse")
    with pytest.raises(TypeError, match="LossWeights"):
        gan.compile(loss_weights={"adv": 1.0})
    gan.compile(run_eagerly=True)
    with pytest.raises(ValueError, match="real_A, real_B"):
        gan.train_step(images(1, 0))
    # The reference's optimisers, built at compile time (so load_weights can fill their state).
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(optimizer, ReferenceAdam)
        assert (float(optimizer.learning_rate), optimizer.beta_1, optimizer.beta_2) == pytest.approx((1e-4, 0.5, 0.999))
        assert (optimizer.epsilon, optimizer.l2_weight_decay) == (1e-8, 1e-4)
        assert optimizer.built
    assert gan.g_optimizer is not gan.d_optimizer
    assert len(gan.g_optimizer.variables) == 2 + 2 * len(gan.generator_variables)
    assert len(gan.d_optimizer.variables) == 2 + 2 * len(gan.discriminator_variables)
    assert len(gan.trainable_variables) == len(gan.generator_variables) + len(gan.discriminator_variables)
    assert {m.name for m in gan.metrics} == expected_metric_names(face_id=False)


def test_mixed_bfloat16_step_is_finite():
    keras.config.set_dtype_policy("mixed_bfloat16")
    gan = Photo2CartoonGAN(**OPTIONS)
    assert gan.genA2B.dtype_policy.name == gan.disLB.dtype_policy.name == "mixed_bfloat16"
    assert all(v.dtype == "float32" for v in gan.weights)
    gan.compile(run_eagerly=True)
    logs = gan.train_on_batch(images(1, 11), images(1, 12), return_dict=True)
    assert all(np.isfinite(value) for value in logs.values())
    assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1


def test_mixed_float16_scales_each_loss():
    keras.config.set_dtype_policy("mixed_float16")
    gan = Photo2CartoonGAN(**OPTIONS)
    gan.compile()
    for optimizer in (gan.g_optimizer, gan.d_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(optimizer.inner_optimizer, ReferenceAdam)
    gan.compile(auto_scale_loss=False)
    assert isinstance(gan.g_optimizer, ReferenceAdam)


def test_load_official_refuses_other_network_options(reference_case):
    # The case's checkpoint: ngf 8, discriminators of 7 and 5 layers.
    gan = Photo2CartoonGAN(**{**OPTIONS, "ngf": 12})
    with pytest.raises(ValueError, match=r"genA2B has ngf=8 \(GAN: 12\).*disGA has n_layers=7 \(GAN: 5\)"):
        load_official_gan(gan, reference_case["checkpoint"])


@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_compiled_fit_with_steps_per_execution(jit_compile):
    """The step traced into one graph (minutes on a small CPU), two steps per execution."""
    gan = Photo2CartoonGAN(**OPTIONS, face_features=face_features())
    gan.compile(jit_compile=jit_compile, steps_per_execution=2)
    before = snapshot(gan.trainable_variables)
    history = gan.fit(images(4, 13), images(4, 14), batch_size=1, epochs=1, shuffle=False, verbose=0)
    assert all(np.isfinite(values).all() for values in history.history.values())
    assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == 4
    assert all(not np.array_equal(keras.ops.convert_to_numpy(v), old) for v, old in zip(gan.trainable_variables, before))
