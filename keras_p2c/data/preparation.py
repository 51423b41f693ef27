"""A folder of portrait photos → a Photo2Cartoon training set: aligned, masked face crops in `trainA/` + `testA/`.

Each photo goes through the same steps as inference (`keras_p2c.faces`: MTCNN, eye levelling, the
reference's square crop, portrait mask) and is written as a `size` x `size` PNG: the face composited
on white with its mask, truncated to uint8 as the reference's `data_process.py` does, or with
`rgba=True` the unmasked crop with the mask as its alpha channel (the reference's intermediate
format, for users who composite themselves). Photos of cartoons for `trainB/` are usually already
cropped and are not handled here.

Training data wants clean faces, so photos the inference command would still process are skipped
here, each with a reason in the report: no face, several faces (with `faces="single"`), a face whose
crop is smaller than `min_crop` pixels (it would be blown up to 256), a crop more than `max_outside`
outside the photo (a face at the border: mostly white fill).

The split is by a hash of the output name, so it is deterministic, does not depend on the file order,
and a photo keeps its split when more photos are added later (the ratio is therefore approximate
for small folders). The run is resumable: `prepare_report.json` in the output folder records every
photo (with its size and modification time) and is rewritten atomically as the run goes; a second
run skips photos whose outputs are present and photos skipped before (unless `retry_skipped`).
"""

import concurrent.futures
import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from keras_p2c.atomic import write_bytes_atomic
from keras_p2c.faces.composite import resize_to_generator
from keras_p2c.faces.detect import DEFAULT_MAX_SIDE, DEFAULT_MIN_CONFIDENCE
from keras_p2c.faces.detection import DetectionOptions
from keras_p2c.faces.prepare import FACE_POLICIES, prepare_face, select_faces
from keras_p2c.faces.quality import MAX_OUTSIDE, MIN_CROP, face_quality
from keras_p2c.faces.segment import get_segmenter
from keras_p2c.images import (
    DEFAULT_MAX_PIXELS,
    expand_inputs,
    name_bytes,
    printable_name,
    read_image,
    short_reason,
    write_image_atomic,
)

REPORT_NAME = "prepare_report.json"
SKIPPED_CSV_NAME = "prepare_skipped.csv"
_SAVE_EVERY = 25  # records between report rewrites (what an interruption can lose)


@dataclasses.dataclass(frozen=True)
class PrepOptions:
    """What to write and which faces to accept (picklable, for worker processes).

    Attributes:
        output_root: data set root; outputs go to `train<domain>/` and `test<domain>/` below it.
        domain: `"A"` (photos) by default.
        test_fraction: share of photos sent to `test<domain>/`, in [0, 1).
        seed: changes which photos land in the test split.
        size: output side in pixels.
        rgba: write the unmasked crop with the mask as alpha instead of the composite on white.
        mask: run the portrait segmenter; without it the whole square crop is kept.
        mask_model: `.tflite` path for the segmenter (`None`: the fetched default).
        faces: `"largest"` (the reference), `"all"` (one output per face) or `"single"` (skip
            photos with more than one face).
        min_crop: skip faces whose square crop is smaller than this many photo pixels.
        max_outside: skip faces whose crop lies more than this fraction outside the photo.
        max_pixels: refuse larger images (`None`: no limit).
        detect_size: MTCNN runs on a copy at most this many pixels on its longer side (`None`: the photo).
        min_confidence: MTCNN score threshold.
        landmarks: `"mtcnn5"` (MTCNN) or `"dlib68"` (dlib's 68 landmarks: the reference's exact crop).
    """

    output_root: str
    domain: str = "A"
    test_fraction: float = 0.1
    seed: int = 0
    size: int = 256
    rgba: bool = False
    mask: bool = True
    mask_model: str = None
    faces: str = "largest"
    min_crop: int = MIN_CROP
    max_outside: float = MAX_OUTSIDE
    max_pixels: int = DEFAULT_MAX_PIXELS
    detect_size: int = DEFAULT_MAX_SIDE
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    landmarks: str = "mtcnn5"

    def __post_init__(self):
        self.detection  # making the DetectionOptions checks the detection settings
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"`test_fraction` must be in [0, 1). Received: test_fraction={self.test_fraction}")
        if self.faces not in FACE_POLICIES:
            raise ValueError(f"`faces` must be one of {FACE_POLICIES}. Received: faces={self.faces!r}")
        if not isinstance(self.size, int) or self.size < 16:
            raise ValueError(f"`size` must be an integer of at least 16. Received: size={self.size!r}")
        if not 0.0 <= self.max_outside <= 1.0:
            raise ValueError(f"`max_outside` must be in [0, 1]. Received: max_outside={self.max_outside}")

    @property
    def detection(self):
        """The `DetectionOptions` these options give."""
        return DetectionOptions(min_confidence=self.min_confidence, max_side=self.detect_size, landmarks=self.landmarks)

    def folder(self, split):
        return Path(self.output_root) / f"{split}{self.domain}"


