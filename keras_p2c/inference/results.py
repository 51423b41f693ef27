"""What the predictor gives for each photo: a `Cartoonization`, or a `SkippedPhoto` with the reason."""

import dataclasses

import numpy as np

from keras_p2c.faces.prepare import paste_all


@dataclasses.dataclass(eq=False)
class Cartoonization:
    """The result for one photo.

    Attributes:
        name: the photo's file name (or `"<array>"`), used in messages and output names.
        photo: `(H, W, 3)` uint8 RGB photo as read (EXIF rotation applied).
        faces: the `PreparedFace`s, largest first (one unless `all_faces`).
        outputs: `(N, 256, 256, 3)` float32 generator outputs in [-1, 1], one per face.
        faces_found: how many faces the detector found (more than `len(faces)` without `all_faces`).
    """

    name: str
    photo: np.ndarray
    faces: list
    outputs: np.ndarray = None
    faces_found: int = None

    @property
    def cartoons(self):
        """The reference's final images: each cartoon composited on white with its mask, `(256, 256, 3)` uint8."""
        return [face.composite(output) for face, output in zip(self.faces, self.outputs)]

    @property
    def aligned(self):
        """The eye-levelled square crop of each face at the photo's resolution (PaddleGAN's `p2c_photo.png`)."""
        return [face.crop for face in self.faces]

    @property
    def generator_inputs(self):
        """What the generator saw: each masked face on white, `(256, 256, 3)` uint8."""
        return [face.face_256 for face in self.faces]

    def pasted(self, feather=0.04):
        """The photo with every cartoon face warped back in and blended with its mask, `(H, W, 3)` uint8."""
        return paste_all(self.photo, self.faces, list(self.outputs), feather=feather)


@dataclasses.dataclass(frozen=True)
class SkippedPhoto:
    """A photo of a batch that could not be processed, with a one-line reason (without the file name)."""

    name: str
    reason: str
    error: Exception
