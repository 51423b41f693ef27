"""`p2c serve --runtime`: a version's generator signatures on OpenVINO, against the SavedModel's own."""

import numpy as np
import pytest

from keras_p2c import cpu
from keras_p2c.inference import runtimes
from keras_p2c.serving.registry import ModelRegistry

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def runtime_cache(tmp_path_factory):
    """One conversion of the export for the module (the cache is keyed by the SavedModel's files)."""
    return tmp_path_factory.mktemp("runtimes")


def _registry(exported, cache, log, warmup=True, **runtime):
    _, model_dir = exported
    return ModelRegistry(model_dir, runtime={"cache_dir": cache, **runtime}, log=log, warmup=warmup)


@pytest.fixture(scope="module")
def on_openvino(exported, runtime_cache):
    """(served version, log lines) with the generator signatures on OpenVINO float32."""
    lines = []
    return _registry(exported, runtime_cache, lines.append, runtime="openvino", precision="float32").get(), lines


def _png(seed, shape=(300, 200, 3)):
    import cv2

    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return cv2.imencode(".png", pixels)[1].tobytes()


def _decoded(data):
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(np.int16)


def test_wrong_shapes_are_client_errors(on_openvino):
    served, _ = on_openvino
    with pytest.raises(ValueError, match=r"must be float32 of shape \[None, 256, 256, 3\]"):
        served.predict("predict_images", {"images": np.zeros((1, 128, 256, 3), np.float32)})
    assert served.accelerated.runtime.chosen is None


def test_openvino_serves_both_generator_signatures(on_openvino):
    served, lines = on_openvino
    runtime = served.accelerated.runtime
    assert served.warmup.requests >= 2 and runtime.chosen is None  # warm-up compiles, chooses nothing
    images = np.random.default_rng(0).uniform(-1, 1, (2, 256, 256, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="outside its bound"):  # the untrained ngf-8 network: see below
        outputs = served.predict("predict_images", {"images": images})
    assert runtime.name == "openvino" and runtime.check.checked_on == "the first request's first image"
    assert any("generator on openvino float32" in line for line in lines)
    expected = served.signatures["predict_images"](images=images)
    for name in ("image", "cam_logit", "heatmap"):
        assert outputs[name].shape == tuple(expected[name].shape)
        # This untrained ngf-8 network: OpenVINO float32 is ~1.6e-3 from TensorFlow (~1e-5 on the released
        # architecture, tests/inference/test_runtimes.py); the check reports it and auto would fall back.
        assert float(np.max(np.abs(outputs[name] - expected[name].numpy()))) < 2e-2
    # The check ran the first image alone (batch 1), against the SavedModel's signature on it alone.
    alone = served.signatures["predict_images"](images=images[:1])["image"].numpy()
    difference = float(np.max(np.abs(runtime.chosen(images[:1])[0] - alone)))
    assert runtime.check.max_abs_difference == pytest.approx(difference, abs=1e-7)
    photos = np.array([_png(1), _png(2, (64, 500, 3))], dtype=object)
    cartoons = served.predict("serving_default", {"images": photos})["cartoon_bytes"]
    reference = served.signatures["serving_default"](images=photos)["cartoon_bytes"].numpy()
    for got, want in zip(cartoons, reference):
        assert _decoded(got).shape == (256, 256, 3)
        assert int(np.max(np.abs(_decoded(got) - _decoded(want)))) <= 8  # PNG levels, from the float difference above


def test_auto_falls_back_to_the_savedmodel_when_the_check_fails(exported, runtime_cache, monkeypatch):
    monkeypatch.setattr(cpu, "has_bf16_units", lambda: False)
    monkeypatch.setattr(runtimes.checks, "FLOAT32_ATOL", 0.0)
    lines = []
    served = _registry(exported, runtime_cache, lines.append, runtime="auto").get()
    images = np.random.default_rng(3).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    outputs = served.predict("predict_images", {"images": images})
    assert served.accelerated.runtime.name == "tensorflow"
    expected = served.signatures["predict_images"](images=images)
    assert np.array_equal(outputs["image"], expected["image"].numpy())
    assert any("passed over openvino float32" in line for line in lines)


def test_tensorflow_runtime_leaves_the_savedmodel_alone(exported, runtime_cache):
    served = _registry(exported, runtime_cache, lambda line: None, runtime="tensorflow", warmup=False).get()
    assert served.accelerated is None
