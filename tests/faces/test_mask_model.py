import zipfile

import pytest

from keras_p2c.faces import mask_model
from keras_p2c.faces.mask_model import MaskModelError, WHEEL_MEMBER, fetch_mask_model


def fake_wheel(path, content):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mediapipe/__init__.py", "")
        if content is not None:
            archive.writestr(WHEEL_MEMBER, content)
    return path


def test_cache_location_follows_keras_p2c_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_P2C_HOME", str(tmp_path))
    assert mask_model.default_model_path() == tmp_path / "selfie_segmentation.tflite"


def test_extracts_only_a_file_with_the_right_checksum(tmp_path, monkeypatch):
    content = b"a stand-in for the model"
    monkeypatch.setattr(mask_model, "MODEL_SHA256", mask_model._sha256(content))
    wheel = fake_wheel(tmp_path / "mediapipe-0.10.21-py3-none-any.whl", content)
    dest = tmp_path / "cache" / "model.tflite"
    assert fetch_mask_model(dest, wheel=wheel) == dest
    assert dest.read_bytes() == content
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.tflite"]  # no temporary left
    # Already valid: returned without reading the wheel again.
    assert fetch_mask_model(dest, wheel=tmp_path / "absent.whl") == dest


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
    monkeypatch.setattr(mask_model, "MODEL_SHA256", mask_model._sha256(content))
    calls = []

    def fake_pip(folder, extra_args):
        calls.append(extra_args)
        if not extra_args:  # no wheel for this interpreter / platform
            return None, "no matching distribution"
        return fake_wheel(tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", content), None

    monkeypatch.setattr(mask_model, "_pip_download", fake_pip)
    dest = fetch_mask_model(tmp_path / "m.tflite")
    assert dest.read_bytes() == content
    assert calls == [(), mask_model.FALLBACK_WHEEL_ARGS]


def test_pip_failure_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(mask_model, "_pip_download", lambda folder, extra: (None, "pip said no"))
    with pytest.raises(MaskModelError, match="--wheel") as info:
        fetch_mask_model(tmp_path / "m.tflite")
    assert "pip said no" in str(info.value)
    assert mask_model.main(["--dest", str(tmp_path / "m.tflite")]) == 1
