"""ONNX export through Keras' own exporter (tf2onnx), checked by running the file in onnxruntime."""

import numpy as np
import pytest

from keras_p2c.serving.export import export_file


@pytest.mark.slow  # the tf2onnx conversion alone takes about a minute on 2 cores
def test_onnx_export_matches_keras(exported, tmp_path):
    pytest.importorskip("tf2onnx", reason="ONNX export needs tf2onnx (pip install -e '.[onnx]')")
    onnxruntime = pytest.importorskip("onnxruntime")

    generator, _ = exported
    path = export_file(generator, tmp_path / "g.onnx", format="onnx")
    assert path.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    x = np.random.default_rng(3).uniform(-1, 1, (1, 256, 256, 3)).astype("float32")
    expected = [np.asarray(t) for t in generator(x, training=False)]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    assert model_input.shape[1:] == [256, 256, 3]
    outputs = session.run(None, {model_input.name: x})
    by_shape = {output.shape: output for output in outputs}
    assert sorted(by_shape) == sorted(e.shape for e in expected)
    for want in expected:
        np.testing.assert_allclose(by_shape[want.shape], want, atol=1e-3)
