"""`p2c export`: generator weights → `saved_models/<name>/<version>/` (TF Serving layout), or a LiteRT/ONNX file."""

import sys
from pathlib import Path

from keras_p2c.serving.export import FILE_FORMATS


def add_arguments(parser):
    parser.add_argument(
        "weights",
        nargs="?",
        help="generator weights: .keras, .weights.h5 (options read off the file), or an official .pt/.pdparams checkpoint",
    )
    parser.add_argument("--base-dir", default="saved_models", help="folder holding one sub-folder per model name")
    parser.add_argument("--name", default="photo2cartoon", help="model name (the folder TF Serving serves)")
    parser.add_argument(
        "--format",
        default="savedmodel",
        choices=["savedmodel", *FILE_FORMATS],
        help="savedmodel (TF Serving, default); litert/onnx write <base-dir>/<name>.tflite/.onnx (float input [1,256,256,3])",
    )
    parser.add_argument("--random", action="store_true", help="export an untrained generator (to try the pipeline)")
    parser.add_argument("--ngf", type=int, default=32, help="generator width for --random (default 32)")
    parser.add_argument("--n-blocks", type=int, default=4, help="residual blocks for --random (default 4)")


def run(args):
    # Keras and TensorFlow: only once the command runs.
    from keras_p2c.models import Generator
    from keras_p2c.serving.export import export_file, export_generator
    from keras_p2c.weights import CheckpointError
    from keras_p2c.weights.porting import WeightConversionError
    from keras_p2c.weights.release import load_generator

    if (args.weights is None) == (not args.random):
        print("p2c export: give a weights file, or --random for an untrained generator", file=sys.stderr)
        return 2
    try:
        if args.random:
            generator = Generator(ngf=args.ngf, n_blocks=args.n_blocks)
            generator.build((None, 256, 256, 3))
        else:
            generator = load_generator(args.weights, progress=False)
        if args.format == "savedmodel":
            path = export_generator(generator, base_dir=args.base_dir, name=args.name)
        else:
            path = export_file(generator, Path(args.base_dir) / (args.name + FILE_FORMATS[args.format]), args.format)
    except (OSError, ImportError, CheckpointError, WeightConversionError, ValueError, RuntimeError) as error:
        print(f"p2c export: {error}", file=sys.stderr)
        return 1
    print(f"{args.weights or 'random generator'} → {path}")
    return 0
