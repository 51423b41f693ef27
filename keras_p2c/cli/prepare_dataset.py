"""`p2c prepare-dataset PHOTOS -o ROOT`: portrait photos → aligned, masked face crops in ROOT/trainA, ROOT/testA."""

import os
import sys

# NumPy + OpenCV only (no TensorFlow): `p2c prepare-dataset --help` stays fast.
from keras_p2c.cli.face_options import add_detect_size_argument, add_landmarks_argument, detect_size
from keras_p2c.data.preparation import REPORT_NAME, SKIPPED_CSV_NAME, PrepOptions, prepare_dataset
from keras_p2c.faces.landmarks import LandmarksUnavailableError
from keras_p2c.faces.mask_model import MaskModelError
from keras_p2c.faces.prepare import FACE_POLICIES


def add_arguments(parser):
    defaults = PrepOptions(output_root="")
    add = parser.add_argument
    add("inputs", nargs="+", metavar="IN", help="folders of photos (searched recursively), files or glob patterns")
    add("-o", "--output-root", required=True, help="data set root: gets train<DOMAIN>/, test<DOMAIN>/, the reports")
    add("--domain", default=defaults.domain, help="domain letter of the folders (default A: photos)")
    add(
        "--test-fraction",
        type=float,
        default=defaults.test_fraction,
        help=f"share of photos for test<DOMAIN>/ (default {defaults.test_fraction}; by a hash of the name)",
    )
    add("--seed", type=int, default=defaults.seed, help="changes which photos go to the test split")
    add("--size", type=int, default=defaults.size, help=f"output side in pixels (default {defaults.size})")
    add("--rgba", action="store_true", help="write the unmasked crop with the mask as alpha (RGBA PNG)")
    add("--no-mask", action="store_true", help="no portrait segmentation: keep the whole square crop")
    add("--mask-model", help="portrait-segmentation .tflite (default: the one keras_p2c.faces.mask_model fetched)")
    add(
        "--faces",
        choices=FACE_POLICIES,
        default=defaults.faces,
        help="largest: the largest face of each photo (the reference); all: every face; single: skip group photos",
    )
    add(
        "--min-crop",
        type=int,
        default=defaults.min_crop,
        help=f"skip faces whose crop is under this many pixels (default {defaults.min_crop})",
    )
    add(
        "--max-outside",
        type=float,
        default=defaults.max_outside,
        help=f"skip faces whose crop lies more than this fraction outside the photo (default {defaults.max_outside})",
    )
    add(
        "--max-pixels",
        type=int,
        default=defaults.max_pixels,
        help=f"refuse larger images (default {defaults.max_pixels:,}; 0: no limit)",
    )
    add_detect_size_argument(parser)
    add_landmarks_argument(parser)
    add("--workers", type=int, default=1, help="worker processes (default 1)")
    add("--retry-skipped", action="store_true", help="process again the photos an earlier run skipped")
    add("--quiet", action="store_true", help="no progress bar")


def run(args):
    try:
        options = PrepOptions(
            output_root=args.output_root,
            domain=args.domain,
            test_fraction=args.test_fraction,
            seed=args.seed,
            size=args.size,
            rgba=args.rgba,
            mask=not args.no_mask,
            mask_model=args.mask_model,
            faces=args.faces,
            min_crop=args.min_crop,
            max_outside=args.max_outside,
            max_pixels=args.max_pixels or None,
            detect_size=detect_size(args),
            landmarks=args.landmarks,
        )
        summary = prepare_dataset(
            args.inputs, options, workers=args.workers, retry_skipped=args.retry_skipped, progress=not args.quiet
        )
    except (ValueError, MaskModelError, LandmarksUnavailableError, OSError) as error:
        print(f"p2c prepare-dataset: {error}", file=sys.stderr)
        return 2
    report = os.path.join(args.output_root, REPORT_NAME)
    print(
        f"p2c prepare-dataset: {summary['photos']} file(s): {summary['written']} written, "
        f"{summary['already_done']} already done, {summary['skipped']} skipped, {summary['failed']} failed; "
        f"{summary['faces_train']} face(s) "
        f"in train{args.domain}/, {summary['faces_test']} in test{args.domain}/. Reasons for every skip: "
        f"{report} and {SKIPPED_CSV_NAME}."
    )
    return 0 if summary["written"] + summary["already_done"] else 1
