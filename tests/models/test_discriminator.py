import keras
import numpy as np
import pytest

from keras_p2c.layers.spectral import SpectralConv2D, SpectralDense
from keras_p2c.models.discriminator import Discriminator, body_layer_indices, minimum_input_size


def sample(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def vectors(discriminator):
    return [(layer.u.numpy().copy(), layer.v.numpy().copy()) for layer in discriminator.spectral_layers()]


@pytest.mark.parametrize(
    "n_layers, size, logits, heatmap",
    [
        (5, 64, 6, 7),  # local
        (7, 128, 2, 3),  # global: five halvings, then −1 per 4×4 stride-1 conv
        (5, 24, 1, 2),  # smallest local input
        (7, 96, 1, 2),  # smallest global input
    ],
)
def test_output_shapes(n_layers, size, logits, heatmap):
    discriminator = Discriminator(ndf=4, n_layers=n_layers)
    outputs = discriminator(sample((2, size, size, 3)))
    assert [tuple(t.shape) for t in outputs] == [(2, logits, logits, 1), (2, 2), (2, heatmap, heatmap, 1)]
    assert all(t.dtype == "float32" for t in outputs)
    assert discriminator.compute_output_shape((2, size, size, 3)) == tuple(tuple(t.shape) for t in outputs)


def test_output_shapes_at_256_from_the_shape_arithmetic():
    # The reference's 256² shapes, without running a 256² forward.
    assert Discriminator(ndf=32, n_layers=7).compute_output_shape((1, 256, 256, 3)) == (
        (1, 6, 6, 1),
        (1, 2),
        (1, 7, 7, 1),
    )
    assert Discriminator(ndf=32, n_layers=5).compute_output_shape((1, 256, 256, 3)) == (
        (1, 30, 30, 1),
        (1, 2),
        (1, 31, 31, 1),
    )


def test_symbolic_call_with_unknown_size():
    outputs = Discriminator(ndf=4, n_layers=5)(keras.Input((None, None, 3)))
    assert [tuple(t.shape) for t in outputs] == [(None, None, None, 1), (None, 2), (None, None, None, 1)]


def test_non_square_input():
    logits, _, heatmap = Discriminator(ndf=4, n_layers=5)(sample((1, 48, 80, 3)))
    assert logits.shape == (1, 4, 8, 1) and heatmap.shape == (1, 5, 9, 1)


@pytest.mark.parametrize(
    "n_layers, params, buffers, tensors",
    [(7, 13_294_048, 36_371, 35), (5, 826_080, 8_723, 27)],
)
def test_parameter_counts_match_the_reference(n_layers, params, buffers, tensors):
    discriminator = Discriminator(ndf=32, n_layers=n_layers)
    discriminator.build((None, 256, 256, 3))
    assert sum(int(np.prod(w.shape)) for w in discriminator.trainable_weights) == params
    assert sum(int(np.prod(w.shape)) for w in discriminator.non_trainable_weights) == buffers
    assert len(discriminator.weights) == tensors


def test_layer_names_follow_the_reference_state_dict():
    discriminator = Discriminator(ndf=4, n_layers=7)
    discriminator.build((None, 128, 128, 3))
    assert body_layer_indices(7) == [1, 4, 7, 10, 13, 16]
    assert [layer.name for layer in discriminator.body] == [f"model_{i}" for i in (1, 4, 7, 10, 13, 16)]
    assert [layer.filters for layer in discriminator.body] == [4, 8, 16, 32, 64, 128]
    assert [layer.strides for layer in discriminator.body] == [(2, 2)] * 5 + [(1, 1)]
    assert all(layer.use_bias for layer in discriminator.body)
    assert isinstance(discriminator.cam.gap_fc, SpectralDense) and not discriminator.cam.gap_fc.use_bias
    assert isinstance(discriminator.conv, SpectralConv2D) and not discriminator.conv.use_bias
    assert tuple(discriminator.cam.conv1x1.kernel.shape) == (1, 1, 256, 128)
    paths = {w.path.split("/", 1)[1] for w in discriminator.weights}
    assert {"model_16/v", "cam/gap_fc/kernel", "cam/gmp_fc/u", "cam/conv1x1/bias", "conv/kernel"} <= paths


def test_bad_arguments_and_inputs_are_named():
    with pytest.raises(ValueError, match="n_layers=2"):
        Discriminator(n_layers=2)
    with pytest.raises(ValueError, match="ndf=0"):
        Discriminator(ndf=0)
    assert minimum_input_size(7) == 96 and minimum_input_size(5) == 24
    with pytest.raises(ValueError, match="at least 96 pixels"):
        Discriminator(ndf=4, n_layers=7)(sample((1, 64, 64, 3)))


def test_training_advances_every_spectral_layer_and_inference_does_not():
    discriminator = Discriminator(ndf=4, n_layers=5)
    x = sample((1, 32, 32, 3))
    discriminator(x)
    before = vectors(discriminator)
    for training in (False, None):
        discriminator(x, training=training)
        for (u, v), (u0, v0) in zip(vectors(discriminator), before):
            np.testing.assert_array_equal(u, u0)
            np.testing.assert_array_equal(v, v0)
    discriminator(x, training=True)
    after = vectors(discriminator)
    assert len(after) == 4 + 2 + 1
    for (u, v), (u0, v0) in zip(after, before):
        assert not np.array_equal(v, v0)


def test_cam_weights_the_map_by_the_unnormalised_kernel():
    """Quirk g-5: scaling an fc's kernel leaves its logit alone but scales its half of the map."""
    discriminator = Discriminator(ndf=4, n_layers=5)
    x = sample((1, 32, 32, 3))
    for _ in range(3):  # σ estimates from random initial u, v can be tiny; iterate a little first
        discriminator(x, training=True)
    logits, cam_logit, heatmap = discriminator(x)
    gap_fc = discriminator.cam.gap_fc
    gap_fc.kernel.assign(gap_fc.kernel.numpy() * 3.0)
    logits_scaled, cam_logit_scaled, heatmap_scaled = discriminator(x)
    # The same logits up to the rounding of W/sigma vs 3W/(3 sigma). A purely relative bound fails
    # where a logit is near 0 (measured over 40 initialisations: worst relative 8e-6 default, 3.5e-5
    # ONEDNN_MAX_CPU_ISA=AVX2, 2.1e-5 TF_ENABLE_ONEDNN_OPTS=0, one in 40 over 1e-5 on the latter two);
    # measured against the largest logit the difference stays <= 3.3e-7, so allow 2e-6 of that scale.
    scale = np.abs(np.asarray(cam_logit)).max()
    np.testing.assert_allclose(cam_logit_scaled, cam_logit, rtol=1e-5, atol=2e-6 * scale)
    assert np.abs(np.asarray(heatmap_scaled) - np.asarray(heatmap)).max() > 1e-2 * np.abs(np.asarray(heatmap)).max()


def test_config_round_trip():
    discriminator = Discriminator(ndf=8, n_layers=7, name="disGA")
    clone = Discriminator.from_config(discriminator.get_config())
    assert (clone.ndf, clone.n_layers, clone.name) == (8, 7, "disGA")


def test_keras_file_round_trip_gives_identical_outputs_and_vectors(tmp_path):
    discriminator = Discriminator(ndf=4, n_layers=5)
    x = sample((2, 32, 32, 3))
    discriminator(x, training=True)  # u, v away from their initial values
    expected = [np.asarray(t) for t in discriminator(x)]
    path = tmp_path / "d.keras"
    discriminator.save(path)
    reloaded = keras.saving.load_model(path)
    for a, b in zip(reloaded(x), expected):
        np.testing.assert_array_equal(np.asarray(a), b)
    for (u, v), (u0, v0) in zip(vectors(reloaded), vectors(discriminator)):
        np.testing.assert_array_equal(u, u0)
        np.testing.assert_array_equal(v, v0)
    # Training calls continue identically from the saved vectors.
    for a, b in zip(reloaded(x, training=True), discriminator(x, training=True)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_mixed_precision():
    discriminator = Discriminator(ndf=4, n_layers=5, dtype="mixed_float16")
    outputs = discriminator(sample((1, 32, 32, 3)), training=True)
    assert all(t.dtype == "float32" and np.all(np.isfinite(t)) for t in outputs)
    assert all(w.dtype == "float32" for w in discriminator.weights)
    assert all(layer.dtype_policy.name == "mixed_float16" for layer in [*discriminator.body, discriminator.cam])
    assert discriminator.cam.gap_fc.dtype_policy.name == "mixed_float16"


def test_fit_step_updates_the_vectors():
    discriminator = Discriminator(ndf=4, n_layers=5)
    x = sample((2, 32, 32, 3))
    discriminator(x)
    before = vectors(discriminator)
    discriminator.compile(optimizer="adam", loss=["mse", "mse", "mse"])
    targets = [np.ones((2, 2, 2, 1), "float32"), np.ones((2, 2), "float32"), np.zeros((2, 3, 3, 1), "float32")]
    history = discriminator.fit(x, targets, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for (u, _), (u0, _) in zip(vectors(discriminator)[:4], before[:4]):
        assert not np.array_equal(u, u0)


# Against the test-side PyTorch statement of the reference (torch's own spectral_norm).
def copy_torch_weights(torch_model, discriminator):
    """Copies a TorchDiscriminator state dict into the Keras model by the documented table."""
    state = {key: value.detach().numpy().copy() for key, value in torch_model.state_dict().items()}

    def spectral(layer, prefix, dense=False):
        kernel = state[f"{prefix}.weight_orig"]
        values = [kernel.T if dense else kernel.transpose(2, 3, 1, 0)]
        if layer.use_bias:
            values.append(state[f"{prefix}.bias"])
        v = state[f"{prefix}.weight_v"]
        if not dense:
            out_channels, in_channels, kh, kw = kernel.shape
            v = v.reshape(in_channels, kh, kw).transpose(1, 2, 0).ravel()
        layer.set_weights(values + [state[f"{prefix}.weight_u"], v])

    for layer, index in zip(discriminator.body, body_layer_indices(discriminator.n_layers)):
        spectral(layer, f"model.{index}")
    spectral(discriminator.cam.gap_fc, "gap_fc", dense=True)
    spectral(discriminator.cam.gmp_fc, "gmp_fc", dense=True)
    discriminator.cam.conv1x1.set_weights([state["conv1x1.weight"].transpose(2, 3, 1, 0), state["conv1x1.bias"]])
    spectral(discriminator.conv, "conv")


@pytest.mark.parametrize("n_layers, size", [(5, 32), (7, 96)])
def test_matches_the_torch_reference_in_train_and_eval_mode(n_layers, size):
    torch = pytest.importorskip("torch")
    from tests.reference.torch_reference import TorchDiscriminator

    torch.manual_seed(n_layers)
    reference = TorchDiscriminator(ndf=4, n_layers=n_layers)
    discriminator = Discriminator(ndf=4, n_layers=n_layers)
    discriminator.build((None, size, size, 3))
    copy_torch_weights(reference, discriminator)
    x = sample((2, size, size, 3), seed=n_layers)
    x_torch = torch.from_numpy(x.transpose(0, 3, 1, 2))

    def compare(keras_outputs, torch_outputs):
        logits, cam_logit, heatmap = (t.detach().numpy() for t in torch_outputs)
        np.testing.assert_allclose(keras_outputs[0], logits.transpose(0, 2, 3, 1), atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(keras_outputs[1], cam_logit, atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(keras_outputs[2], heatmap.transpose(0, 2, 3, 1), atol=1e-4, rtol=1e-4)

    for _ in range(2):  # two training calls: u, v advance in step
        reference.train()
        compare(discriminator(x, training=True), reference(x_torch))
    reference.eval()
    with torch.no_grad():
        compare(discriminator(x, training=False), reference(x_torch))
    np.testing.assert_allclose(discriminator.conv.u.numpy(), reference.conv.weight_u.numpy(), atol=1e-6)
    np.testing.assert_allclose(discriminator.cam.gap_fc.v.numpy(), reference.gap_fc.weight_v.numpy(), atol=1e-6)
