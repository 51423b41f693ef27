"""`DetectionOptions`: how the faces of a photo are found, as one value.

The same four settings travel from every caller (the predictor, dataset preparation, `p2c cartoonize`,
`p2c prepare-dataset`) through `prepare.select_faces` to the detector. As one value they are checked
once, where they are given, rather than in every photo's detection: a bad threshold is one error at
start-up, not the same skip reason on every photo of a batch.
"""

import dataclasses

from keras_p2c.faces.detect import (
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    MIN_MAX_SIDE,
    detect_faces,
)
from keras_p2c.faces.landmarks import check_landmarks, detect_faces_dlib68, get_dlib68


@dataclasses.dataclass(frozen=True)
class DetectionOptions:
    """How faces are found and which points they get.

    Attributes:
        min_confidence: MTCNN score below which a detection is dropped, in [0, 1].
        max_side: detect on a copy at most this many pixels on its longer side (at least 32), or
            `None` for the photo itself. Faces smaller than about `min_face_size * longer side /
            max_side` photo pixels are then missed: raise it for small faces in a large photo.
        min_face_size: the smallest face MTCNN looks for, in pixels of that copy.
        landmarks: `"mtcnn5"` (MTCNN's five points) or `"dlib68"` (the same faces with dlib's 68
            points, the reference's exact crop; needs the `[landmarks]` extra).
    """

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    max_side: int | None = DEFAULT_MAX_SIDE
    min_face_size: int = DEFAULT_MIN_FACE_SIZE
    landmarks: str = "mtcnn5"

    def __post_init__(self):
        check_landmarks(self.landmarks)
        if isinstance(self.min_confidence, bool) or not isinstance(self.min_confidence, (int, float)):
            raise ValueError(f"`min_confidence` must be a number in [0, 1]. Received: min_confidence={self.min_confidence!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"`min_confidence` must be in [0, 1]. Received: min_confidence={self.min_confidence}")
        if self.max_side is not None and (not _is_int(self.max_side) or self.max_side < MIN_MAX_SIDE):
            raise ValueError(
                f"`max_side` (--detect-size) must be an integer of at least {MIN_MAX_SIDE} pixels, or None. "
                f"Received: max_side={self.max_side!r}"
            )
        if not _is_int(self.min_face_size) or self.min_face_size < 1:
            raise ValueError(f"`min_face_size` must be a positive integer. Received: min_face_size={self.min_face_size!r}")

    def require_extras(self):
        """Loads what these options need beyond the base install (dlib's model for `"dlib68"`) now, so that a
        missing extra is one error before any work, not one failure per photo.

        Raises:
            LandmarksUnavailableError: `"dlib68"` without the `[landmarks]` extra.
        """
        if self.landmarks == "dlib68":
            get_dlib68()

    def detect(self, rgb):
        """The faces of `rgb` (`(H, W, 3)` uint8), largest first; with `"dlib68"`, each with its 68 landmarks."""
        detector = detect_faces_dlib68 if self.landmarks == "dlib68" else detect_faces
        return detector(rgb, min_confidence=self.min_confidence, max_side=self.max_side, min_face_size=self.min_face_size)

    def describe(self):
        """What was searched, for a "no face found" message."""
        scale = f", detection on a copy at most {self.max_side} px on its longer side" if self.max_side else ""
        return f"MTCNN, confidence >= {self.min_confidence}{scale}"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)
