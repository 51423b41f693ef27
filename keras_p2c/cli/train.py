"""`p2c train`: train the Photo2Cartoon GAN from a YAML config (resumes when the run folder has a backup)."""

import sys
from pathlib import Path

from keras_p2c.training.names import PRECISIONS, STRATEGIES

# The configs ship beside the package in a source checkout (`pip install -e .`).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def add_arguments(parser):
    parser.add_argument("--config", help="YAML config (default: configs/photo2cartoon.yaml, the reference's values)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run on a synthetic data set (configs/smoke.yaml): checks the whole loop in seconds on a CPU",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set training.batch_size=4 --set optimizer.decay_start=null",
    )
    parser.add_argument("--data-root", help="data set folder with trainA/ and trainB/ (data.root)")
    parser.add_argument("--output-dir", help="run folder; an existing one is resumed (output_dir)")
    parser.add_argument("--iterations", type=int, help="training steps in all (training.iterations)")
    parser.add_argument("--batch-size", type=int, help="global batch size (training.batch_size)")
    parser.add_argument("--precision", choices=PRECISIONS, help="dtype policy")
    parser.add_argument("--strategy", choices=STRATEGIES, help="device strategy")
    parser.add_argument("--init-from", help="photo2cartoon_weights.pt to start from (all six networks)")
    parser.add_argument("--face-id-weights", help="model_mobilefacenet.pth (InsightFace_Pytorch) for the Face-ID loss")
    parser.add_argument(
        "--no-face-id-ok",
        action="store_true",
        help="without --face-id-weights, turn the Face-ID term off with a warning instead of stopping",
    )


def config_from_args(args):
    """The `TrainConfig` the arguments describe: the file, then `--set`, then the direct flags."""
    from keras_p2c.training.config import ConfigError, load_config  # Keras: only once the command runs

    if args.smoke and args.config:
        raise ConfigError("--smoke selects configs/smoke.yaml; give either --smoke or --config, not both.")
    path = args.config
    if args.smoke or path is None:
        path = CONFIG_DIR / ("smoke.yaml" if args.smoke else "photo2cartoon.yaml")
        if not path.is_file():
            raise ConfigError(f"{path} not found (the configs/ folder of a source checkout); pass --config FILE.")
    flags = {
        "data.root": args.data_root,
        "output_dir": args.output_dir,
        "training.iterations": args.iterations,
        "training.batch_size": args.batch_size,
        "precision": args.precision,
        "strategy": args.strategy,
        "init_from": args.init_from,
        "face_id_weights": args.face_id_weights,
        "allow_no_face_id": True if args.no_face_id_ok else None,
    }
    overrides = list(args.overrides)
    # Values go through YAML like --set's; quoting keeps paths such as `yes` or `1e5` strings.
    overrides += [f"{key}={_yaml_scalar(value)}" for key, value in flags.items() if value is not None]
    return load_config(path, overrides)


def run(args):
    from keras_p2c.training.config import ConfigError
    from keras_p2c.training.run import TrainingSetupError, train

    try:
        config = config_from_args(args)
        train(config)
    except (ConfigError, TrainingSetupError) as error:
        print(f"p2c train: {error}", file=sys.stderr)
        return 2
    return 0


def _yaml_scalar(value):
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value).lower() if isinstance(value, bool) else str(value)
