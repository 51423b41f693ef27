"""Weights: the default release downloaded from a loopback server (resumably), validated, converted once, cached."""

import json
import pickle

import keras
import numpy as np
import pytest

from keras_p2c.models import Photo2CartoonGAN
from keras_p2c.weights import DownloadError
from keras_p2c.weights import release as release_module
from keras_p2c.weights.convert import save_network
from keras_p2c.weights.porting import WeightConversionError
from keras_p2c.weights.release import (
    RELEASE_URL,
    URL_ENV,
    converted_path,
    generator_options_from_h5,
    load_generator,
    release_url,
    run_folder_weights,
)
from tests.helpers.file_server import FileServer

torch = pytest.importorskip("torch")

from tests.helpers.checkpoints import write_small_checkpoint  # noqa: E402

RELEASE_NAME = "photo2cartoon_genA2B_weight.pdparams"


@pytest.fixture
def server(tmp_path_factory):
    served = tmp_path_factory.mktemp("served") / "served.pdparams"
    file_server = FileServer(write_small_checkpoint(served, paddle=True).read_bytes())
    file_server.thread.start()
    yield file_server
    file_server.httpd.shutdown()
    file_server.httpd.server_close()


def same_weights(a, b):
    """Equal variables, in order (the networks are built the same way; cheaper than running them)."""
    def path(variable):
        return variable.path.split("/", 1)[1]  # without the model's own name

    pairs = list(zip(a.weights, b.weights))
    same = all(path(x) == path(y) and np.array_equal(np.asarray(x), np.asarray(y)) for x, y in pairs)
    return len(a.weights) == len(b.weights) and same


