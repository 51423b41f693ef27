import sys

import numpy as np
import pytest

from keras_p2c.faces import MaskModelError, PortraitSegmenter, mask_model, prepare_faces, resolve_segmenter


@pytest.fixture(scope="module")
def prepared(astronaut, segmenter):
    (face,) = prepare_faces(astronaut, segmenter=segmenter)
    return face


def test_mask_separates_face_from_background(prepared):
    mask = prepared.crop_mask
    side = prepared.crop_box.side
    assert mask.shape == (side, side) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    # Foreground around the eyes, nose and mouth (aligned keypoints in crop pixels).
    for x, y in prepared.aligned_keypoints - [prepared.crop_box.left, prepared.crop_box.top]:
        x, y = int(round(x)), int(round(y))
        assert mask[y - 3 : y + 4, x - 3 : x + 4].mean() > 0.9
    # Background in both top corners (beside the hair).
    corner = max(side // 10, 4)
    assert mask[:corner, :corner].mean() < 0.1
    assert mask[:corner, -corner:].mean() < 0.1
    # The 256 version is the same mask resized.
    assert prepared.mask_256.shape == (256, 256)
    assert abs(prepared.mask_256.mean() - mask.mean()) < 0.02


def test_masked_input_is_white_on_background(prepared):
    # face * m + 255 * (1 - m) >= 255 * (1 - m): in [-1, 1] units, input >= 1 - 2 m.
    m = prepared.mask_256[:, :, None]
    assert np.all(prepared.input_256 >= 1.0 - 2.0 * m - 1e-5)
    background = prepared.mask_256 < 0.005
    assert background.mean() > 0.1
    assert prepared.input_256[background].min() > 0.989


def test_segmenter_on_any_size(segmenter):
    image = np.zeros((40, 90, 3), np.uint8)
    mask = segmenter(image)
    assert mask.shape == (40, 90)
    with pytest.raises(ValueError, match="RGB uint8"):
        segmenter(np.zeros((40, 90), np.uint8))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_tensorflow_interpreter_fallback_gives_the_same_mask(segmenter, monkeypatch):
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import fails -> tf.lite
    fallback = PortraitSegmenter(segmenter.model_path)
    assert "tensorflow" in type(fallback._interpreter).__module__
    np.testing.assert_allclose(fallback(image), segmenter(image), atol=1e-5)


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(MaskModelError, match="--force"):
        PortraitSegmenter(path)


def test_missing_model_says_how_to_fetch(tmp_path):
    with pytest.raises(MaskModelError, match=r"python -m keras_p2c.faces.mask_model") as info:
        PortraitSegmenter(tmp_path / "absent.tflite")
    assert "absent.tflite" in str(info.value) and "mask=None" in str(info.value)


def test_auto_fetches_the_model_and_errors_out_when_it_cannot(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_P2C_HOME", str(tmp_path))
    monkeypatch.setattr(mask_model, "_pip_download", lambda folder, extra: (None, "pip exit 1: offline"))
    with pytest.raises(MaskModelError, match="--no-mask") as info:  # not a silent "no masking"
        resolve_segmenter("auto")
    assert "offline" in str(info.value) and "\n" not in str(info.value)
    assert resolve_segmenter(None) is None
