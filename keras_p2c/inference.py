"""`Photo2Cartoon`: portrait photo in, cartoon out (PaddleGAN's `Photo2CartoonPredictor`, in Keras).

    from keras_p2c import Photo2Cartoon

    predictor = Photo2Cartoon(output_path="out")   # downloads and converts the release once
    cartoon = predictor.run("photo.jpg")           # (256, 256, 3) uint8; out/p2c_photo.png, out/p2c_cartoon.png

The steps are those of the reference (`keras_p2c.faces`): detect (MTCNN), level the eyes, crop the
reference's square, portrait mask, composite on white, generator, composite the cartoon on white with
the same mask. On top of the reference: every face of a photo (`all_faces`), the cartoon warped back
into the whole photo (`paste_back`), and batches: the faces of many photos are stacked and run
through the generator `batch_size` at a time by Keras' compiled predict function (`tf.function` on
TensorFlow, `jax.jit` on JAX), not op by op.
"""

import dataclasses
import os
import warnings
from collections import Counter, deque
from pathlib import Path

import cv2
import numpy as np

from keras_p2c.faces.images import DEFAULT_MAX_PIXELS

# Per-photo problems that skip the photo in a batch (`errors="return"`); anything else is a bug or an
# environment failure and propagates. `ImageReadError` and `NoFaceError` are `ValueError`s.
_PHOTO_ERRORS = (ValueError, OSError, cv2.error)


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
        from keras_p2c.faces.prepare import paste_all

        return paste_all(self.photo, self.faces, list(self.outputs), feather=feather)


@dataclasses.dataclass(frozen=True)
class SkippedPhoto:
    """A photo of a batch that could not be processed, with a one-line reason (without the file name)."""

    name: str
    reason: str
    error: Exception


def _reason(error, name):
    """The error message on one line, without a leading `name: ` (the caller prints the name)."""
    text = " ".join(str(error).split()) or type(error).__name__
    prefix = f"{name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _source_name(source):
    if isinstance(source, np.ndarray):
        return "<array>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<image bytes>"
    return str(os.fspath(source))


def resolve_segmenter(segmenter):
    """`"auto"`, `None`, a `.tflite` path or a callable → the mask function faces are prepared with (or None)."""
    if segmenter is None or callable(segmenter):
        return segmenter
    from keras_p2c.faces.mask_model import FETCH_COMMAND, default_model_path
    from keras_p2c.faces.segment import get_segmenter

    if isinstance(segmenter, str) and segmenter == "auto":
        if default_model_path().is_file():
            return get_segmenter()
        warnings.warn(
            f"The portrait-mask model {default_model_path()} is missing, so faces are not masked (the whole "
            f"square crop goes to the generator). Fetch it with `{FETCH_COMMAND}`, or pass segmenter=None to "
            f"silence this.",
            stacklevel=3,
        )
        return None
    return get_segmenter(segmenter)  # a .tflite path


def unique_stems(names):
    """Output prefixes for a batch: the file stems, those shared by several photos numbered by position."""
    stems = ["image" if name.startswith("<") else Path(name).stem or "image" for name in names]
    counts = Counter(stems)
    return [f"{index:04d}_{stem}" if counts[stem] > 1 else stem for index, stem in enumerate(stems)]


