"""Where the generator runs (`keras_p2c.inference.runtimes`): each runtime against Keras' float32 generator.

The generator has the release's architecture (ngf 32, 4 blocks, 256²) with the reference network's random
weights; OpenVINO converts it once for the module into a shared cache. The onnxruntime conversion
(tf2onnx, minutes) is slow-marked. (On the suite's ngf-8 test network OpenVINO float32 is 2.7e-4 from
Keras and torch, which agree to 8e-6: that network fails the check, and `auto` falls back.)
"""

import shutil

import numpy as np
import pytest

from keras_p2c.cli.runtime_options import PRECISION_CHOICES, RUNTIME_CHOICES
from keras_p2c import cpu
from keras_p2c.cpu import has_bf16_units
from keras_p2c.inference import runtimes
from keras_p2c.inference.runtimes import (
    FLOAT32_ATOL,
    PSNR_FLOOR_DB,
    GeneratorRuntime,
    KerasSource,
    RuntimeUnavailable,
    candidates,
    check_runtime,
    psnr_db,
    select_runtime,
)

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def generator():
    """The release architecture with the reference network's random weights, converted into Keras."""
    pytest.importorskip("torch")
    from tests.helpers.checkpoints import torch_generator

    from keras_p2c.weights.convert import generator_from_state_dict

    net = torch_generator(ngf=32, n_blocks=4, seed=0)
    state_dict = {key: value.detach().numpy() for key, value in net.state_dict().items()}
    return generator_from_state_dict(state_dict, source_name="the reference network", img_size=256)


@pytest.fixture(scope="module")
def runtime_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("runtimes")


def without_checks(runtime_cache, tmp_path):
    """A new cache holding `runtime_cache`'s converted models but none of its checks: checked afresh."""
    (source,) = (runtime_cache / "runtimes").iterdir()
    target = tmp_path / "runtimes" / source.name
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.suffix in (".xml", ".bin"):
            shutil.copy(path, target / path.name)
    return tmp_path


@pytest.fixture(scope="module")
def face_input(astronaut):
    """The astronaut's face as the predictor feeds the generator, (1, 256, 256, 3)."""
    from keras_p2c.faces.prepare import prepare_faces

    return prepare_faces(astronaut, name="astronaut")[0].input_256[None].astype(np.float32)


@pytest.fixture(scope="module")
def keras_image(generator, face_input):
    return np.asarray(generator.predict_on_batch(face_input)[0])


def test_cli_choices_are_the_runtimes():
    assert RUNTIME_CHOICES == runtimes.RUNTIMES
    assert PRECISION_CHOICES == runtimes.PRECISIONS


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="`runtime` must be one of"):
        check_runtime("tensorrt")
    with pytest.raises(ValueError, match="`precision` must be one of"):
        check_runtime("auto", "float16")
    with pytest.raises(ValueError, match="runs float32 only"):
        check_runtime("tensorflow", "bf16")


def test_runtime_defaults_to_the_environment(monkeypatch):
    monkeypatch.delenv(runtimes.RUNTIME_ENV, raising=False)
    assert check_runtime() == ("auto", "auto")
    monkeypatch.setenv(runtimes.RUNTIME_ENV, "openvino")
    assert check_runtime() == ("openvino", "auto")
    assert check_runtime("tensorflow") == ("tensorflow", "auto")
    monkeypatch.setenv(runtimes.RUNTIME_ENV, "fast")
    with pytest.raises(ValueError, match="received: runtime='fast'|Received: runtime='fast'"):
        check_runtime()


@pytest.mark.parametrize("bf16_units", [True, False])
def test_auto_tries_bf16_only_where_the_cpu_has_bf16_units(monkeypatch, bf16_units):
    monkeypatch.setattr(cpu, "has_bf16_units", lambda: bf16_units)
    expected = [("openvino", "bf16")] if bf16_units else []
    assert candidates("auto") == expected + [("openvino", "float32"), ("tensorflow", "float32")]
    assert candidates("openvino") == expected + [("openvino", "float32")]
    assert candidates("openvino", "float32") == [("openvino", "float32")]
    assert candidates("tensorflow") == [("tensorflow", "float32")]
    assert candidates("onnxruntime") == [("onnxruntime", "float32")]


def test_a_runtime_asked_for_by_name_that_cannot_run_fails_at_once(generator, monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "has_bf16_units", lambda: False)
    with pytest.raises(RuntimeUnavailable, match="no bf16 units"):
        select_runtime(generator, "openvino", "bf16", cache_dir=tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)  # as if not installed
    with pytest.raises(RuntimeUnavailable, match="openvino is not installed"):
        select_runtime(generator, "openvino", cache_dir=tmp_path)
    # Under auto the same absence is passed over, down to Keras' own predict.
    runtime = select_runtime(generator, "auto", cache_dir=tmp_path)
    image = runtime(np.zeros((1, 256, 256, 3), np.float32))[0]
    assert runtime.name == "tensorflow" and image.shape == (1, 256, 256, 3)
    assert any("openvino is not installed" in reason for reason in runtime.passed_over)


def test_openvino_needs_the_tensorflow_backend(generator, monkeypatch, tmp_path):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeUnavailable, match="KERAS_BACKEND=tensorflow"):
        select_runtime(generator, "openvino", cache_dir=tmp_path)


