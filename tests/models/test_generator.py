import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_p2c.models import Generator


def small_generator(**kwargs):
    options = {"ngf": 8, "img_size": 64, "n_blocks": 2}
    options.update(kwargs)
    return Generator(**options)


def test_output_shapes_and_ranges():
    keras.utils.set_random_seed(0)
    image, cam_logit, heatmap = small_generator()(np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)))
    assert image.shape == (2, 64, 64, 3)
    assert cam_logit.shape == (2, 2)
    assert heatmap.shape == (2, 16, 16, 1)
    assert np.all(np.abs(image) <= 1)  # tanh; float32 rounds large inputs to exactly ±1


def test_symbolic_output_shapes():
    outputs = small_generator()(keras.Input((64, 64, 3)))
    assert [tuple(t.shape) for t in outputs] == [(None, 64, 64, 3), (None, 2), (None, 16, 16, 1)]


def test_non_square_input_of_multiples_of_16():
    image, _, heatmap = small_generator()(np.zeros((1, 48, 80, 3), "float32"))
    assert image.shape == (1, 48, 80, 3) and heatmap.shape == (1, 12, 20, 1)


@pytest.mark.parametrize(
    "options, params, tensors",
    [
        # The reference counts less its 56 dead ConvBlock4 tensors (57,344 weights).
        ({"linear_bias": True}, 3_831_079 - 57_344, 406 - 56),
        # The PaddleGAN port: no Linear biases, no dead weights.
        ({"linear_bias": False}, 3_767_333, 298),
    ],
)
def test_parameter_counts_match_the_reference(options, params, tensors):
    generator = Generator(ngf=32, img_size=256, **options)
    generator.build((None, 256, 256, 3))
    assert generator.count_params() == params
    assert len(generator.weights) == tensors


def test_full_model_parameter_count_matches_the_reference():
    generator = Generator(ngf=32, img_size=256, light=False)
    generator.build((None, 256, 256, 3))
    assert generator.count_params() == 70_923_559 - 57_344


def test_full_model_runs_at_its_training_size():
    image, _, _ = small_generator(light=False)(np.zeros((1, 64, 64, 3), "float32"))
    assert image.shape == (1, 64, 64, 3)


def test_layer_and_weight_names_follow_the_reference():
    generator = small_generator()
    generator.build((None, 64, 64, 3))
    # Paths below the model's own (auto-numbered) name.
    paths = {w.path.split("/", 1)[1] for w in generator.weights}
    assert "HourGlass1/HG_0/ConvBlock1_1/ConvBlock1/kernel" in paths
    assert "DecodeBlock2/norm1/c_gamma_0/kernel" in paths
    assert "DecodeBlock2/norm1/norm/rho" in paths
    assert "UpBlock1_norm/rho" in paths
    assert "cam/gap_fc/kernel" in paths


def test_mixed_precision_keeps_float32_outputs_and_weights():
    generator = small_generator(dtype="mixed_float16")
    outputs = generator(np.zeros((1, 64, 64, 3), "float32"))
    assert all(t.dtype == "float32" for t in outputs)
    assert all(w.dtype == "float32" for w in generator.weights)
    assert generator.HourGlass1.HG_0.ConvBlock5.ConvBlock1.dtype_policy.name == "mixed_float16"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"ngf": 6}, "ngf=6"), ({"n_blocks": 0}, "n_blocks=0"), ({"img_size": 100}, "img_size=100")],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_generator(**kwargs)


def test_bad_input_shapes_are_refused():
    with pytest.raises(ValueError, match="multiples of 16"):
        small_generator()(np.zeros((1, 40, 40, 3), "float32"))
    with pytest.raises(ValueError, match="3 channels"):
        small_generator()(np.zeros((1, 64, 64, 1), "float32"))


def test_config_round_trip():
    generator = small_generator(light=False, linear_bias=False)
    clone = Generator.from_config(generator.get_config())
    assert (clone.ngf, clone.img_size, clone.n_blocks, clone.light, clone.linear_bias) == (8, 64, 2, False, False)


def test_keras_file_reloads_in_a_fresh_process_with_identical_outputs(tmp_path):
    generator = small_generator()
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    expected = [np.asarray(t) for t in generator(x)]
    model_path, input_path, output_path = tmp_path / "g.keras", tmp_path / "x.npy", tmp_path / "out.npz"
    generator.save(model_path)
    np.save(input_path, x)
    script = textwrap.dedent(
        f"""
        import keras, numpy as np
        import keras_p2c.models  # registers the classes
        model = keras.saving.load_model({str(model_path)!r})
        outputs = model(np.load({str(input_path)!r}))
        np.savez({str(output_path)!r}, *[np.asarray(t) for t in outputs])
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    reloaded = np.load(output_path)
    for index, array in enumerate(expected):
        np.testing.assert_array_equal(reloaded[f"arr_{index}"], array)