def split_of(key, test_fraction, seed=0):
    """`"test"` or `"train"` for an output key, from a hash of the key (stable as photos are added)."""
    digest = hashlib.sha256(f"{seed}:".encode("ascii") + name_bytes(key)).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2.0**64 < test_fraction else "train"


def output_name(key, index=None):
    """Flat PNG name for a key (`sub/anna` → `sub__anna.png`; `_2` for the second face)."""
    stem = key.replace("/", "__")
    return f"{stem}_{index}.png" if index is not None else f"{stem}.png"


def training_image(prepared, size, rgba):
    """The image to store for one `PreparedFace`: composite on white (uint8, truncated) or RGBA."""
    face, mask = resize_to_generator(prepared.crop, prepared.crop_mask, size)
    m = mask[:, :, None].astype(np.float64)
    if rgba:
        return np.dstack([face, np.round(mask * 255.0).astype(np.uint8)])
    # `astype` truncates, as the reference's data_process.py (values are in [0, 255]).
    return (face.astype(np.float64) * m + 255.0 * (1.0 - m)).astype(np.uint8)


def _face_problem(prepared, photo_shape, options):
    quality = face_quality(prepared, photo_shape)
    if quality.is_small(options.min_crop):
        return (
            f"face too small: its crop is {quality.crop_side} px, below the minimum of {options.min_crop} px "
            f"(it would be enlarged {quality.enlargement(options.size):.1f}x; lower --min-crop to keep it)"
        )
    if quality.is_cut(options.max_outside):
        return (
            f"face at the border: {quality.outside:.0%} of its crop lies outside the photo (filled white), more "
            f"than --max-outside {options.max_outside:.0%}"
        )
    return None


def _segmenter(options):
    if not options.mask:
        return None
    return get_segmenter(options.mask_model)


def process_photo(path, key, options):
    """Prepare one photo and write its crop(s). Never raises for a bad photo: the record says why.

    Returns:
        A record dict: `file`, `key`, `split`, `status` (`"written"` or `"skipped"`), `outputs`
        (paths relative to the output root), `faces` (how many were written), `reason`, and the
        file's `size` and `mtime_ns` (to recognise it on resume).
    """
    path = Path(path)
    split = split_of(key, options.test_fraction, options.seed)
    record = _new_record(str(path), key, split)
    record.update(_file_stamp(path))

    def skip(reason):
        record["reason"] = short_reason(reason, path)
        return record

    try:
        rgb = read_image(path, max_pixels=options.max_pixels)
        faces, _ = select_faces(rgb, options.faces, detection=options.detection, name=str(path))
    except ValueError as error:  # ImageReadError / ImageTooLargeError, NoFaceError, SeveralFacesError
        return skip(error)

    images, problems = [], []
    for number, face in enumerate(faces, start=1):
        try:
            prepared = prepare_face(rgb, face, _segmenter(options))
        except ValueError as error:  # e.g. keypoints that do not describe an upright face
            problems.append(f"face {number}: {error}")
            continue
        problem = _face_problem(prepared, rgb.shape, options)
        if problem:
            problems.append(problem if len(faces) == 1 else f"face {number}: {problem}")
            continue
        images.append((number, training_image(prepared, options.size, options.rgba)))
    if not images:
        return skip("; ".join(problems))

    folder = options.folder(split)
    for number, image in images:
        name = output_name(key, number if options.faces == "all" else None)
        write_image_atomic(folder / name, image)
        record["outputs"].append(f"{folder.name}/{name}")
    record.update(status="written", faces=len(images), reason="; ".join(problems) or None)
    return record


def _new_record(file, key, split, reason=None):
    return {"file": file, "key": key, "split": split, "status": "skipped", "outputs": [], "faces": 0, "reason": reason}


def _file_stamp(path):
    try:
        stat = os.stat(path)
    except OSError:
        return {"size": None, "mtime_ns": None}
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


# -- worker processes -------------------------------------------------------------------------------

_worker_options = None


def _init_worker(options, threads):
    global _worker_options
    _worker_options = options
    # One TensorFlow thread pool per worker, sized to its share of the cores (set before TF starts).
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _process_in_worker(item):
    return _process_safely(item, _worker_options)


def _process_safely(item, options):
    """`process_photo`, with an unforeseen failure on one photo recorded with status `"failed"`.

    A long run should not die at photo 5,000 of 10,000 because one file trips an error nobody
    anticipated (or the disk filled up for a moment); the exception type and message reach the
    report, and unlike a skip, a failure is retried by the next run.
    """
    path, key = item
    try:
        return process_photo(path, key, options)
    except Exception as error:  # noqa: BLE001 - recorded in the report, not swallowed
        record = _new_record(str(path), key, split_of(key, options.test_fraction, options.seed))
        record.update(_file_stamp(path), status="failed", reason=f"{type(error).__name__}: {error}")
        return record


