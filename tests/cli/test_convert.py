"""`p2c convert`: official checkpoints (either release, any of the six networks) → .keras / .weights.h5 files."""

import pytest

from keras_p2c.cli.main import main as p2c

torch = pytest.importorskip("torch")

from tests.helpers.checkpoints import (  # noqa: E402
    assert_parity,
    save_original,
    save_pdparams,
    torch_discriminator,
    torch_generator,
)
from tests.reference.torch_reference import to_paddle_state_dict  # noqa: E402


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_convert_command_writes_keras_files(tmp_path, suffix, capsys):
    import keras

    from keras_p2c.models import Generator

    net = torch_generator()
    source = tmp_path / "photo2cartoon_weights.pt"
    save_original(source, {"genA2B": net}, legacy=True)
    destination = tmp_path / f"genA2B{suffix}"
    assert p2c(["convert", str(source), str(destination)]) == 0
    assert "genA2B" in capsys.readouterr().out
    if suffix == ".keras":
        generator = keras.saving.load_model(destination)
    else:
        generator = Generator(ngf=8, n_blocks=2)
        generator.build((None, 64, 64, 3))
        generator.load_weights(destination)
    assert_parity(generator, net, size=64)
    assert not list(tmp_path.glob(".partial-*"))


def test_convert_command_reports_bad_input_without_a_traceback(tmp_path, capsys):
    source = tmp_path / "not_a_checkpoint.pt"
    source.write_bytes(b"hello")
    assert p2c(["convert", str(source), str(tmp_path / "out.keras")]) == 1
    assert str(source) in capsys.readouterr().err
    assert not (tmp_path / "out.keras").exists()


def test_convert_command_takes_a_discriminator(tmp_path):
    import keras

    net = torch_discriminator(n_layers=7)
    source = tmp_path / "photo2cartoon_weights.pt"
    save_original(source, {"disGB": net}, legacy=True)
    destination = tmp_path / "disGB.keras"
    assert p2c(["convert", str(source), str(destination), "--network", "disGB"]) == 0
    assert_parity(keras.saving.load_model(destination), net, size=128)


@pytest.mark.parametrize("drop", [None, "FC.0.weight", "DownBlock.1.weight"], ids=["empty", "no-fc0", "no-stem"])
def test_convert_command_lists_missing_generator_keys_of_a_pdparams(tmp_path, capsys, drop):
    state = {} if drop is None else to_paddle_state_dict(torch_generator(linear_bias=False))
    if drop is not None:
        del state[drop]
    source = tmp_path / "photo2cartoon_genA2B_weight.pdparams"
    save_pdparams(source, state)
    assert p2c(["convert", str(source), str(tmp_path / "out.keras")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(source) in err and "not a Photo2Cartoon generator" in err
    for key in ["FC.0.weight", "DownBlock.1.weight"] if drop is None else [drop]:
        assert f"missing key {key!r}" in err
    assert not (tmp_path / "out.keras").exists()


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_convert_command_names_a_keras_file_and_the_formats_it_reads(tmp_path, capsys, suffix):
    from keras_p2c.models import Generator

    generator = Generator(ngf=8, n_blocks=2, img_size=64)
    generator.build((None, 64, 64, 3))
    source = tmp_path / f"genA2B{suffix}"
    generator.save(source) if suffix == ".keras" else generator.save_weights(source)
    assert p2c(["convert", str(source), str(tmp_path / "out.keras")]) == 1
    err = capsys.readouterr().err
    assert "already in Keras' format" in err and ".pdparams" in err and ".pt" in err and "zip" not in err
