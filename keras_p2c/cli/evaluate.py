"""`p2c evaluate GENERATED REAL`: is this training any good? FID, KID and identity similarity, as a report."""

import sys


def add_arguments(parser):
    add = parser.add_argument
    add("generated", help="folder of generated cartoons (e.g. the output of p2c cartoonize on the test photos)")
    add("real", help="folder of real cartoons (e.g. the data set's testB/)")
    add("--photos", help="folder of the aligned photos the cartoons come from (p2c cartoonize --save-aligned)")
    add("--face-id-weights", help="model_mobilefacenet.pth (InsightFace_Pytorch): with --photos, identity similarity")
    add(
        "--inception-weights",
        default="imagenet",
        help="InceptionV3 weights: imagenet (downloaded once into the cache) or the path of the .h5 file",
    )
    add("--input-size", type=int, default=299, help="InceptionV3 input size (the FID convention; at least 75)")
    add("-o", "--output", default="evaluation", help="folder for report.json and pairs.png")
    add("--batch-size", type=int, default=32, help="images per forward pass")
    add("--kid-subsets", type=int, default=100, help="number of KID subsets")
    add("--kid-subset-size", type=int, help="images per set in a KID subset (default: min(1000, half the smaller set))")
    add("--quiet", action="store_true", help="no progress bars")


def run(args):
    from keras_p2c.evaluation import EvaluationError, InceptionWeightsError, evaluate

    try:
        report = evaluate(
            args.generated,
            args.real,
            photos_dir=args.photos,
            face_id_weights=args.face_id_weights,
            inception_weights=args.inception_weights,
            output_dir=args.output,
            batch_size=args.batch_size,
            input_size=args.input_size,
            progress=not args.quiet,
            kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size,
        )
    except (EvaluationError, InceptionWeightsError, OSError, ValueError) as error:
        print(f"p2c evaluate: {error}", file=sys.stderr)
        return 1
    kid = report["kid"]
    line = f"p2c evaluate: FID {report['fid']:.2f}, KID {kid['mean']:.4f} ± {kid['standard_error']:.4f}"
    identity = report.get("identity_similarity")
    if identity:
        line += f", identity similarity {identity['mean']:.3f} over {len(identity['pairs'])} pair(s)"
    print(f"{line} -> {', '.join(str(path) for path in report.get('outputs', {}).values())}")
    return 0
