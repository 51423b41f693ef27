"""Small random PyTorch networks of the reference (`tests/reference`), saved as the original release's `.pt` or
as PaddleGAN's `.pdparams`, and the check that a converted Keras network computes what the torch one does.

Importers that need torch skip first (`pytest.importorskip("torch")`): this module imports it.
"""

import pickle

import numpy as np
import torch

from tests.reference.torch_reference import TorchDiscriminator, TorchGenerator, randomize_, to_paddle_state_dict


def torch_generator(ngf=8, n_blocks=2, linear_bias=True, seed=0):
    torch.manual_seed(seed)
    return randomize_(TorchGenerator(ngf, n_blocks, linear_bias), seed).eval()


def torch_discriminator(ndf=8, n_layers=5, seed=0):
    """A discriminator whose power-iteration vectors have moved off their random start."""
    torch.manual_seed(seed)
    net = TorchDiscriminator(ndf, n_layers).train()
    with torch.no_grad():
        net(torch.rand(1, 3, 128, 128) * 2 - 1)
    return net.eval()


def six_networks(ngf=8, ndf=8):
    return {
        "genA2B": torch_generator(ngf=ngf, seed=0),
        "genB2A": torch_generator(ngf=ngf, seed=1),
        "disGA": torch_discriminator(ndf, 7, seed=2),
        "disGB": torch_discriminator(ndf, 7, seed=3),
        "disLA": torch_discriminator(ndf, 5, seed=4),
        "disLB": torch_discriminator(ndf, 5, seed=5),
    }


def run_torch(net, x_nhwc):
    with torch.no_grad():
        outputs = net(torch.from_numpy(x_nhwc.transpose(0, 3, 1, 2)))
    return [t.numpy().transpose(0, 2, 3, 1) if t.dim() == 4 else t.numpy() for t in outputs]


def assert_parity(keras_model, torch_net, size, batch=2, image_atol=1e-4):
    x = np.random.default_rng(1).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    expected = run_torch(torch_net, x)
    actual = [np.asarray(t) for t in keras_model(x)]
    np.testing.assert_allclose(actual[0], expected[0], atol=image_atol, rtol=0)
    for got, want in zip(actual[1:], expected[1:]):
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max(), rtol=0)


def save_original(path, networks, legacy):
    torch.save({name: net.state_dict() for name, net in networks.items()}, path, _use_new_zipfile_serialization=not legacy)


def pdparams_bytes(state_dict, protocol=2):
    """What `paddle.save(layer.state_dict(), path)` writes: the arrays and Paddle's name table, pickled."""
    contents = dict(state_dict)
    contents["StructuredToParameterName@@"] = {key: f"param_{i}" for i, key in enumerate(state_dict)}
    return pickle.dumps(contents, protocol=protocol)


def save_pdparams(path, state_dict, protocol=2):
    with open(path, "wb") as handle:
        handle.write(pdparams_bytes(state_dict, protocol))


def write_small_checkpoint(path, paddle=False, seed=0):
    """A small Photo2Cartoon generator saved as the original `.pt` ({"genA2B": state_dict}) or as `.pdparams`."""
    torch.manual_seed(seed)
    net = randomize_(TorchGenerator(ngf=8, n_blocks=2, linear_bias=not paddle), seed).eval()
    if paddle:
        save_pdparams(path, to_paddle_state_dict(net))
    else:
        torch.save({"genA2B": net.state_dict()}, path)
    return path