def forbid_conversion(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the checkpoint was converted again")

    monkeypatch.setattr(release_module, "load_official_network", refuse)


def test_release_url_default_and_override(monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    assert release_url() == RELEASE_URL == "https://paddlegan.bj.bcebos.com/models/" + RELEASE_NAME
    monkeypatch.setenv(URL_ENV, "http://mirror/x.pdparams")
    assert release_url() == "http://mirror/x.pdparams"
    assert release_url("http://given/y.pdparams") == "http://given/y.pdparams"


def test_default_weights_download_once_then_start_from_the_cache(server, tmp_path, monkeypatch):
    from keras_p2c import Photo2Cartoon

    monkeypatch.setenv(URL_ENV, server.url(RELEASE_NAME))
    predictor = Photo2Cartoon(cache_dir=tmp_path / "cache", segmenter=None, progress=False)
    generator = predictor.generator
    assert (generator.ngf, generator.n_blocks, generator.linear_bias) == (8, 2, False)  # the Paddle layout
    names = {p.name for p in (tmp_path / "cache").iterdir()}
    (converted,) = names - {RELEASE_NAME}
    assert RELEASE_NAME in names and len(names) == 2  # the download and its conversion beside it
    assert converted.startswith("photo2cartoon_genA2B_weight-") and converted.endswith(".weights.h5")
    assert len(server.requests) == 1

    forbid_conversion(monkeypatch)  # the second start reads the cached Keras weights
    again = load_generator(None, cache_dir=tmp_path / "cache", url=server.url(RELEASE_NAME), progress=False)
    assert len(server.requests) == 1
    assert same_weights(again, generator)


def test_interrupted_download_resumes(server, tmp_path):
    server.cut_after = len(server.content) // 3
    url = server.url(RELEASE_NAME)
    with pytest.raises(DownloadError, match="call again to resume.*photo2cartoon_weights.pt"):
        load_generator(None, cache_dir=tmp_path, url=url, progress=False)
    assert not (tmp_path / RELEASE_NAME).exists()  # only the .part file
    generator = load_generator(None, cache_dir=tmp_path, url=url, progress=False)
    assert server.requests == [None, f"bytes={len(server.content) // 3}-"]
    assert (tmp_path / RELEASE_NAME).read_bytes() == server.content
    assert generator.ngf == 8


def test_download_that_is_not_a_generator_is_deleted(server, tmp_path):
    server.content = pickle.dumps({"conv.weight": np.zeros((3, 3), "float32")}, protocol=2)
    with pytest.raises(WeightConversionError, match="not a Photo2Cartoon generator and was deleted") as error:
        load_generator(None, cache_dir=tmp_path, url=server.url(RELEASE_NAME), progress=False)
    assert server.url(RELEASE_NAME) in str(error.value)
    assert list(tmp_path.iterdir()) == []  # the next run downloads again

    server.content = b"<html>Service unavailable</html>"  # e.g. a proxy's error page served with 200
    with pytest.raises(WeightConversionError, match="was deleted"):
        load_generator(None, cache_dir=tmp_path, url=server.url("other.pdparams"), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_every_weights_format_gives_the_same_generator(tmp_path, monkeypatch, small_checkpoint, small_generator):
    keras_file = save_network(small_generator, tmp_path / "g.keras")
    h5_file = save_network(small_generator, tmp_path / "g.weights.h5")
    for path in (small_checkpoint, keras_file, h5_file):
        assert same_weights(load_generator(path, cache_dir=tmp_path / "cache"), small_generator), path
    expected = {"ngf": 8, "n_blocks": 2, "light": True, "img_size": 256, "linear_bias": True}
    assert generator_options_from_h5(h5_file) == expected
    pdparams = write_small_checkpoint(tmp_path / "mine.pdparams", paddle=True, seed=3)
    assert load_generator(pdparams, cache_dir=tmp_path / "cache").linear_bias is False


def test_user_checkpoint_is_converted_once_per_content(tmp_path, monkeypatch):
    checkpoint = write_small_checkpoint(tmp_path / "mine.pt", seed=1)
    first = load_generator(checkpoint, cache_dir=tmp_path / "cache")
    cached = converted_path(checkpoint, tmp_path / "cache")
    assert cached.is_file() and cached.name.startswith("mine-")

    with monkeypatch.context() as patch:
        forbid_conversion(patch)
        assert same_weights(load_generator(checkpoint, cache_dir=tmp_path / "cache"), first)

    write_small_checkpoint(checkpoint, seed=2)  # new content under the same name: converted again
    assert converted_path(checkpoint, tmp_path / "cache") != cached
    assert not same_weights(load_generator(checkpoint, cache_dir=tmp_path / "cache"), first)


def test_weights_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_generator(tmp_path / "absent.pt")
    bogus = tmp_path / "bogus.weights.h5"
    bogus.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="bogus.weights.h5.*not the weights file of a keras-p2c Generator"):
        load_generator(bogus)
    text = tmp_path / "notes.pdparams"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.pdparams"):
        load_generator(text, cache_dir=tmp_path)


def test_a_training_run_folder_gives_its_newest_export_else_its_backup(tmp_path):
    gan = Photo2CartoonGAN(img_size=64, ngf=8, ndf=8, n_blocks=2, global_layers=6, local_layers=5)
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    gan.save_weights(run / "backup" / "epoch-0000003.weights.h5")
    (run / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 3, "weights": "epoch-0000003.weights.h5"}))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(gan.genA2B(x)[0])
    # No export yet: genA2B out of the GAN backup (six networks and two optimisers in one file).
    assert run_folder_weights(run) == run / "backup" / "epoch-0000003.weights.h5"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(load_generator(run)(x)[0]), expected)
    # With exports: the final one over the step ones, the highest step otherwise.
    (run / "export").mkdir()
    gan.genA2B.save(run / "export" / "genA2B_step0000002.keras")
    gan.genA2B.save(run / "export" / "genA2B_step0000010.keras")
    assert run_folder_weights(run) == run / "export" / "genA2B_step0000010.keras"
    gan.genA2B.save(run / "export" / "genA2B.keras")
    assert run_folder_weights(run) == run / "export" / "genA2B.keras"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(load_generator(run)(x)[0]), expected)


def test_a_folder_that_is_not_a_run_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training run: expected export/genA2B"):
        load_generator(tmp_path)
