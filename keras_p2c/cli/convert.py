"""`p2c convert`: an official checkpoint (.pt / .pdparams) → a Keras `.keras` or `.weights.h5` file."""

import sys


def add_arguments(parser):
    from keras_p2c.models.names import NETWORKS
    parser.add_argument("source", help="photo2cartoon_weights.pt (original) or photo2cartoon_genA2B_weight.pdparams")
    parser.add_argument("destination", help="output file ending in .keras (config + weights) or .weights.h5")
    parser.add_argument("--format", choices=["pt", "pdparams"], help="checkpoint format (default: read off the file)")
    parser.add_argument(
        "--network",
        default="genA2B",
        choices=NETWORKS,
        help="which network of the original checkpoint to convert (default: genA2B, photo → cartoon)",
    )


def run(args):
    from keras_p2c.images import printable_name
    from keras_p2c.weights import CheckpointError
    from keras_p2c.weights.convert import load_official_network, save_network
    from keras_p2c.weights.porting import WeightConversionError

    try:
        model = load_official_network(args.source, network=args.network, format=args.format)
        path = save_network(model, args.destination)
    except (OSError, CheckpointError, WeightConversionError, ValueError) as error:
        print(f"p2c convert: {error}", file=sys.stderr)
        return 1
    # printable_name: a source or destination named in bytes that are not UTF-8 would stop print() here.
    print(printable_name(f"{args.source} [{args.network}] → {path} ({model.count_params():,} parameters)"))
    return 0
