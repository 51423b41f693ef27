"""The cache folder: an explicit folder, else $KERAS_P2C_HOME, else ~/.cache/keras_p2c."""

from pathlib import Path

from keras_p2c.cache import HOME_ENV, cache_dir


def test_cache_folder_order(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home"
    assert cache_dir(tmp_path / "given") == tmp_path / "given"
    assert cache_dir("~/x") == Path.home() / "x"
    monkeypatch.delenv(HOME_ENV)
    assert cache_dir() == Path.home() / ".cache" / "keras_p2c"
