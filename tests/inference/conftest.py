"""Shared fixtures: two faces in one photo, a small generator checkpoint written with torch, predictors on it.

The generator is ngf 8, 2 blocks (light, 256 input like the face pipeline): the whole photo → cartoon
path at a fraction of the released network's cost. Predictors share one converted `Generator`, so Keras
traces its predict function once for the session.
"""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def two_faces(astronaut):
    """The astronaut and her mirror image side by side (512 x 1024): two faces."""
    return np.hstack([astronaut, astronaut[:, ::-1]])


def write_small_checkpoint(path, paddle=False, seed=0):
    """A small Photo2Cartoon generator saved as the original `.pt` ({"genA2B": state_dict}) or as `.pdparams`."""
    torch = pytest.importorskip("torch")
    from tests.torch_reference import TorchGenerator, randomize_, to_paddle_state_dict
    from tests.weights.test_convert import save_pdparams

    torch.manual_seed(seed)
    net = randomize_(TorchGenerator(ngf=8, n_blocks=2, linear_bias=not paddle), seed).eval()
    if paddle:
        save_pdparams(path, to_paddle_state_dict(net))
    else:
        torch.save({"genA2B": net.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory):
    return write_small_checkpoint(tmp_path_factory.mktemp("weights") / "photo2cartoon_weights.pt")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def small_generator(small_checkpoint, cache_dir):
    from keras_p2c.weights.release import load_generator

    return load_generator(small_checkpoint, cache_dir=cache_dir)


@pytest.fixture
def make_predictor(small_generator, request):
    """`make_predictor(**options)`: a `Photo2Cartoon` on the shared small generator (masked unless segmenter=None)."""
    from keras_p2c import Photo2Cartoon

    def make(**options):
        if "segmenter" not in options:
            options["segmenter"] = request.getfixturevalue("segmenter")
        return Photo2Cartoon(weights=small_generator, **options)

    return make
