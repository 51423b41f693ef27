"""`p2c convert`: an official checkpoint (.pt / .pdparams) → a Keras `.keras` or `.weights.h5` file."""

HELP = "convert an official Photo2Cartoon checkpoint (.pt or .pdparams) to Keras"


def add_arguments(parser):
    parser.add_argument("source", help="photo2cartoon_weights.pt (original) or photo2cartoon_genA2B_weight.pdparams")
    parser.add_argument("destination", help="output file ending in .keras (config + weights) or .weights.h5")
    parser.add_argument("--format", choices=["pt", "pdparams"], help="checkpoint format (default: read off the file)")
    parser.add_argument(
        "--network",
        default="genA2B",
        choices=["genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"],
        help="which network of the original checkpoint to convert (default: genA2B, photo → cartoon)",
    )


def run(args):
    import sys

    from keras_p2c.weights import CheckpointError
    from keras_p2c.weights.convert import load_official_network, save_network
    from keras_p2c.weights.porting import WeightConversionError

    try:
        model = load_official_network(args.source, network=args.network, format=args.format)
        path = save_network(model, args.destination)
    except (OSError, CheckpointError, WeightConversionError, ValueError) as error:
        print(f"p2c convert: {error}", file=sys.stderr)
        return 1
    print(f"{args.source} [{args.network}] → {path} ({model.count_params():,} parameters)")
    return 0
