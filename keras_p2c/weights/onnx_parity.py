"""Checks a generator converted from an ONNX file against that file's graph, run on onnxruntime.

The mapping by graph order rests on how an exporter laid the graph out, so the conversion is checked on
the file itself whenever onnxruntime is installed (the `onnx` extra), as `p2c convert` does.
"""

import importlib.util
import os

import numpy as np

from keras_p2c.weights.porting import WeightConversionError

# Keras and onnxruntime differ by ~1e-5 on the 256² image (float32 sums in another order); a weight in the
# wrong place moves it by 1e-2 or more.
ONNX_PARITY_TOLERANCE = 1e-3
# The size the original's file takes (1×3×256×256); used where the graph leaves height and width open.
DEFAULT_SIZE = 256


def onnxruntime_available():
    return importlib.util.find_spec("onnxruntime") is not None


def _input_shape(graph_input, size):
    dims = [d if isinstance(d, int) and d > 0 else None for d in graph_input.shape]
    if len(dims) != 4 or dims[1] not in (None, 3):
        raise WeightConversionError(
            f"the graph's input {graph_input.name!r} has shape {graph_input.shape}, not N×3×H×W"
        )
    return [dims[0] or 1, 3, dims[2] or size, dims[3] or size]


def onnx_image_difference(path, generator, seed=0, size=DEFAULT_SIZE):
    """Max |Keras − onnxruntime| over the image for one random input in [−1, 1].

    Args:
        path: the ONNX file (NCHW input; its image output is `output`, else its first output).
        generator: the converted Keras `Generator` (NHWC).
        seed: for the random input.
        size: height and width where the graph's input leaves them open.

    Returns:
        `(difference, shape)`: the largest absolute difference and the NCHW input shape it was measured on.

    Raises:
        WeightConversionError: onnxruntime cannot run the file, or its input is not an image batch.
    """
    import onnxruntime

    path = os.fspath(path)
    try:
        options = onnxruntime.SessionOptions()
        # Errors only: old exports list every initializer as an input too, and onnxruntime warns once per tensor.
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        graph_input = session.get_inputs()[0]
        shape = _input_shape(graph_input, size)
        names = [output.name for output in session.get_outputs()]
        x = np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")
        (expected,) = session.run(["output" if "output" in names else names[0]], {graph_input.name: x})
    except WeightConversionError as error:
        raise WeightConversionError(f"{path}: {error}") from error
    except Exception as error:  # onnxruntime's errors share no base class beyond Exception
        raise WeightConversionError(
            f"{path}: onnxruntime cannot run the file to check the conversion ({type(error).__name__}: {error})"
        ) from error
    image = np.asarray(generator(np.transpose(x, (0, 2, 3, 1)))[0])
    if expected.shape != (shape[0], 3, shape[2], shape[3]):
        raise WeightConversionError(f"{path}: the graph's image output has shape {expected.shape}, not {tuple(shape)}")
    return float(np.max(np.abs(np.transpose(image, (0, 3, 1, 2)) - expected))), tuple(shape)