class Photo2Cartoon:
    """Photo → cartoon with the Photo2Cartoon generator (PaddleGAN's `Photo2CartoonPredictor` API).

    Args:
        weights: `None` for the PaddleGAN release (downloaded once into `cache_dir` with a progress
            bar, checked by structure, converted once and cached as `.weights.h5`); or a path to
            `photo2cartoon_weights.pt`, a `.pdparams`, a `.keras` or a `.weights.h5` file; or a
            `Generator`. See `keras_p2c.weights.release.load_generator`.
        output_path: folder where `run` saves the aligned photo and the cartoon; `None` saves nothing.
        cache_dir: download/conversion cache (`None`: `$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`).
        segmenter: `"auto"` (MediaPipe portrait mask when its model is fetched, else no mask with a
            warning), `None` (no mask: the whole square crop is used), a `.tflite` path, or a callable
            crop -> mask in [0, 1].
        all_faces: cartoonize every face, largest first, instead of only the largest.
        paste_back: `run` returns (and saves) the whole photo with the cartoon faces pasted in.
        batch_size: faces per generator call.
        max_pixels: refuse larger images (decompression-bomb guard; `None` for no limit).
        min_confidence: MTCNN score below which a detection is dropped.
        detect_size: detect on a copy at most this many pixels on its longer side (`None`: full size).
        min_face_size: smallest face MTCNN looks for, in pixels of that copy.
        weights_url: download URL for `weights=None` (default: the release, or `$KERAS_P2C_WEIGHTS_URL`).
        progress: show the download progress bar.

    Example:

    >>> predictor = Photo2Cartoon("photo2cartoon_weights.pt", output_path="out")
    >>> cartoon = predictor.run("photo.jpg")
    >>> whole = Photo2Cartoon("photo2cartoon_weights.pt", all_faces=True, paste_back=True).run("group.jpg")
    """

    def __init__(
        self,
        weights=None,
        output_path=None,
        cache_dir=None,
        segmenter="auto",
        all_faces=False,
        paste_back=False,
        batch_size=8,
        max_pixels=DEFAULT_MAX_PIXELS,
        min_confidence=None,
        detect_size=None,
        min_face_size=None,
        weights_url=None,
        progress=True,
    ):
        from keras_p2c.faces import detect
        from keras_p2c.weights.release import load_generator

        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        self.output_path = None if output_path is None else Path(output_path)
        self.all_faces = bool(all_faces)
        self.paste_back = bool(paste_back)
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.min_confidence = detect.DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
        self.detect_size = detect.DEFAULT_MAX_SIDE if detect_size is None else detect_size
        self.min_face_size = detect.DEFAULT_MIN_FACE_SIZE if min_face_size is None else min_face_size
        self.segmenter = resolve_segmenter(segmenter)
        self.generator = load_generator(weights, cache_dir=cache_dir, url=weights_url, progress=progress)

    # -- steps ---------------------------------------------------------------------------------

    def read(self, source):
        """`(rgb, name)` from a path, encoded bytes or an array (RGB, gray or RGBA, uint8)."""
        from keras_p2c.faces.images import ImageReadError, read_image

        if isinstance(source, np.ndarray):
            image = source
            channels = image.shape[2] if image.ndim == 3 else 1
            if image.dtype != np.uint8 or image.ndim not in (2, 3) or channels not in (1, 3, 4):
                raise ImageReadError(
                    f"<array>: expected a uint8 image (H, W), (H, W, 3) RGB or (H, W, 4) RGBA. "
                    f"Received: shape={image.shape}, dtype={image.dtype}"
                )
            if image.ndim == 2 or image.shape[2] == 1:
                image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
            elif image.shape[2] == 4:  # transparency on white, as `read_image` does for files
                alpha = image[:, :, 3:].astype(np.float32) / 255.0
                image = np.round(image[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
            return np.ascontiguousarray(image), _source_name(source)
        return read_image(source, max_pixels=self.max_pixels), _source_name(source)

    def prepare(self, source):
        """Read a photo and prepare its face(s); a `Cartoonization` without outputs.

        Raises:
            ImageReadError: unreadable or too large. NoFaceError: no face found.
        """
        from keras_p2c.faces.detect import NoFaceError, detect_faces
        from keras_p2c.faces.prepare import prepare_face

        photo, name = self.read(source)
        found = detect_faces(
            photo, min_confidence=self.min_confidence, max_side=self.detect_size, min_face_size=self.min_face_size
        )
        if not found:
            where = f" on a copy at most {self.detect_size} px wide/high" if self.detect_size else ""
            raise NoFaceError(
                f"{name}: no face found (MTCNN{where}, confidence >= {self.min_confidence}). Faces must be roughly "
                f"frontal and upright; for small faces in a large photo raise the detection size (detect_size, "
                f"--detect-size)."
            )
        chosen = found if self.all_faces else found[:1]
        faces = [prepare_face(photo, face, self.segmenter) for face in chosen]
        return Cartoonization(name=name, photo=photo, faces=faces, faces_found=len(found))

    def generate(self, inputs):
        """Run the generator on `(N, 256, 256, 3)` inputs in [-1, 1], `batch_size` at a time.

        Returns:
            `(N, 256, 256, 3)` float32 outputs in [-1, 1].
        """
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.ndim != 4 or inputs.shape[-1] != 3:
            raise ValueError(f"Expected generator inputs of shape (N, H, W, 3). Received: shape={inputs.shape}")
        chunks = []
        for start in range(0, len(inputs), self.batch_size):
            # Keras' predict function: traced once per batch shape and reused (tf.function / jax.jit).
            image = self.generator.predict_on_batch(inputs[start : start + self.batch_size])[0]
            chunks.append(np.asarray(image, dtype=np.float32))
        return np.concatenate(chunks) if chunks else np.zeros((0,) + inputs.shape[1:], np.float32)

    # -- whole photos ----------------------------------------------------------------------------

    def cartoonize(self, source):
        """One photo → `Cartoonization` (faces and generator outputs). Raises on a bad photo."""
        return self.cartoonize_batch([source])[0]

    def cartoonize_batch(self, sources, errors="raise"):
        """Many photos → a list of `Cartoonization` (see `iter_cartoonize`)."""
        return [result for _, result in self.iter_cartoonize(sources, errors=errors)]

    def iter_cartoonize(self, sources, errors="raise"):
        """Cartoonize photos lazily, in order, stacking the faces of consecutive photos into full batches.

        Args:
            sources: iterable of paths, encoded bytes or arrays.
            errors: `"raise"` stops at the first unreadable or faceless photo; `"return"` yields a
                `SkippedPhoto` (with a one-line reason) in its place and goes on.

        Yields:
            `(source, Cartoonization or SkippedPhoto)`, in input order.
        """
        if errors not in ("raise", "return"):
            raise ValueError(f"`errors` must be 'raise' or 'return'. Received: errors={errors!r}")
        pending = deque()  # [source, result, outputs-so-far] in input order
        queue, owners = [], []  # face inputs not yet generated, and the entry each belongs to

        def run_generator(count):
            outputs = self.generate(np.stack(queue[:count]))
            for entry, output in zip(owners[:count], outputs):
                entry[2].append(output)
            del queue[:count], owners[:count]

        def complete(entry):
            _, result, outputs = entry
            return isinstance(result, SkippedPhoto) or len(outputs) == len(result.faces)

        def finished():
            while pending and complete(pending[0]):
                source, result, outputs = pending.popleft()
                if not isinstance(result, SkippedPhoto):
                    result.outputs = np.stack(outputs)
                yield source, result

        for source in sources:
            try:
                result = self.prepare(source)
            except _PHOTO_ERRORS as error:
                if errors == "raise":
                    raise
                name = _source_name(source)
                result = SkippedPhoto(name=name, reason=_reason(error, name), error=error)
            entry = [source, result, []]
            pending.append(entry)
            if not isinstance(result, SkippedPhoto):
                queue.extend(face.input_256 for face in result.faces)
                owners.extend([entry] * len(result.faces))
            while len(queue) >= self.batch_size:
                run_generator(self.batch_size)
            yield from finished()
        if queue:
            run_generator(len(queue))
        yield from finished()

    # -- PaddleGAN-style entry points -----------------------------------------------------------

    def _main_output(self, result):
        if self.paste_back:
            return result.pasted()
        cartoons = result.cartoons
        return cartoons if self.all_faces else cartoons[0]

    def save(self, result, folder, prefix="p2c"):
        """Write a result's images into `folder` (atomically); returns the paths written.

        `<prefix>_photo.png` (the aligned crop) and `<prefix>_cartoon.png`, numbered `_1`, `_2`, ...
        with `all_faces`; `<prefix>_pasted.png` with `paste_back`.
        """
        from keras_p2c.faces.images import write_image_atomic

        folder = Path(folder)
        written = []
        for index, (aligned, cartoon) in enumerate(zip(result.aligned, result.cartoons), start=1):
            number = f"_{index}" if self.all_faces else ""
            written.append(write_image_atomic(folder / f"{prefix}_photo{number}.png", aligned))
            written.append(write_image_atomic(folder / f"{prefix}_cartoon{number}.png", cartoon))
        if self.paste_back:
            written.append(write_image_atomic(folder / f"{prefix}_pasted.png", result.pasted()))
        return written

    def run(self, image):
        """Cartoonize one photo, as PaddleGAN's `Photo2CartoonPredictor.run(image_path)`.

        Saves `p2c_photo.png` (aligned face) and `p2c_cartoon.png` into `output_path` when set.

        Args:
            image: a path, encoded bytes, or an RGB uint8 array.

        Returns:
            The cartoon, `(256, 256, 3)` uint8 RGB on white; a list of them with `all_faces`; or the
            whole photo with the faces pasted back, `(H, W, 3)`, with `paste_back`.

        Raises:
            ImageReadError: unreadable or too large. NoFaceError: no face found.
        """
        result = self.cartoonize(image)
        if self.output_path is not None:
            self.save(result, self.output_path)
        return self._main_output(result)

    def run_batch(self, images):
        """`run` for many photos, their faces batched through the generator; returns the outputs in order.

        With `output_path`, each photo's files are prefixed with its file stem (numbered if two
        photos share a stem). Raises on the first bad photo (use `iter_cartoonize(errors="return")`
        to skip them instead).
        """
        images = list(images)
        results = self.cartoonize_batch(images)
        if self.output_path is not None:
            for result, prefix in zip(results, unique_stems(result.name for result in results)):
                self.save(result, self.output_path, prefix=prefix)
        return [self._main_output(result) for result in results]
