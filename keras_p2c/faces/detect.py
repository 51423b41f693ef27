"""Face detection with MTCNN (the `mtcnn` package, whose weights ship in its wheel, so it works offline).

MTCNN runs as eager NumPy/TensorFlow code and cannot go inside a `tf.function` or a SavedModel, so
detection stays a preprocessing step. It is run on a copy whose longer side is at most `max_side`
pixels (~0.1 s on 2 CPU cores instead of ~0.7 s for a 2-megapixel photo); boxes and keypoints are
scaled back to the full image.
"""

import dataclasses
import functools
import threading

import cv2
import numpy as np

# MTCNN's five points, in the order of its output rows. "left"/"right" are as seen in the image:
# `left_eye` is the eye with the smaller x (the person's right eye in a frontal photo).
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

DEFAULT_MIN_CONFIDENCE = 0.9
DEFAULT_MAX_SIDE = 640
DEFAULT_MIN_FACE_SIZE = 20
MIN_MAX_SIDE = 32  # the smallest detection copy allowed

_lock = threading.Lock()


class NoFaceError(ValueError):
    """No face (of the required confidence and size) was found in an image."""


@dataclasses.dataclass(frozen=True, eq=False)
class Face:
    """One detected face in image pixel coordinates (float, x right, y down).

    Attributes:
        box: `(4,)` array `x1, y1, x2, y2` of MTCNN's box.
        keypoints: `(5, 2)` array of `(x, y)` in `KEYPOINT_NAMES` order (derived from `landmarks`
            when those are present).
        confidence: MTCNN's final-stage score in [0, 1].
        landmarks: `(68, 2)` iBUG landmarks for a face from `landmarks.detect_faces_dlib68`, else
            `None`; when present, the crop is the reference's own, from these points. (With its
            `detector="hog"`, `box` and `confidence` are dlib's HOG box and SVM score instead.)
    """

    box: np.ndarray
    keypoints: np.ndarray
    confidence: float
    landmarks: np.ndarray = None

    @property
    def area(self):
        return float(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0))

    def keypoint(self, name):
        """The `(x, y)` of one keypoint by name (see `KEYPOINT_NAMES`)."""
        return self.keypoints[KEYPOINT_NAMES.index(name)]

    def to_dict(self):
        """JSON-friendly form (for reports)."""
        record = {
            "box": [round(float(v), 2) for v in self.box],
            "keypoints": {n: [round(float(v), 2) for v in p] for n, p in zip(KEYPOINT_NAMES, self.keypoints)},
            "confidence": round(float(self.confidence), 5),
        }
        if self.landmarks is not None:
            record["landmarks68"] = [[round(float(v), 2) for v in p] for p in self.landmarks]
        return record


class _TensorFlowOutputs:
    """An MTCNN stage network whose outputs are TensorFlow tensors whatever the Keras backend.

    mtcnn builds its networks with `tf.keras` (Keras 3, so the active backend) but post-processes
    their outputs with TensorFlow ops and `.numpy()`; under `KERAS_BACKEND=jax` the outputs are JAX
    arrays and mtcnn fails. This wrapper runs the network on NumPy input and hands TensorFlow tensors on.
    """

    def __init__(self, network):
        self.network = network

    def __call__(self, inputs):
        import tensorflow as tf

        outputs = self.network(np.asarray(inputs))
        return tuple(tf.constant(np.asarray(output)) for output in outputs)


@functools.lru_cache(maxsize=None)
def get_detector():
    """The process-wide MTCNN instance (building it loads three networks; do it once)."""
    import keras
    from mtcnn import MTCNN  # imports TensorFlow: only when detection is needed

    detector = MTCNN()
    if keras.backend.backend() != "tensorflow":
        for stage in detector.stages:
            stage._model = _TensorFlowOutputs(stage.model)
    return detector


def check_rgb(rgb):
    """`rgb` as an array, or a ValueError saying what a detector needs instead."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(
            f"Expected an RGB uint8 image of shape (H, W, 3) (use `read_image`). "
            f"Received: shape={rgb.shape}, dtype={rgb.dtype}"
        )
    return rgb


def detection_copy(rgb, max_side):
    """The copy a detector runs on: `rgb` shrunk so its longer side is at most `max_side` pixels.

    Args:
        rgb: `(H, W, ...)` image.
        max_side: at least `MIN_MAX_SIDE` (32), or `None` for the image itself.

    Returns:
        `(copy, factors)`: the copy (area interpolation) and its `(x, y)` scale factors (ones when unchanged).
    """
    if max_side is not None and max_side < MIN_MAX_SIDE:
        raise ValueError(f"`max_side` must be at least {MIN_MAX_SIDE} pixels, or None. Received: max_side={max_side}")
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb, np.ones(2)
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # The exact per-axis factors of the resize, so points map back to the right pixels.
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.array([size[0] / width, size[1] / height])


def to_photo(points, factors):
    """`(N, 2)` points of a `detection_copy` in photo pixels (pixel centres: x_copy + 0.5 = (x + 0.5) * factor)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / factors - 0.5


def detect_faces(
    rgb,
    min_confidence=DEFAULT_MIN_CONFIDENCE,
    max_side=DEFAULT_MAX_SIDE,
    min_face_size=DEFAULT_MIN_FACE_SIZE,
):
    """Find all faces in an RGB image, largest box first.

    Args:
        rgb: `(H, W, 3)` uint8 RGB image.
        min_confidence: drop faces MTCNN scores below this.
        max_side: detect on a copy whose longer side is at most this many pixels (area
            interpolation); `None` detects at full resolution. Faces smaller than about
            `min_face_size * longer_side / max_side` pixels are then missed: raise `max_side` (or pass
            `None`) for group photos with small faces.
        min_face_size: MTCNN's smallest face, in pixels of the (downscaled) detection copy.

    Returns:
        List of `Face`, sorted by box area, largest first (empty if none).
    """
    rgb = check_rgb(rgb)
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"`min_confidence` must be in [0, 1]. Received: min_confidence={min_confidence}")
    small, factors = detection_copy(rgb, max_side)
    if min(small.shape[:2]) < 12:  # below MTCNN's smallest pyramid level: nothing can be found
        return []
    with _lock:  # one MTCNN instance shared by threads
        rows = get_detector().detect_faces(
            small, box_format="xyxy", output_type="numpy", min_face_size=min_face_size
        )
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 16)
    faces = []
    for row in rows:
        confidence = float(row[5])
        if confidence < min_confidence:
            continue
        box = to_photo(row[1:5].reshape(2, 2), factors)
        # The numpy rows hold the five x coordinates, then the five y coordinates.
        keypoints = to_photo(np.stack([row[6:11], row[11:16]], axis=1), factors)
        faces.append(Face(box=box.reshape(4), keypoints=keypoints, confidence=confidence))
    faces.sort(key=lambda face: face.area, reverse=True)
    return faces
