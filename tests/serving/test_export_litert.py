import numpy as np
import pytest

from keras_p2c.cli.main import main
from keras_p2c.serving.export import export_file


def test_litert_export_matches_keras(exported, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    generator, _ = exported
    path = export_file(generator, tmp_path / "g.tflite", format="litert")
    assert path.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    x = np.random.default_rng(2).uniform(-1, 1, (1, 256, 256, 3)).astype("float32")
    expected = {np.asarray(t).shape: np.asarray(t) for t in generator(x, training=False)}
    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    assert sorted(o.shape for o in outputs) == sorted(expected)
    for output in outputs:  # LiteRT orders outputs by tensor name: match by shape
        np.testing.assert_allclose(output, expected[output.shape], atol=1e-3)


def test_unknown_file_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format"):
        export_file(None, tmp_path / "x", format="coreml")


@pytest.mark.slow
def test_export_command_litert(tmp_path):
    assert main(["export", "--random", "--ngf", "8", "--n-blocks", "2", "--format", "litert", "--base-dir", str(tmp_path)]) == 0
    assert (tmp_path / "photo2cartoon.tflite").stat().st_size > 0
