"""From a photo to generator-ready faces: detect and choose the faces, level the eyes, crop, mask, composite.

This is the entry point the predictor, dataset preparation and the server's full-photo signature use:
`select_faces` is the one place that decides which detected faces are prepared and what is said when a
photo has none (or, for `faces="single"`, several); how they are found is a `DetectionOptions` value
(thresholds, detection size, and MTCNN's five points or dlib's 68, the reference's exact crop; see
`detection` and `landmarks`). For each face it keeps everything needed to put the cartoon back: the crop box
(eye-levelled coordinates) and the rotation matrix.
The crop is resampled straight from the photo through the combined rotation + crop transform
(`crop.warp_crop`), which matches the reference's rotate-the-whole-image-then-cut but costs only
the crop's pixels.
"""

import dataclasses

import numpy as np

from keras_p2c.faces import composite
from keras_p2c.faces.align import level_eye_corners, level_eyes, transform_points
from keras_p2c.faces.crop import CropBox, face_crop_box, landmarks_crop_box, warp_crop
from keras_p2c.faces.detect import Face, NoFaceError
from keras_p2c.faces.detection import DetectionOptions


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedFace:
    """One face, ready for the generator, with what is needed to paste the result back.

    Attributes:
        input_256: `(256, 256, 3)` float32 generator input in [-1, 1] (face on white).
        mask_256: `(256, 256)` float32 mask in [0, 1] used for the input and the output composite
            (all ones when no segmenter was given).
        crop: `(S, S, 3)` uint8 eye-levelled square crop at the photo's resolution (no mask applied).
        crop_mask: `(S, S)` float32 mask at the crop's resolution, or `None` without a segmenter.
        crop_box: `CropBox` of the crop in eye-levelled coordinates.
        matrix: `(2, 3)` eye-levelling matrix, photo pixels -> eye-levelled pixels.
        face: the detected `Face` (photo coordinates).
        aligned_keypoints: `(5, 2)` keypoints in eye-levelled coordinates.
    """

    input_256: np.ndarray
    mask_256: np.ndarray
    crop: np.ndarray
    crop_mask: object
    crop_box: CropBox
    matrix: np.ndarray
    face: Face
    aligned_keypoints: np.ndarray

    @property
    def face_256(self):
        """The masked face as the generator sees it, `(256, 256, 3)` uint8 (rounded from `input_256`)."""
        return np.clip(np.round((self.input_256 + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def composite(self, output):
        """The reference's final cartoon for this face: `(256, 256, 3)` uint8 on white (see `composite_cartoon`)."""
        return composite.composite_cartoon(output, self.mask_256)

    def paste(self, photo, output, feather=0.04):
        """`photo` with this face replaced by the generator `output` (in [-1, 1]); see `paste_back`."""
        return composite.paste_back(
            photo, composite.cartoon_to_float(output), self.mask_256, self.crop_box, self.matrix, feather=feather
        )


def prepare_face(rgb, face, segmenter=None, size=composite.GENERATOR_SIZE):
    """Level, crop, mask and composite one detected face.

    Args:
        rgb: `(H, W, 3)` uint8 photo.
        face: a `Face` from `detect_faces(rgb)` or, with its 68 `landmarks`, `detect_faces_dlib68(rgb)`:
            then the rotation and crop are the reference's own, from the 68 points.
        segmenter: a callable crop -> mask (e.g. `PortraitSegmenter()` / `get_segmenter()`), or
            `None` for no segmentation (all-ones mask: the whole square crop is used).
        size: generator input side.

    Returns:
        `PreparedFace`.
    """
    if face.landmarks is None:
        rotation = level_eyes(face.keypoints, rgb.shape)
        aligned_keypoints = transform_points(rotation.matrix, face.keypoints)
        box = face_crop_box(aligned_keypoints)
    else:
        rotation = level_eye_corners(face.landmarks, rgb.shape)
        aligned_keypoints = transform_points(rotation.matrix, face.keypoints)
        box = landmarks_crop_box(transform_points(rotation.matrix, face.landmarks))
    crop = warp_crop(rgb, rotation.matrix, box)
    crop_mask = None if segmenter is None else np.asarray(segmenter(crop), dtype=np.float32)
    face_small, mask_small = composite.resize_to_generator(crop, crop_mask, size)
    return PreparedFace(
        input_256=composite.generator_input(face_small, mask_small),
        mask_256=mask_small,
        crop=crop,
        crop_mask=crop_mask,
        crop_box=box,
        matrix=rotation.matrix,
        face=face,
        aligned_keypoints=aligned_keypoints,
    )


FACE_POLICIES = ("largest", "all", "single")


class SeveralFacesError(ValueError):
    """A photo holds more than one face where exactly one was asked for (`faces="single"`)."""


def select_faces(rgb, faces="largest", detection=None, name=None):
    """Detect the faces of a photo and choose those to prepare.

    Args:
        rgb: `(H, W, 3)` uint8 photo (`keras_p2c.images.read_image`).
        faces: `"largest"` (the reference, which keeps the face with the largest landmark box), `"all"`
            (every face, largest first) or `"single"` (the face of a photo that holds exactly one).
        detection: `DetectionOptions` (thresholds, detection size, `"mtcnn5"` or `"dlib68"` points);
            `None` for the defaults. With `"dlib68"`, faces are ranked by their landmark box
            (`LandmarksUnavailableError` without the `[landmarks]` extra).
        name: how to call the photo in error messages (e.g. its file name).

    Returns:
        `(chosen, found)`: the chosen `Face`s, largest first, and how many faces were detected.

    Raises:
        NoFaceError: no face found.
        SeveralFacesError: `faces="single"` and more than one face found.
    """
    if faces not in FACE_POLICIES:
        raise ValueError(f"`faces` must be one of {FACE_POLICIES}. Received: faces={faces!r}")
    detection = DetectionOptions() if detection is None else detection
    found = detection.detect(rgb)
    where = f"{name}: " if name else ""
    if not found:
        raise NoFaceError(
            f"{where}no face found ({detection.describe()}). Faces must be roughly frontal and upright; for "
            f"small faces in a large photo raise the detection size (detect_size, --detect-size)."
        )
    if faces == "single" and len(found) > 1:
        raise SeveralFacesError(f"{where}{len(found)} faces found; --faces single keeps only photos with exactly one")
    return (found if faces == "all" else found[:1]), len(found)


def prepare_faces(rgb, all_faces=False, segmenter=None, detection=None, name=None):
    """Detect and prepare the largest face (or all faces) of a photo.

    Args:
        rgb: `(H, W, 3)` uint8 photo (`keras_p2c.images.read_image`).
        all_faces: prepare every face found, largest first; otherwise only the largest.
        segmenter: see `prepare_face`.
        detection, name: see `select_faces`.

    Returns:
        List of `PreparedFace` (one unless `all_faces`); stack their `input_256` for a batch.

    Raises:
        NoFaceError: no face found.
    """
    chosen, _ = select_faces(rgb, "all" if all_faces else "largest", detection=detection, name=name)
    return [prepare_face(rgb, face, segmenter) for face in chosen]


def paste_all(photo, prepared, outputs, feather=0.04):
    """Paste several cartoon faces into one photo, smallest first so the largest face ends on top.

    Args:
        photo: `(H, W, 3)` uint8 original photo.
        prepared: the `PreparedFace` list from `prepare_faces`.
        outputs: the generator outputs (in [-1, 1]), one `(256, 256, 3)` array per prepared face.

    Returns:
        `(H, W, 3)` uint8 photo.
    """
    if len(prepared) != len(outputs):
        raise ValueError(f"Got {len(prepared)} prepared faces but {len(outputs)} outputs.")
    result = np.asarray(photo)
    for item, output in sorted(zip(prepared, outputs), key=lambda pair: pair[0].crop_box.side):
        result = item.paste(result, output, feather=feather)
    return result
