"""`evaluate`: FID, KID and identity similarity of a folder of generated cartoons, written as a report.

Inputs (folders are searched recursively, files sorted by path; unreadable files are skipped and listed):

- `generated_dir`: the generator's cartoons. When some file names end in `_cartoon` (optionally numbered:
  `anna_cartoon.png`, `anna_cartoon_1.png`, what `p2c cartoonize` writes), only those are used, so
  cartoonize's output folder can be given as it is (its `_aligned` / `_pasted` files are ignored and listed).
- `real_dir`: real cartoons (e.g. the dataset's `testB`); every image is used.
- `photos_dir` (optional, for identity similarity): the photos the cartoons were made from, as the aligned
  256² face crops. When some names end in `_aligned`, `_prepared` or `_photo` (optionally numbered), only
  those are used, so the same cartoonize output folder (written with `--save-aligned`) can be given.

Pairing photos with cartoons, by name: each file's path below its folder, without the suffix and without
one trailing tag (`_cartoon`, `_aligned`, `_prepared`, `_photo`; a number after the tag is kept), must be
equal. So `sub/anna.jpg`, `sub/anna_aligned.png` and `sub/anna.png` all pair with `sub/anna_cartoon.png`;
`anna_aligned_1.png` with `anna_cartoon_1.png` (`--all-faces`). Files without a partner are listed.

Outputs, in `output_dir` (when given), each written atomically: `report.json` with every figure, the
per-pair identity scores, the counts, the skipped files and the settings; and `pairs.png`, a sheet of the
best and the worst identity pairs with their scores (only when identity similarity was computed).
"""

import dataclasses
import datetime
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np

from keras_p2c import __version__
from keras_p2c.atomic import write_text_atomic
from keras_p2c.evaluation.features import DEFAULT_INPUT_SIZE, InceptionFeatures
from keras_p2c.evaluation.identity import GENERATOR_SIZE, identity_similarity, load_face_id
from keras_p2c.evaluation.statistics import fid, kid
from keras_p2c.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    expand_inputs,
    printable_name,
    read_image,
    short_reason,
    write_image_atomic,
)
from keras_p2c.models.face_id import FaceFeatures

REPORT_NAME = "report.json"
SHEET_NAME = "pairs.png"
CARTOON_TAGS = ("cartoon",)
PHOTO_TAGS = ("aligned", "prepared", "photo")
_TAGGED = re.compile(r"^(?P<base>.+)_(?P<tag>cartoon|aligned|prepared|photo)(?P<number>_\d+)?$")
DEFAULT_KID_SUBSETS = 100
MAX_KID_SUBSET_SIZE = 1000  # Bińkowski et al.'s and torch-fidelity's subset size


