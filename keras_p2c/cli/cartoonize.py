"""`p2c cartoonize IN... -o OUTDIR`: portrait photos (files, folders, globs) → cartoon PNGs.

For an input `IN/sub/anna.jpg` (folder `IN` given) it writes, under OUTDIR, `sub/anna_cartoon.png`
(the largest face; `anna_cartoon_1.png`, `_2`, ... with `--all-faces`), `sub/anna_pasted.png` with
`--paste-back` (the whole photo with the cartoon faces warped back in) and `sub/anna_aligned.png`
(the aligned square crop) with `--save-aligned`. Every file is written atomically. A file that
cannot be processed is reported, with a one-line reason, in the summary at the end and the batch
goes on; the exit status is 1 only when nothing at all could be processed.
"""

import os
import sys
from pathlib import Path

# NumPy + OpenCV only (no TensorFlow): `p2c cartoonize --help` stays fast.
from keras_p2c.cli.face_options import add_detect_size_argument, add_landmarks_argument, detect_size
from keras_p2c.cli.runtime_options import add_runtime_arguments
from keras_p2c.faces.landmarks import LandmarksUnavailableError
from keras_p2c.faces.quality import face_quality
from keras_p2c.images import DEFAULT_MAX_PIXELS, expand_inputs, printable_name, write_image_atomic