def _map(todo, options, workers):
    """Records for `todo` (`(path, key)` pairs) in order, in this process or in `workers` processes."""
    if workers <= 1:
        for item in todo:
            yield _process_safely(item, options)
        return
    # "spawn": a forked copy of a process that already runs TensorFlow threads can deadlock.
    threads = max(1, (os.cpu_count() or 1) // workers)
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(options, threads)
    ) as pool:
        yield from pool.map(_process_in_worker, todo, chunksize=1)


# -- the whole folder -------------------------------------------------------------------------------


def _load_previous(root):
    path = Path(root) / REPORT_NAME
    if not path.is_file():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return {record["file"]: record for record in report["files"]}
    except (ValueError, KeyError, TypeError):
        warnings.warn(f"{path} is not a readable report; photos are processed again.", stacklevel=3)
        return {}


def _previous_outcome(record, previous, options, retry_skipped):
    """The earlier record when this photo needs no work, else `None`."""
    old = previous.get(record["file"])
    root = Path(options.output_root)
    if old is not None and (old.get("size"), old.get("mtime_ns")) == (record["size"], record["mtime_ns"]):
        if old["status"] == "written" and old["outputs"] and all((root / out).is_file() for out in old["outputs"]):
            return dict(old, resumed=True)
        if old["status"] == "skipped" and not retry_skipped:
            return dict(old, resumed=True)
    if options.faces != "all":  # without a record: the one output it would write is already there
        relative = f"{options.folder(record['split']).name}/{output_name(record['key'])}"
        if (root / relative).is_file():
            return dict(record, status="written", outputs=[relative], faces=1, reason=None, resumed=True)
    return None


def _write_reports(root, options, records, summary):
    ordered = sorted(records.values(), key=lambda record: record["file"])
    report = {"summary": summary, "options": dataclasses.asdict(options), "files": ordered}
    write_bytes_atomic(Path(root) / REPORT_NAME, json.dumps(report, indent=1).encode("utf-8"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "status", "reason"])
    writer.writerows(
        (printable_name(r["file"]), r["status"], r["reason"]) for r in ordered if r["status"] in ("skipped", "failed")
    )
    write_bytes_atomic(Path(root) / SKIPPED_CSV_NAME, buffer.getvalue().encode("utf-8"))


def _summary(records):
    values = list(records.values())
    written = [r for r in values if r["status"] == "written"]
    return {
        "photos": len(values),
        "written": sum(1 for r in written if not r.get("resumed")),
        "already_done": sum(1 for r in written if r.get("resumed")),
        "skipped": sum(1 for r in values if r["status"] == "skipped"),
        "failed": sum(1 for r in values if r["status"] == "failed"),
        "faces_train": sum(r["faces"] for r in written if r["split"] == "train"),
        "faces_test": sum(r["faces"] for r in written if r["split"] == "test"),
    }


def prepare_dataset(inputs, options, workers=1, retry_skipped=False, progress=True):
    """Prepare every photo of `inputs` into `options.output_root`; resumable; writes the reports.

    Args:
        inputs: a folder (searched recursively), or a list of files, folders and glob patterns.
        options: `PrepOptions`.
        workers: processes (1: this process). Each worker loads its own detector and segmenter.
        retry_skipped: process photos the previous run skipped again (e.g. after changing options).
        progress: show a tqdm progress bar.

    Returns:
        The summary dict (also in `prepare_report.json`): photos, written, already_done, skipped,
        failed (unexpected errors, retried by the next run), faces_train, faces_test.

    Raises:
        MaskModelError: `options.mask` is set but the segmentation model is missing.
        LandmarksUnavailableError: `options.landmarks` is `"dlib68"` but the `[landmarks]` extra is missing.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"`workers` must be a positive integer. Received: workers={workers!r}")
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    root = Path(options.output_root)
    root.mkdir(parents=True, exist_ok=True)
    if options.mask:
        _segmenter(options)  # fail before any work when the model is missing
    options.detection.require_extras()  # the same for dlib, rather than one failure per photo
    files, rejected = expand_inputs(inputs)
    # Never read our own outputs back as inputs (an output folder inside the input folder).
    files = [item for item in files if root.resolve() not in item.path.resolve().parents]

    previous = _load_previous(root)
    records = {}
    for name, reason in rejected:
        records[name] = _new_record(name, None, None, reason)
    todo = []
    for item in files:
        record = _new_record(str(item.path), item.key, split_of(item.key, options.test_fraction, options.seed))
        record.update(_file_stamp(item.path))
        done = _previous_outcome(record, previous, options, retry_skipped)
        if done is not None:
            records[record["file"]] = done
        else:
            todo.append((str(item.path), item.key))

    try:
        with tqdm(total=len(todo), unit="photo", desc="prepare", disable=not progress) as bar:
            for count, record in enumerate(_map(todo, options, workers), start=1):
                records[record["file"]] = record
                bar.update(1)
                if count % _SAVE_EVERY == 0:
                    _write_reports(root, options, records, _summary(records))
    finally:  # also on Ctrl-C: what was done is recorded and skipped next time
        summary = _summary(records)
        _write_reports(root, options, records, summary)
    return summary