class EvaluationError(ValueError):
    """The folders cannot be evaluated (too few images, no pairs); the message names the folder and what to do."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """A photo and the cartoon made from it, matched by `key` (see the module docstring)."""

    key: str
    photo: Path
    cartoon: Path


def tagged_key(key):
    """`(pairing key, tag)` of a file key: `sub/anna_cartoon_1` → `("sub/anna_1", "cartoon")`.

    Args:
        key: a file's path below its folder without the suffix (`keras_p2c.images.InputFile.key`).

    Returns:
        The key without its trailing tag (the number after the tag kept) and the tag, or `(key, None)` when
        the name carries no tag.
    """
    folder, _, stem = key.rpartition("/")
    match = _TAGGED.match(stem)
    if match is None:
        return key, None
    stem = match["base"] + (match["number"] or "")
    return (f"{folder}/{stem}" if folder else stem), match["tag"]


def list_images(folder, tags=None, role="images"):
    """The image files of a folder, those whose names carry one of `tags` when any does.

    Args:
        folder: the folder (searched recursively).
        tags: e.g. `("cartoon",)`; `None` takes every image.
        role: what the folder holds, for error messages (`"generated cartoons"`).

    Returns:
        `(files, ignored, skipped)`: `[(pairing key, path)]` in sorted order, the paths left out because
        they lack the tags, and `(name, reason)` for entries that are not images.

    Raises:
        EvaluationError: `folder` is not a folder.
    """
    folder = Path(os.fspath(folder)).expanduser()
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: no such folder (expected the {role}).")
    found, skipped = expand_inputs([folder])
    keyed = [(*tagged_key(item.key), item.path) for item in found]
    if tags is None or not any(tag in tags for _, tag, _ in keyed):
        return [(key, path) for key, _, path in keyed], [], skipped
    files = [(key, path) for key, tag, path in keyed if tag in tags]
    ignored = [path for _, tag, path in keyed if tag not in tags]
    return files, ignored, skipped


def pair_files(photos, cartoons):
    """Photos and cartoons with the same pairing key, in the cartoons' order.

    Args:
        photos, cartoons: `[(pairing key, path)]` from `list_images`.

    Returns:
        `(pairs, unpaired_photos, unpaired_cartoons)`: a list of `Pair` and the paths without a partner.
        A key held by two files of one side pairs its first file (the others are unpaired).
    """
    photo_by_key = {}
    for key, path in photos:
        photo_by_key.setdefault(key, path)
    pairs, used, unpaired_cartoons = [], set(), []
    for key, path in cartoons:
        if key in photo_by_key and key not in used:
            pairs.append(Pair(key, photo_by_key[key], path))
            used.add(key)
        else:
            unpaired_cartoons.append(path)
    unpaired_photos = [path for key, path in photos if key not in used or photo_by_key[key] != path]
    return pairs, unpaired_photos, unpaired_cartoons


def _name(path):
    return printable_name(os.fspath(path))


def _read_all(paths, max_pixels, skipped):
    """Decoded images of `paths`, lazily; unreadable files go to `skipped` as `(name, reason)`."""
    for path in paths:
        try:
            yield read_image(path, max_pixels=max_pixels)
        except ImageReadError as error:
            skipped.append((_name(path), short_reason(error, str(path))))


def _read_pairs(pairs, max_pixels, skipped, used):
    """Decoded `(photo, cartoon)` of `pairs`, lazily; the pairs read go to `used`, the others to `skipped`."""
    for pair in pairs:
        try:
            images = (read_image(pair.photo, max_pixels=max_pixels), read_image(pair.cartoon, max_pixels=max_pixels))
        except ImageReadError as error:
            skipped.append((_name(pair.photo), f"pair {pair.key} left out: {' '.join(str(error).split())}"))
            continue
        used.append(pair)
        yield images


def _folder_features(inception, files, folder, role, batch_size, progress, max_pixels, skipped):
    """Inception features of a folder's `[(key, path)]` files, read lazily; unreadable ones go to `skipped`.

    Raises:
        EvaluationError: fewer than 2 of the files could be read.
    """
    features = inception.features(
        _read_all([path for _, path in files], max_pixels, skipped),
        batch_size=batch_size,
        progress=progress,
        total=len(files),
        description=role.capitalize(),
    )
    _need_two(len(features), folder, role)
    return features


def _identity(
    photos_dir, generated_dir, generated_files, face_id_weights, ignored, batch_size, progress, max_pixels, skipped
):
    """The report's identity section, the pairs read and their scores; adds the photos' left-out files to
    `ignored` and their unreadable ones to `skipped`.

    Returns:
        `(section, pairs, scores)`: the dict (with a `photo_count` entry for the counts), the `Pair`s whose
        images were read, and their `(N,)` scores.

    Raises:
        EvaluationError: no photo pairs with a cartoon, or no pair could be read.
    """
    photo_files, ignored_photos, skipped_photos = list_images(photos_dir, PHOTO_TAGS, "photos")
    skipped += [entry for entry in skipped_photos if entry not in skipped]  # photos_dir may be generated_dir
    # With one folder for both (cartoonize's output), what one side leaves out the other uses.
    photo_names = {_name(path) for _, path in photo_files}
    generated_paths = {path for _, path in generated_files}
    ignored["generated"] = [name for name in ignored["generated"] if name not in photo_names]
    ignored["photos"] = [_name(path) for path in ignored_photos if path not in generated_paths]
    all_pairs, unpaired_photos, unpaired_cartoons = pair_files(photo_files, generated_files)
    if not all_pairs:
        raise EvaluationError(
            f"{photos_dir}: no photo pairs with a cartoon of {generated_dir} by name. Name them alike: "
            "`anna.png` or `anna_aligned.png` with `anna_cartoon.png` (or the same name in both folders)."
        )
    pairs = []
    scores = identity_similarity(
        _read_pairs(all_pairs, max_pixels, skipped, pairs),
        load_face_id(face_id_weights),
        batch_size=batch_size,
        progress=progress,
        total=len(all_pairs),
    ).scores
    if not pairs:
        raise EvaluationError(f"{photos_dir}: none of the {len(all_pairs)} photo / cartoon pairs could be read.")
    section = {
        "mean": float(scores.mean()),
        "min": float(scores.min()),
        "max": float(scores.max()),
        "pairs": [
            {"key": pair.key, "photo": _name(pair.photo), "cartoon": _name(pair.cartoon), "score": float(score)}
            for pair, score in zip(pairs, scores)
        ],
        "unpaired_photos": [_name(path) for path in unpaired_photos],
        "unpaired_cartoons": [_name(path) for path in unpaired_cartoons],
        "photo_count": len(photo_files),
    }
    return section, pairs, scores


def _need_two(count, folder, role):
    if count < 2:
        raise EvaluationError(
            f"{folder}: {count} readable {role}; FID and KID need at least 2 (hundreds for figures worth "
            "comparing). Point it at a folder with more images."
        )


def default_kid_subset_size(count_a, count_b):
    """The KID subset size `evaluate` uses: 1000, or half the smaller set below 2000 images.

    Half, so that the subsets differ and their spread (KID's standard error) says something: subsets as
    large as both sets would all be the same. The mean is the same in expectation at any subset size
    (the estimate is unbiased).

    Args:
        count_a, count_b: the sets' sizes.

    Returns:
        An integer ≥ 2.
    """
    return max(2, min(MAX_KID_SUBSET_SIZE, min(count_a, count_b) // 2))


def _describe_weights(weights):
    if isinstance(weights, InceptionFeatures):
        weights = weights.weights
    if weights is None:
        return "random (test only: the figures mean nothing)"
    if isinstance(weights, FaceFeatures):
        return "given FaceFeatures embedder"
    return weights if weights == "imagenet" else _name(weights)


def _fit(image, size):
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR)


def _put_text(canvas, text, x, y, scale=0.42):
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def pairs_sheet(columns, tile=128, gap=4):
    """A white sheet of photo | cartoon pairs in titled columns, each pair captioned with its score.

    Args:
        columns: `[(title, [(photo, cartoon, score, label)])]`: RGB uint8 images (any size, resized to
            `tile`²), a float score and a short label (the pair's key).
        tile: side of each image in pixels.
        gap: pixels between the images.

    Returns:
        `(H, W, 3)` uint8 RGB image.
    """
    header, caption, margin = 28, 20, 16
    rows = max(len(pairs) for _, pairs in columns)
    column_width = 2 * tile + gap
    width = margin + len(columns) * (column_width + margin)
    height = header + rows * (caption + tile + gap) + margin
    canvas = np.full((height, width, 3), 255, np.uint8)
    characters = column_width // 8  # Hershey simplex at this scale is about 8 px per character
    for column, (title, pairs) in enumerate(columns):
        left = margin + column * (column_width + margin)
        _put_text(canvas, title, left, header - 10, scale=0.55)
        for row, (photo, cartoon, score, label) in enumerate(pairs):
            top = header + row * (caption + tile + gap)
            text = f"{score:.3f}  {label}"
            text = text if len(text) <= characters else text[: characters - 1] + "~"
            _put_text(canvas, text, left, top + caption - 6)
            canvas[top + caption : top + caption + tile, left : left + tile] = _fit(photo, tile)
            canvas[top + caption : top + caption + tile, left + tile + gap : left + column_width] = _fit(cartoon, tile)
    return canvas


def _identity_sheet(pairs, scores, count, max_pixels):
    order = np.argsort(-scores, kind="stable")
    count = min(count, max(1, len(pairs) // 2))

    def entries(indices):
        chosen = [(pairs[i], float(scores[i])) for i in indices]
        return [(read_image(p.photo, max_pixels), read_image(p.cartoon, max_pixels), s, p.key) for p, s in chosen]

    return pairs_sheet([("best identity", entries(order[:count])), ("worst identity", entries(order[::-1][:count]))])


def evaluate(
    generated_dir,
    real_dir,
    photos_dir=None,
    face_id_weights=None,
    inception_weights="imagenet",
    output_dir=None,
    batch_size=32,
    progress=True,
    input_size=DEFAULT_INPUT_SIZE,
    kid_subsets=DEFAULT_KID_SUBSETS,
    kid_subset_size=None,
    seed=0,
    max_pixels=DEFAULT_MAX_PIXELS,
    sheet_pairs=4,
    cache_dir=None,
):
    """FID and KID of generated against real cartoons, and the identity similarity of photos and their cartoons.

    See the module docstring for which files are used and how photos pair with cartoons.

    Args:
        generated_dir: folder of generated cartoons.
        real_dir: folder of real cartoons (e.g. the dataset's `testB`).
        photos_dir: folder of the aligned photos the cartoons were made from; `None` skips identity.
        face_id_weights: `model_mobilefacenet.pth` (or a built `FaceFeatures`); needed with `photos_dir`.
        inception_weights: `"imagenet"` (downloaded on first use into the cache), the path of the weights
            file, `None` (random, tests only), or a built `InceptionFeatures` (reused, e.g. during training).
        output_dir: folder for `report.json` and `pairs.png`; `None` writes nothing.
        batch_size: images per forward pass.
        progress: show progress bars.
        input_size: InceptionV3's input size when it is built here (299; at least 75).
        kid_subsets: number of KID subsets.
        kid_subset_size: images per set in each KID subset; `None` means `default_kid_subset_size`.
        seed: seed of the KID subset draws.
        max_pixels: refuse images with more pixels (a decompression-bomb guard, see `read_image`).
        sheet_pairs: pairs in each column (best, worst) of `pairs.png`.
        cache_dir: cache folder for the InceptionV3 download; `None` means `keras_p2c.cache.cache_dir()`.

    Returns:
        The report as a dict (what `report.json` holds, plus `"outputs"`: the files written): `fid`,
        `kid` (`mean`, `standard_error`, `subsets`, `subset_size`), `identity_similarity` (`mean`, `pairs`
        with each pair's files and score, `unpaired_photos`, `unpaired_cartoons`; `None` without photos),
        `counts`, `skipped`, `ignored`, `notes` and `settings`.

    Raises:
        EvaluationError: a missing folder, fewer than 2 readable images on a side, `photos_dir` without
            `face_id_weights` (or the reverse), or no photo that pairs with a cartoon.
        keras_p2c.evaluation.features.InceptionWeightsError: the ImageNet weights cannot be downloaded
            (offline) or read; the message says how to provide them.
    """
    if (photos_dir is None) != (face_id_weights is None):
        missing = "face_id_weights (--face-id-weights)" if face_id_weights is None else "photos_dir (--photos)"
        raise EvaluationError(
            f"Identity similarity needs both the photos and the Face-ID weights; {missing} is missing. "
            "Give both, or neither to compute FID and KID only."
        )
    generated_files, ignored_generated, skipped = list_images(generated_dir, CARTOON_TAGS, "generated cartoons")
    real_files, _, skipped_real = list_images(real_dir, None, "real cartoons")
    skipped += skipped_real
    _need_two(len(generated_files), generated_dir, "generated cartoons")
    _need_two(len(real_files), real_dir, "real cartoons")

    inception = (
        inception_weights
        if isinstance(inception_weights, InceptionFeatures)
        else InceptionFeatures(inception_weights, input_size=input_size, cache_dir=cache_dir, progress=progress)
    )
    run = {"batch_size": batch_size, "progress": progress, "max_pixels": max_pixels, "skipped": skipped}
    generated = _folder_features(inception, generated_files, generated_dir, "generated cartoons", **run)
    real = _folder_features(inception, real_files, real_dir, "real cartoons", **run)
    subset_size = kid_subset_size if kid_subset_size is not None else default_kid_subset_size(len(generated), len(real))
    kid_result = kid(generated, real, subsets=kid_subsets, subset_size=subset_size, seed=seed)
    notes = []
    if min(len(generated), len(real)) < inception.feature_size:
        notes.append(
            f"FID from fewer images than its {inception.feature_size} features is biased upward: compare only "
            "runs evaluated on the same folders (KID is unbiased)."
        )

    counts = {"generated": len(generated), "real": len(real)}
    ignored = {"generated": [_name(path) for path in ignored_generated]}
    identity, pairs, scores = None, [], None
    if photos_dir is not None:
        identity, pairs, scores = _identity(photos_dir, generated_dir, generated_files, face_id_weights, ignored, **run)
        counts.update({"photos": identity.pop("photo_count"), "pairs": len(pairs)})
    counts.update({"skipped": len(skipped), **{f"ignored_{role}": len(names) for role, names in ignored.items()}})

    report = {
        "fid": fid(generated, real),
        "kid": {
            "mean": kid_result.mean,
            "standard_error": kid_result.standard_error,
            "subsets": int(kid_subsets),
            "subset_size": int(min(subset_size, len(generated), len(real))),
        },
        "identity_similarity": identity,
        "counts": counts,
        "skipped": [{"file": name, "reason": reason} for name, reason in skipped],
        "ignored": ignored,
        "notes": notes,
        "settings": {
            "generated_dir": _name(generated_dir),
            "real_dir": _name(real_dir),
            "photos_dir": None if photos_dir is None else _name(photos_dir),
            "inception_weights": _describe_weights(inception_weights),
            "inception_input_size": inception.input_size,
            "feature_size": inception.feature_size,
            "face_id_weights": None if face_id_weights is None else _describe_weights(face_id_weights),
            "identity_image_size": GENERATOR_SIZE,
            "batch_size": batch_size,
            "kid_subsets": int(kid_subsets),
            "kid_subset_size": None if kid_subset_size is None else int(kid_subset_size),
            "seed": seed,
            "max_pixels": max_pixels,
        },
        "keras_p2c_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    outputs = {}
    if output_dir is not None:
        output_dir = Path(os.fspath(output_dir)).expanduser()
        if identity is not None:
            sheet = _identity_sheet(pairs, scores, sheet_pairs, max_pixels)
            outputs["pairs"] = _name(write_image_atomic(output_dir / SHEET_NAME, sheet))
        outputs["report"] = _name(output_dir / REPORT_NAME)
        write_text_atomic(output_dir / REPORT_NAME, json.dumps({**report, "outputs": outputs}, indent=2) + "\n")
    return {**report, "outputs": outputs}
