import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_p2c.serving.export import export_generator, list_versions
from tests.helpers.serving import decode_png, face_like_png, keras_cartoon

PURE_TF_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    model_dir, png_path, float_path, out_dir = sys.argv[1:]
    loaded = tf.saved_model.load(model_dir)
    names = sorted(k for k in loaded.signatures if not k.startswith("__"))
    cartoons = loaded.signatures["serving_default"](images=tf.constant([open(png_path, "rb").read()] * 2))
    np.save(out_dir + "/cartoon.npy", tf.io.decode_png(cartoons["cartoon_bytes"][0]).numpy())
    outputs = loaded.signatures["predict_images"](images=tf.constant(np.load(float_path)))
    for name, value in outputs.items():
        np.save(out_dir + f"/{name}.npy", value.numpy())
    json.dump({"signatures": names, "batch": int(cartoons["cartoon_bytes"].shape[0]),
               "keras_p2c_imported": "keras_p2c" in sys.modules}, open(out_dir + "/report.json", "w"))
    """
)


def test_export_reloads_in_pure_tensorflow_process(exported, tmp_path):
    generator, model_dir = exported
    png, pixels = face_like_png()
    (tmp_path / "face.png").write_bytes(png)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 256, 256, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "script.py").write_text(PURE_TF_SCRIPT)
    # Run from tmp_path so the repository (and keras_p2c) is not importable in the child.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "script.py", str(model_dir / "1"), "face.png", "x.npy", str(tmp_path)],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report == {"signatures": ["predict_images", "serving_default"], "batch": 2, "keras_p2c_imported": False}

    cartoon = np.load(tmp_path / "cartoon.npy")
    assert cartoon.shape == (256, 256, 3) and cartoon.dtype == np.uint8
    assert np.abs(cartoon.astype(int) - keras_cartoon(generator, pixels).astype(int)).max() <= 1

    image, cam_logit, heatmap = (np.asarray(t) for t in generator(x, training=False))
    # SavedModel graph (another process) vs eager Keras, same batch: measured <= 7.2e-6 (image) and 0
    # (cam_logit, heatmap) under default, ONEDNN_MAX_CPU_ISA=AVX2 and TF_ENABLE_ONEDNN_OPTS=0; float32
    # vs float64 gaps 1.3e-4, 1.5e-5, 6.4e-5. The heatmap reaches ~20: its tolerance scales with it too.
    np.testing.assert_allclose(np.load(tmp_path / "image.npy"), image, atol=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "cam_logit.npy"), cam_logit, atol=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "heatmap.npy"), heatmap, atol=1e-4, rtol=1e-5)


def test_saved_model_cli_lists_signatures(exported):
    _, model_dir = exported
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", str(model_dir / "1"), "--all"],
        check=True, capture_output=True, text=True, timeout=300,
    )
    text = result.stdout
    assert "signature_def['serving_default']" in text and "signature_def['predict_images']" in text
    assert "inputs['images']" in text and "outputs['cartoon_bytes']" in text
    assert "DT_STRING" in text and "(-1, 256, 256, 3)" in text
    for name in ("image", "cam_logit", "heatmap"):
        assert f"outputs['{name}']" in text


def test_any_size_input_is_resized_to_256(exported):
    import tensorflow as tf

    _, model_dir = exported
    loaded = tf.saved_model.load(str(model_dir / "1"))
    png, _ = face_like_png(100, 70)
    jpeg = tf.io.encode_jpeg(tf.io.decode_png(png)).numpy()
    out = loaded.signatures["serving_default"](images=tf.constant([png, jpeg]))["cartoon_bytes"].numpy()
    assert [decode_png(o).shape for o in out] == [(256, 256, 3)] * 2


def test_each_version_carries_its_tf_serving_warm_up_requests(exported):
    pytest.importorskip("tensorflow_serving.apis")
    import tensorflow as tf

    from keras_p2c.serving.warmup import WARMUP_FILE, read_warmup_file

    _, model_dir = exported
    requests = read_warmup_file(model_dir / "1" / WARMUP_FILE)
    assert [name for name, _ in requests] == ["predict_images", "serving_default"]
    loaded = tf.saved_model.load(str(model_dir / "1"))
    for name, arrays in requests:  # each runs on its signature, as TF Serving runs them on load
        outputs = loaded.signatures[name](**{key: tf.constant(value) for key, value in arrays.items()})
        assert all(np.all(np.isfinite(v.numpy())) for v in outputs.values() if v.dtype.is_floating), name


def test_new_export_adds_a_version_and_never_overwrites(tmp_path):
    model_dir = tmp_path / "m"
    for v in ("1", "3"):
        (model_dir / v).mkdir(parents=True)
        (model_dir / v / "marker").write_text(v)
    (model_dir / "not-a-version").mkdir()

    import keras

    # Stands in for the generator (same call contract), so this export is quick.
    inputs = keras.Input((256, 256, 3))
    tiny = keras.Model(inputs, [inputs * 0.5, keras.ops.mean(inputs, axis=(1, 2))[:, :2], inputs[:, ::4, ::4, :1]])
    path = export_generator(tiny, base_dir=tmp_path, name="m")
    assert path == model_dir / "4" and (path / "saved_model.pb").is_file()
    assert list_versions(model_dir) == [1, 3, 4]
    assert (model_dir / "3" / "marker").read_text() == "3"
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_export_refuses_a_bad_name(tmp_path):
    import keras

    inputs = keras.Input((256, 256, 3))
    with pytest.raises(ValueError, match="name"):
        export_generator(keras.Model(inputs, [inputs, inputs, inputs]), base_dir=tmp_path, name="../x")
