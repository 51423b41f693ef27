"""`p2c convert`: an official checkpoint (.pt / .pdparams / .onnx) → a Keras `.keras` or `.weights.h5` file."""

import sys


def add_arguments(parser):
    from keras_p2c.models.names import NETWORKS
    parser.add_argument(
        "source",
        help="photo2cartoon_weights.pt (original), photo2cartoon_genA2B_weight.pdparams (PaddleGAN) "
        "or photo2cartoon_weights.onnx (original's ONNX generator)",
    )
    parser.add_argument("destination", help="output file ending in .keras (config + weights) or .weights.h5")
    parser.add_argument(
        "--format", choices=["pt", "pdparams", "onnx"], help="checkpoint format (default: read off the file)"
    )
    parser.add_argument(
        "--network",
        default="genA2B",
        choices=NETWORKS,
        help="which network of the original checkpoint to convert (default: genA2B, photo → cartoon)",
    )


def _convert_onnx(args):
    """The ONNX file's generator, checked against the graph on onnxruntime when that is installed."""
    from keras_p2c.images import printable_name
    from keras_p2c.weights.convert import generator_from_onnx
    from keras_p2c.weights.onnx_parity import ONNX_PARITY_TOLERANCE, onnx_image_difference, onnxruntime_available
    from keras_p2c.weights.porting import WeightConversionError

    model, mapping = generator_from_onnx(args.source, network=args.network)
    print(printable_name(f"{args.source}: weights found by {mapping}"))
    if not onnxruntime_available():
        print(
            "onnxruntime is not installed, so the conversion was not run against the graph "
            "(pip install 'keras-p2c[onnx]' to check it)"
        )
        return model
    difference, shape = onnx_image_difference(args.source, model)
    size = "×".join(map(str, shape))
    if difference > ONNX_PARITY_TOLERANCE:
        raise WeightConversionError(
            f"{args.source}: the converted generator differs from the ONNX graph by {difference:.3g} on a random "
            f"{size} input (tolerance {ONNX_PARITY_TOLERANCE:g}); nothing was written. "
            "The graph is not laid out the way this converter expects: please report it."
        )
    print(f"checked on onnxruntime: max |Keras − ONNX| = {difference:.2g} on a random {size} input")
    return model


def run(args):
    from keras_p2c.images import printable_name
    from keras_p2c.weights import CheckpointError
    from keras_p2c.weights.convert import load_official_network, save_network
    from keras_p2c.weights.onnx_checkpoint import looks_like_onnx
    from keras_p2c.weights.porting import WeightConversionError

    try:
        if args.format == "onnx" or (args.format is None and looks_like_onnx(args.source)):
            model = _convert_onnx(args)
        else:
            model = load_official_network(args.source, network=args.network, format=args.format)
        path = save_network(model, args.destination)
    except (OSError, CheckpointError, WeightConversionError, ValueError) as error:
        print(f"p2c convert: {error}", file=sys.stderr)
        return 1
    # printable_name: a source or destination named in bytes that are not UTF-8 would stop print() here.
    print(printable_name(f"{args.source} [{args.network}] → {path} ({model.count_params():,} parameters)"))
    return 0
