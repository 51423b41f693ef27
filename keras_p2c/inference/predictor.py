"""`Photo2Cartoon`: portrait photo in, cartoon out (PaddleGAN's `Photo2CartoonPredictor`, in Keras).

    from keras_p2c import Photo2Cartoon

    predictor = Photo2Cartoon(output_path="out")   # downloads and converts the release once
    cartoon = predictor.run("photo.jpg")           # (256, 256, 3) uint8; out/p2c_photo.png, out/p2c_cartoon.png

The steps are those of the reference (`keras_p2c.faces`): detect (MTCNN; dlib's 68 landmarks with
`landmarks="dlib68"`), level the eyes, crop the reference's square, portrait mask, composite on white,
generator, composite the cartoon on white with the same mask. On top of the reference: every face of a photo (`all_faces`), the cartoon warped back
into the whole photo (`paste_back`), and batches: the faces of many photos are stacked and run
through the generator `batch_size` at a time by Keras' compiled predict function (`tf.function` on
TensorFlow, `jax.jit` on JAX), not op by op.
"""

import os
from collections import Counter, deque
from pathlib import Path

import cv2
import numpy as np

from keras_p2c.faces import detect
from keras_p2c.faces.detection import DetectionOptions
from keras_p2c.faces.prepare import prepare_face, select_faces
from keras_p2c.faces.segment import resolve_segmenter
from keras_p2c.images import DEFAULT_MAX_PIXELS, as_rgb, read_image, short_reason, write_image_atomic
from keras_p2c.inference.results import Cartoonization, SkippedPhoto
from keras_p2c.inference.runtimes import select_runtime
from keras_p2c.weights.release import load_generator

# Per-photo problems that skip the photo in a batch (`errors="return"`); anything else is a bug or an
# environment failure and propagates. `ImageReadError` and `NoFaceError` are `ValueError`s.
_PHOTO_ERRORS = (ValueError, OSError, cv2.error)


def _source_name(source):
    if isinstance(source, np.ndarray):
        return "<array>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<image bytes>"
    return str(os.fspath(source))


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
        detect_size: detect on a copy at most this many pixels on its longer side (`None`: the photo itself).
        min_face_size: smallest face MTCNN looks for, in pixels of that copy.
        landmarks: `"mtcnn5"` (MTCNN's five points, the crop estimated from them) or `"dlib68"` (the same
            faces with dlib's 68 landmarks, the reference's exact crop; needs the `[landmarks]` extra).
            These four are `self.detection` (`DetectionOptions`), checked here.
        weights_url: download URL for `weights=None` (default: the release, or `$KERAS_P2C_WEIGHTS_URL`).
        progress: show the download progress bar.
        runtime: where the generator runs: `"auto"` (OpenVINO when installed, else Keras' compiled
            predict), `"tensorflow"`, `"openvino"` or `"onnxruntime"`; `None`: `$KERAS_P2C_RUNTIME`,
            else `"auto"`. Every runtime but Keras' is checked on the first face against Keras'
            float32 generator (see `keras_p2c.inference.runtimes`); `self.runtime.describe()` says
            which one runs and how it compared.
        precision: `"auto"` (bfloat16 where the CPU has bf16 units and the runtime passes the 40 dB
            PSNR check, else float32), `"float32"` or `"bf16"` (OpenVINO only).

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
        min_confidence=detect.DEFAULT_MIN_CONFIDENCE,
        detect_size=detect.DEFAULT_MAX_SIDE,
        min_face_size=detect.DEFAULT_MIN_FACE_SIZE,
        weights_url=None,
        progress=True,
        landmarks="mtcnn5",
        runtime=None,
        precision=None,
    ):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        # Checked here, once: a bad setting is one error, not the same skip reason on every photo.
        self.detection = DetectionOptions(
            min_confidence=min_confidence, max_side=detect_size, min_face_size=min_face_size, landmarks=landmarks
        )
        self.detection.require_extras()  # likewise a missing extra
        self.output_path = None if output_path is None else Path(output_path)
        self.all_faces = bool(all_faces)
        self.paste_back = bool(paste_back)
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.segmenter = resolve_segmenter(segmenter)
        self.generator = load_generator(weights, cache_dir=cache_dir, url=weights_url, progress=progress)
        self.runtime = select_runtime(self.generator, runtime, precision, cache_dir=cache_dir)

    # -- steps ---------------------------------------------------------------------------------

    def read(self, source):
        """`(rgb, name)` from a path, encoded bytes or an array (RGB, gray or RGBA, uint8)."""
        if isinstance(source, np.ndarray):
            return as_rgb(source, _source_name(source)), _source_name(source)
        return read_image(source, max_pixels=self.max_pixels), _source_name(source)

    def prepare(self, source):
        """Read a photo and prepare its face(s); a `Cartoonization` without outputs.

        Raises:
            ImageReadError: unreadable or too large. NoFaceError: no face found.
        """
        photo, name = self.read(source)
        chosen, found = select_faces(photo, "all" if self.all_faces else "largest", detection=self.detection, name=name)
        faces = [prepare_face(photo, face, self.segmenter) for face in chosen]
        return Cartoonization(name=name, photo=photo, faces=faces, faces_found=found)

    def generate(self, inputs, first_name=None):
        """Run the generator on `(N, 256, 256, 3)` inputs in [-1, 1], `batch_size` at a time, on `self.runtime`.

        `first_name`: the photo the first input comes from, named by the runtime's check on its first call.

        Returns:
            `(N, 256, 256, 3)` float32 outputs in [-1, 1].
        """
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.ndim != 4 or inputs.shape[-1] != 3:
            raise ValueError(f"Expected generator inputs of shape (N, H, W, 3). Received: shape={inputs.shape}")
        checked_on = "the first face given" if first_name is None else f"the first face of {first_name}"
        chunks = []
        for start in range(0, len(inputs), self.batch_size):
            image = self.runtime(inputs[start : start + self.batch_size], checked_on=checked_on)[0]
            chunks.append(image)
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
            outputs = self.generate(np.stack(queue[:count]), first_name=owners[0][1].name)
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
                result = SkippedPhoto(name=name, reason=short_reason(error, name), error=error)
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