def test_openvino_float32_matches_keras(generator, face_input, keras_image, runtime_cache):
    runtime = select_runtime(generator, "openvino", "float32", cache_dir=runtime_cache)
    image, cam_logit, heatmap = runtime(face_input, checked_on="the astronaut")
    assert (runtime.name, runtime.precision) == ("openvino", "float32")
    assert runtime.check.accepted and runtime.check.max_abs_difference <= FLOAT32_ATOL
    assert float(np.max(np.abs(image - keras_image))) <= FLOAT32_ATOL
    expected = generator.predict_on_batch(face_input)
    assert float(np.max(np.abs(cam_logit - expected[1]))) <= FLOAT32_ATOL
    assert float(np.max(np.abs(heatmap - expected[2]))) <= FLOAT32_ATOL
    assert "openvino float32" in runtime.describe() and "the astronaut" in runtime.describe()
    # Another batch size is another compiled shape of the same model; each row as Keras computes it.
    batch = np.concatenate([face_input, face_input[:, ::-1], face_input[:, :, ::-1]])
    assert float(np.max(np.abs(runtime(batch)[0] - generator.predict_on_batch(batch)[0]))) <= FLOAT32_ATOL


def test_converted_models_and_checks_are_cached_per_weights(generator, face_input, runtime_cache, monkeypatch):
    select_runtime(generator, "openvino", "float32", cache_dir=runtime_cache)(face_input)  # converts, if first

    def no_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(runtimes.conversion, "convert_openvino", no_conversion)
    monkeypatch.setattr(runtimes.selection, "compare", no_conversion)
    runtime = select_runtime(generator, "openvino", "float32", cache_dir=runtime_cache)
    runtime(face_input)
    assert runtime.name == "openvino" and runtime.check.accepted
    (folder,) = (runtime_cache / "runtimes").iterdir()
    assert folder.name == KerasSource(generator).digest()
    assert {p.suffix for p in folder.iterdir()} >= {".xml", ".bin", ".json"}
    # The same weights in a generator made later in the process (Keras names it "generator_N"): the same key.
    config = {key: value for key, value in generator.get_config().items() if key != "name"}
    twin = generator.__class__(**config)
    twin.build((None, 256, 256, 3))
    assert twin.name != generator.name and twin.weights[0].path != generator.weights[0].path
    twin.set_weights(generator.get_weights())
    assert KerasSource(twin).digest() == folder.name
    # Other weights, another key.
    other = generator.__class__.from_config(generator.get_config())
    other.build((None, 256, 256, 3))
    assert KerasSource(other).digest() != folder.name


def test_auto_passes_over_a_runtime_that_fails_its_check(
    generator, face_input, keras_image, runtime_cache, monkeypatch, tmp_path
):
    select_runtime(generator, "openvino", "float32", cache_dir=runtime_cache)(face_input)  # converts, if first
    cache_dir = without_checks(runtime_cache, tmp_path)
    monkeypatch.setattr(cpu, "has_bf16_units", lambda: False)
    monkeypatch.setattr(runtimes.checks, "FLOAT32_ATOL", 0.0)  # no runtime but Keras itself can pass this bound
    runtime = select_runtime(generator, "auto", cache_dir=cache_dir)
    image = runtime(face_input)[0]
    assert runtime.name == "tensorflow"
    assert np.array_equal(image, keras_image)
    (reason,) = runtime.passed_over
    assert reason.startswith("openvino float32: max |difference|")
    # Asked for by name, it is kept, with a warning saying by how much it misses.
    with pytest.warns(UserWarning, match="outside its bound"):
        named = select_runtime(generator, "openvino", "float32", cache_dir=cache_dir)
        named(face_input)
    assert named.name == "openvino" and not named.check.accepted


@pytest.mark.skipif(not has_bf16_units(), reason="bf16 runs only where the CPU has bf16 units (AVX512_BF16 / AMX)")
def test_openvino_bf16_is_judged_by_psnr_on_a_real_face(generator, face_input, keras_image, runtime_cache):
    runtime = select_runtime(generator, "openvino", "bf16", cache_dir=runtime_cache)
    image = runtime(face_input)[0]
    psnr = psnr_db(image, keras_image)
    print(f"openvino bf16 on the astronaut (release architecture, random weights): PSNR {psnr:.1f} dB")
    assert runtime.precision == "bf16"
    assert runtime.check.psnr_db == pytest.approx(psnr, abs=1e-6)
    assert runtime.check.accepted == (psnr >= PSNR_FLOOR_DB)
    assert 0 < float(np.max(np.abs(image - keras_image)))  # computed in bf16 indeed, not float32


def test_nothing_is_chosen_before_the_first_image(generator, tmp_path):
    runtime = GeneratorRuntime(KerasSource(generator), "openvino", "float32", cache_dir=tmp_path)
    assert runtime.describe() == "openvino (chosen on the first image)"
    assert runtime.chosen is None and runtime.name is None


def test_psnr():
    a = np.zeros((4, 4, 3), np.float32)
    assert psnr_db(a, a) == float("inf")
    assert psnr_db(a + 0.02, a) == pytest.approx(10 * np.log10(1 / 0.01**2))


@pytest.mark.slow
def test_onnxruntime_matches_keras(generator, face_input, keras_image, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    runtime = select_runtime(generator, "onnxruntime", cache_dir=tmp_path)
    image = runtime(face_input)[0]
    assert runtime.name == "onnxruntime" and runtime.check.accepted
    assert float(np.max(np.abs(image - keras_image))) <= FLOAT32_ATOL