def add_arguments(parser):
    parser.add_argument(
        "inputs", nargs="+", metavar="IN", help="photo files, folders (searched recursively) or glob patterns"
    )
    parser.add_argument("-o", "--output-dir", required=True, help="folder for the results (created if needed)")
    parser.add_argument(
        "--weights",
        help="photo2cartoon_weights.pt, a .pdparams, .keras or .weights.h5 file "
        "(default: the PaddleGAN release, downloaded once into the cache)",
    )
    parser.add_argument("--all-faces", action="store_true", help="cartoonize every face, not only the largest")
    parser.add_argument(
        "--paste-back", action="store_true", help="also write the whole photo with the cartoon faces pasted in"
    )
    parser.add_argument("--save-aligned", action="store_true", help="also write each aligned face crop (*_aligned.png)")
    parser.add_argument(
        "--save-prepared",
        action="store_true",
        help="also write each generator input, the masked 256² face on white (*_prepared.png): what to send to "
        "a TF Serving endpoint",
    )
    parser.add_argument(
        "--no-mask", action="store_true", help="no portrait segmentation: the whole square crop is cartoonized"
    )
    parser.add_argument(
        "--mask-model",
        help="portrait-segmentation .tflite (default: the cached MediaPipe model, fetched on first use)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse images with more pixels than this (decompression-bomb guard; default "
        f"{DEFAULT_MAX_PIXELS:,}; 0: no limit)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="faces per generator call (default 8)")
    add_detect_size_argument(parser)
    add_landmarks_argument(parser)
    add_runtime_arguments(parser)
    parser.add_argument("--cache-dir", help="download/conversion cache (default $KERAS_P2C_HOME or ~/.cache/keras_p2c)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def output_paths(output_dir, key, n_faces, args):
    """The files one photo produces, as `{role: path}` (roles: cartoon[_i], aligned[_i], prepared[_i], pasted)."""
    base = Path(output_dir) / key
    paths = {}
    for index in range(1, n_faces + 1):
        number = f"_{index}" if args.all_faces else ""
        paths[f"cartoon{number}"] = base.with_name(f"{base.name}_cartoon{number}.png")
        if args.save_aligned:
            paths[f"aligned{number}"] = base.with_name(f"{base.name}_aligned{number}.png")
        if getattr(args, "save_prepared", False):
            paths[f"prepared{number}"] = base.with_name(f"{base.name}_prepared{number}.png")
    if args.paste_back:
        paths["pasted"] = base.with_name(f"{base.name}_pasted.png")
    return paths


def write_outputs(result, output_dir, key, args):
    """Write one photo's images (each atomically); returns the paths."""
    paths = output_paths(output_dir, key, len(result.faces), args)
    images = {}
    faces = zip(result.cartoons, result.aligned, result.generator_inputs)
    for index, (cartoon, aligned, prepared) in enumerate(faces, start=1):
        number = f"_{index}" if args.all_faces else ""
        images[f"cartoon{number}"] = cartoon
        images[f"aligned{number}"] = aligned
        images[f"prepared{number}"] = prepared
    if args.paste_back:
        images["pasted"] = result.pasted()
    return [write_image_atomic(path, images[role]) for role, path in paths.items()]


def photo_notes(result, all_faces):
    """One-line remarks on a processed photo: faces left out, faces too small, faces cut by the border.

    Such faces are still cartoonized (dataset preparation skips them, by the same thresholds); the summary
    says why their cartoon may look poor.
    """
    notes = []
    if not all_faces and result.faces_found > 1:
        notes.append(f"{result.faces_found} faces found, the largest cartoonized (--all-faces for every face)")
    for number, face in enumerate(result.faces, start=1):
        which = f"face {number}" if len(result.faces) > 1 else "face"
        quality = face_quality(face, result.photo.shape)
        if quality.is_small():
            enlarged = f"{quality.crop_side} px crop, enlarged {quality.enlargement():.1f}x"
            notes.append(f"{which} is small ({enlarged}): expect blur")
        if quality.is_cut():
            notes.append(f"{which} at the border: {quality.outside:.0%} of its crop is outside the photo (white fill)")
    return notes


def _summary(processed, n_faces, skipped, notes, output_dir, runtime=None):
    # Every input is either processed or skipped (non-images and empty folders included), so the counts add up.
    total = processed + len(skipped)
    lines = [
        f"p2c cartoonize: {processed} of {total} input(s) processed ({n_faces} face(s)), {len(skipped)} skipped "
        f"-> {output_dir}"
    ]
    if runtime is not None and runtime.chosen is not None:
        lines.append(f"generator: {runtime.describe()}")
        lines.extend(f"  passed over {reason}" for reason in runtime.passed_over)
    if notes:
        lines.append(f"notes on {len(notes)}:")
        lines.extend(f"  {name}: {'; '.join(remarks)}" for name, remarks in notes)
    if skipped:
        lines.append(f"skipped {len(skipped)}:")
        lines.extend(f"  {name}: {reason}" for name, reason in skipped)
    # File names that are not UTF-8 (`caf\udce9.jpg`) would stop `print` in a UTF-8 locale after all the work.
    return printable_name("\n".join(lines))


def run(args):
    if args.batch_size < 1:
        print(f"p2c cartoonize: --batch-size must be at least 1 (got {args.batch_size}).", file=sys.stderr)
        return 2
    if args.max_pixels < 0:
        message = f"--max-pixels must be 0 (no limit) or positive (got {args.max_pixels})."
        print(f"p2c cartoonize: {message}", file=sys.stderr)
        return 2
    files, skipped = expand_inputs(args.inputs)
    # Never take our own results as inputs (an output folder inside an input folder, on a second run).
    output_dir = Path(args.output_dir).resolve()
    files = [item for item in files if output_dir not in item.path.resolve().parents]
    if not files:
        print(_summary(0, 0, skipped, [], args.output_dir))
        return 1

    predictor = _make_predictor(args)
    if predictor is None:
        return 1

    from tqdm.auto import tqdm

    from keras_p2c.inference import SkippedPhoto  # Keras and TensorFlow: only once the command runs

    by_path = {item.path: item for item in files}
    processed = n_faces = 0
    notes = []
    with tqdm(total=len(files), unit="photo", desc="cartoonize", disable=args.quiet) as bar:
        for path, result in predictor.iter_cartoonize((item.path for item in files), errors="return"):
            bar.update(1)
            if isinstance(result, SkippedPhoto):
                skipped.append((str(path), result.reason))
                continue
            try:
                write_outputs(result, args.output_dir, by_path[path].key, args)
            except (OSError, ValueError) as error:
                skipped.append((str(path), f"could not write the result ({' '.join(str(error).split())})"))
                continue
            processed += 1
            n_faces += len(result.faces)
            remarks = photo_notes(result, args.all_faces)
            if remarks:
                notes.append((str(path), remarks))
    print(_summary(processed, n_faces, skipped, notes, args.output_dir, predictor.runtime))
    return 0 if processed else 1


def _make_predictor(args):
    """The predictor for these options, or `None` after printing why the weights cannot be loaded."""
    from keras_p2c.faces.mask_model import MaskModelError
    from keras_p2c.inference import Photo2Cartoon
    from keras_p2c.inference.runtimes import RuntimeUnavailable
    from keras_p2c.weights import DownloadError

    # "auto": the cached portrait-segmentation model, fetched on first use (one-off, ~36 MB).
    segmenter = None if args.no_mask else (args.mask_model or "auto")
    try:
        return Photo2Cartoon(
            weights=args.weights,
            cache_dir=args.cache_dir,
            segmenter=segmenter,
            all_faces=args.all_faces,
            paste_back=args.paste_back,
            batch_size=args.batch_size,
            max_pixels=args.max_pixels or None,
            detect_size=detect_size(args),
            progress=not args.quiet,
            landmarks=args.landmarks,
            runtime=args.runtime,
            precision=args.precision,
        )
    except (MaskModelError, LandmarksUnavailableError, RuntimeUnavailable) as error:
        print(f"p2c cartoonize: {error}", file=sys.stderr)
        return None
    except (OSError, ValueError, DownloadError) as error:
        print(f"p2c cartoonize: cannot load the weights: {error}", file=sys.stderr)
        return None
