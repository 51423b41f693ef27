"""Portrait masks (person + hair vs background) for face crops, with MediaPipe's selfie segmenter.

The reference composites every face crop on white with a soft person mask before the generator sees
it (its own TF1 segmentation graph, not redistributable here). This module runs MediaPipe's
`selfie_segmentation.tflite` instead (see `mask_model` for obtaining it): the crop is resized to the
model's 256 x 256 input with area interpolation (as the reference resizes for its segmenter), scaled
to [0, 1], and the soft output is resized back to the crop (bilinear, as the reference).

The interpreter is `ai_edge_litert` (LiteRT, the standalone TF Lite runtime) when installed, else
TensorFlow's `tf.lite.Interpreter` (deprecated, same results).
"""

import threading

import cv2
import numpy as np

from keras_p2c.faces.mask_model import FETCH_COMMAND, MaskModelError, resolve_model_path


def _make_interpreter(model_path, num_threads):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # fall back on TensorFlow's bundled (deprecated) interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(model_path), num_threads=num_threads)


class PortraitSegmenter:
    """Soft person mask for an RGB face crop.

    Args:
        model_path: the `.tflite` file; `None` uses the cached model, fetched on first use
            (`python -m keras_p2c.faces.mask_model` fetches it ahead of time).
        num_threads: interpreter threads; `None` lets the runtime decide.

    Call it with a `(H, W, 3)` uint8 RGB image; it returns a `(H, W)` float32 mask in [0, 1]
    (1 = person). An instance may be shared between threads (calls are serialised).

    Raises:
        MaskModelError: `model_path` is missing, or the default model could not be fetched (the
            message says how to provide it).
    """

    def __init__(self, model_path=None, num_threads=None):
        self.model_path = resolve_model_path(model_path)
        self.num_threads = num_threads
        try:
            self._interpreter = _make_interpreter(self.model_path, num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise MaskModelError(
                f"{self.model_path} is not a usable TF Lite model ({error}). Fetch it again with "
                f"`{FETCH_COMMAND} --force`."
            ) from error
        (source,) = self._interpreter.get_input_details()
        (target,) = self._interpreter.get_output_details()
        shape = tuple(int(v) for v in source["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or source["dtype"] != np.float32:
            raise ValueError(
                f"{self.model_path}: expected a float32 1xHxWx3 input, found shape {shape}, {source['dtype']}; "
                f"is it MediaPipe's selfie_segmentation.tflite?"
            )
        self.input_size = (shape[2], shape[1])  # (width, height) for cv2
        self._input_index = source["index"]
        self._output_index = target["index"]
        self._lock = threading.Lock()

    def model_mask(self, rgb):
        """The model's raw mask at its own resolution (`(256, 256)` float32) for an RGB uint8 image."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"Expected an RGB uint8 image (H, W, 3). Received: shape={rgb.shape}, dtype={rgb.dtype}")
        interpolation = cv2.INTER_AREA if rgb.shape[1] >= self.input_size[0] else cv2.INTER_LINEAR
        small = cv2.resize(rgb, self.input_size, interpolation=interpolation)
        batch = (small.astype(np.float32) / 255.0)[None]
        with self._lock:  # a TF Lite interpreter is not re-entrant
            self._interpreter.set_tensor(self._input_index, batch)
            self._interpreter.invoke()
            mask = self._interpreter.get_tensor(self._output_index)
        return np.clip(mask.reshape(self.input_size[1], self.input_size[0]), 0.0, 1.0).astype(np.float32)

    def __call__(self, rgb):
        mask = self.model_mask(rgb)
        height, width = rgb.shape[:2]
        if (width, height) != self.input_size:
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(mask, 0.0, 1.0)


_default = {}
_default_lock = threading.Lock()


def get_segmenter(model_path=None):
    """A process-wide `PortraitSegmenter` per model path (loading it once)."""
    key = str(resolve_model_path(model_path))
    with _default_lock:
        if key not in _default:
            _default[key] = PortraitSegmenter(key)
        return _default[key]


def resolve_segmenter(segmenter):
    """`"auto"`, `None`, a `.tflite` path or a callable → the mask function faces are prepared with (or `None`).

    `"auto"` is the cached MediaPipe model, fetched on first use. Where it cannot be fetched (offline) this
    raises rather than silently not masking: the cartoons would look different.

    Raises:
        MaskModelError: the model is missing and could not be fetched (one line saying how to provide it).
    """
    if segmenter is None or callable(segmenter):
        return segmenter
    if isinstance(segmenter, str) and segmenter == "auto":
        return get_segmenter()
    return get_segmenter(segmenter)  # a .tflite path
