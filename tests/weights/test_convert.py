"""Official checkpoints in both formats → Keras, compared with a PyTorch statement of the reference."""

import numpy as np
import pytest

from keras_p2c.weights.convert import load_official_network, load_official_networks, save_network
from keras_p2c.weights.porting import WeightConversionError

torch = pytest.importorskip("torch")

from tests.helpers.checkpoints import (  # noqa: E402
    assert_parity,
    save_original,
    save_pdparams,
    six_networks,
    torch_discriminator,
    torch_generator,
)
from tests.reference.torch_reference import to_paddle_state_dict  # noqa: E402


@pytest.mark.slow  # the default run checks both generators of both containers in the six-network test below
@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-container", "zip-container"])
def test_original_checkpoint_generators_match_the_reference(tmp_path, legacy):
    nets = {"genA2B": torch_generator(seed=0), "genB2A": torch_generator(seed=1)}
    path = tmp_path / "photo2cartoon_weights.pt"
    save_original(path, nets, legacy)
    for name, net in nets.items():
        assert_parity(load_official_network(path, network=name), net, size=64)


def test_original_checkpoint_full_size_matches_the_reference(tmp_path):
    """The released configuration: ngf 32, 4 blocks, 256×256, legacy container."""
    net = torch_generator(ngf=32, n_blocks=4)
    path = tmp_path / "photo2cartoon_weights.pt"
    save_original(path, {"genA2B": net}, legacy=True)
    generator = load_official_network(path)
    assert (generator.ngf, generator.n_blocks, generator.light, generator.linear_bias) == (32, 4, True, True)
    assert_parity(generator, net, size=256, batch=1)


@pytest.mark.parametrize("protocol", [2, 4])
def test_paddle_checkpoint_matches_the_reference(tmp_path, protocol):
    net = torch_generator(linear_bias=False)
    path = tmp_path / "photo2cartoon_genA2B_weight.pdparams"
    save_pdparams(path, to_paddle_state_dict(net), protocol)
    generator = load_official_network(path)
    assert generator.linear_bias is False
    assert_parity(generator, net, size=64)


def test_untransposed_square_linear_weights_are_caught_by_parity(tmp_path):
    """Square 128×128 Linear kernels load without a shape error if left as torch's [out, in]."""
    net = torch_generator(linear_bias=False)
    state = to_paddle_state_dict(net)
    state["FC.2.weight"] = state["FC.2.weight"].T.copy()
    path = tmp_path / "wrong.pdparams"
    save_pdparams(path, state)
    with pytest.raises(AssertionError):
        assert_parity(load_official_network(path), net, size=64)


def test_missing_extra_and_misshaped_keys_are_all_named(tmp_path):
    state = {k: v.numpy() for k, v in torch_generator().state_dict().items()}
    del state["DecodeBlock1.norm1.w_gamma"]
    state["EncodeBlock1.conv_block.1.extra"] = np.zeros(3, "float32")
    state["UpBlock1.2.weight"] = np.zeros((16, 32, 5, 5), "float32")
    path = tmp_path / "broken.pt"
    torch.save({"genA2B": {k: torch.from_numpy(v) for k, v in state.items()}}, path)
    with pytest.raises(WeightConversionError) as error:
        load_official_network(path)
    message = str(error.value)
    assert "missing key 'DecodeBlock1.norm1.w_gamma'" in message
    assert "unexpected key 'EncodeBlock1.conv_block.1.extra'" in message
    assert "shape mismatch for 'UpBlock1.2.weight'" in message
    assert str(path) in message


def test_dead_convblock4_weights_are_skipped_only_by_name(tmp_path):
    state = torch_generator().state_dict()
    assert sum(".ConvBlock4." in key for key in state) == 4 * 14
    path = tmp_path / "p2c.pt"
    torch.save({"genA2B": state}, path)
    load_official_network(path)  # accepted: dead weights are known by name
    state["HourGlass1.HG.2.stray"] = torch.zeros(1)
    torch.save({"genA2B": state}, path)
    with pytest.raises(WeightConversionError, match="unexpected key 'HourGlass1.HG.2.stray'"):
        load_official_network(path)


def test_a_checkpoint_without_the_six_networks_gets_a_clear_error(tmp_path):
    path = tmp_path / "single.pt"
    torch.save(torch_generator().state_dict(), path)
    with pytest.raises(WeightConversionError, match="genA2B, genB2A, disGA"):
        load_official_network(path)


def test_pdparams_holds_no_discriminator(tmp_path):
    path = tmp_path / "g.pdparams"
    save_pdparams(path, to_paddle_state_dict(torch_generator(linear_bias=False)))
    with pytest.raises(WeightConversionError, match="holds one generator"):
        load_official_network(path, network="disGA")


def test_save_network_refuses_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.keras or \.weights\.h5"):
        save_network(object(), tmp_path / "out.h5")


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-container", "zip-container"])
def test_all_six_networks_of_the_original_checkpoint_match_the_reference(tmp_path, legacy):
    nets = six_networks()
    path = tmp_path / "photo2cartoon_weights.pt"
    save_original(path, nets, legacy)
    models = load_official_networks(path)
    assert sorted(models) == sorted(nets)
    for name in ("disGA", "disLA"):
        assert models[name].n_layers == (7 if name.startswith("disG") else 5)
    for name, net in nets.items():
        assert_parity(models[name], net, size=128)


def test_discriminator_training_call_matches_the_reference_power_iteration(tmp_path):
    net = torch_discriminator(n_layers=5)
    path = tmp_path / "p2c.pt"
    save_original(path, {"disLA": net}, legacy=False)
    discriminator = load_official_network(path, network="disLA")
    x = np.random.default_rng(3).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    with torch.no_grad():
        expected = net.train()(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    actual = discriminator(x, training=True)
    np.testing.assert_allclose(np.asarray(actual[0]), expected[0].numpy().transpose(0, 2, 3, 1), atol=1e-5)
    # The stored vectors advanced exactly as torch's did.
    np.testing.assert_allclose(np.asarray(discriminator.conv.u), net.conv.weight_u.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(discriminator.cam.gap_fc.v), net.gap_fc.weight_v.numpy(), atol=1e-5)


def test_discriminator_keys_are_checked_strictly(tmp_path):
    state = torch_discriminator(n_layers=5).state_dict()
    del state["gap_fc.weight_u"]
    state["model.4.weight_orig"] = torch.zeros(16, 8, 3, 3)
    path = tmp_path / "broken.pt"
    torch.save({"disLA": state}, path)
    with pytest.raises(WeightConversionError) as error:
        load_official_network(path, network="disLA")
    message = str(error.value)
    assert "missing key 'gap_fc.weight_u'" in message
    assert "shape mismatch for 'model.4.weight_orig'" in message
    assert "[disLA]" in message


def test_original_generator_without_its_stem_lists_the_missing_key(tmp_path):
    state = torch_generator().state_dict()
    del state["ConvBlock1.1.weight"]
    path = tmp_path / "broken.pt"
    torch.save({"genA2B": state}, path)
    with pytest.raises(WeightConversionError, match="missing key 'ConvBlock1.1.weight'"):
        load_official_network(path)
