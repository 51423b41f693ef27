import numpy as np
import pytest
import tensorflow as tf

from data_tools.make_synthetic_dataset import main as make_synthetic_main
from keras_p2c.data.decode import load_rgb
from keras_p2c.data.synthetic import write_synthetic_dataset


def _files(root):
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def _distinct_colours(path):
    pixels = load_rgb(tf.constant(str(path))).numpy().reshape(-1, 3)
    return len(np.unique(pixels, axis=0))


def test_writes_the_four_folders_deterministically(tmp_path):
    first = write_synthetic_dataset(tmp_path / "one", n_train=3, n_test=2, size=32, seed=5)
    second = write_synthetic_dataset(tmp_path / "two", n_train=3, n_test=2, size=32, seed=5)
    names = _files(first)
    assert names == _files(second)
    assert [name.split("/")[0] for name in names].count("trainA") == 3
    assert [name.split("/")[0] for name in names].count("testB") == 2
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    other = write_synthetic_dataset(tmp_path / "three", n_train=3, n_test=2, size=32, seed=6)
    assert (other / names[0]).read_bytes() != (first / names[0]).read_bytes()


def test_photos_are_smooth_and_cartoons_flat(tmp_path):
    root = write_synthetic_dataset(tmp_path, n_train=2, n_test=1, size=64)
    photo, cartoon = sorted((root / "trainA").iterdir())[0], sorted((root / "trainB").iterdir())[0]
    assert load_rgb(tf.constant(str(photo))).shape == (64, 64, 3)
    # Cartoons are a handful of flat colours; photos have shading and noise.
    assert _distinct_colours(cartoon) <= 10 < 500 < _distinct_colours(photo)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="n_train"):
        write_synthetic_dataset(tmp_path, n_train=0)
    with pytest.raises(ValueError, match="size"):
        write_synthetic_dataset(tmp_path, size=8)


def test_command_line(tmp_path, capsys):
    assert make_synthetic_main(["--root", str(tmp_path / "set"), "--n-train", "2", "--n-test", "1", "--size", "24"]) == 0
    assert len(list((tmp_path / "set" / "trainB").iterdir())) == 2
    assert "under" in capsys.readouterr().out
    assert make_synthetic_main(["--root", str(tmp_path / "bad"), "--size", "4"]) == 2
