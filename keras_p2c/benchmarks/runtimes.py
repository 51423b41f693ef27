"""The exported generator in each runtime: file size, batch-1 CPU latency and the largest difference from Keras.

SavedModel (`predict_images` signature, TensorFlow), LiteRT (`ai-edge-litert`) and ONNX
(`onnxruntime`, when `tf2onnx` and `onnxruntime` are installed), all from the same untrained
256×256 generator (ngf 32). A runtime that is not installed is reported as skipped, with the reason.
"""

import tempfile
from pathlib import Path

import numpy as np

from keras_p2c.benchmarks.timing import time_repeated
from keras_p2c.models import Generator
from keras_p2c.serving.export import export_file, export_generator


def _litert_runner(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_indices = [d["index"] for d in interpreter.get_output_details()]

    def run(x):
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in output_indices]

    return run


def _onnx_runner(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def _saved_model_runner(path):
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["predict_images"]
    return lambda x: [t.numpy() for t in signature(images=tf.constant(x)).values()]


def _image_difference(outputs, expected_image):
    """Max |runtime − Keras| on the image output (found by shape: runtimes order outputs their own way)."""
    (image,) = [o for o in outputs if o.shape == expected_image.shape]
    return float(np.max(np.abs(image - expected_image)))


def _size_bytes(path):
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(batch=1, size=256, precision="float32", repeats=10, jit_compile=False):
    generator = Generator(ngf=32, img_size=256)
    generator.build((None, 256, 256, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype("float32")
    expected_image = np.asarray(generator(x, training=False)[0])
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        exporters = {
            "savedmodel": (lambda: export_generator(generator, base_dir=workdir, name="p2c"), _saved_model_runner),
            "litert": (lambda: export_file(generator, Path(workdir) / "p2c.tflite", "litert"), _litert_runner),
            "onnx": (lambda: export_file(generator, Path(workdir) / "p2c.onnx", "onnx"), _onnx_runner),
        }
        for name, (export, runner) in exporters.items():
            try:
                path = export()
                run_model = runner(path)
            except ImportError as error:
                results[name] = {"skipped": f"{type(error).__name__}: {error}"}
                continue
            timing = time_repeated(lambda: run_model(x), repeats)
            results[name] = {
                "size_mb": _size_bytes(path) / 1e6,
                "latency_min_s": timing["min_s"],
                "latency_median_s": timing["median_s"],
                "max_abs_difference_from_keras": _image_difference(run_model(x), expected_image),
            }
    return {"figure": "export_runtimes", "batch": 1, "size": 256, "precision": "float32", "runtimes": results}
