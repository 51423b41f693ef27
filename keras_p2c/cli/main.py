"""The `p2c` command: one sub-command per job, each implemented in its own module of `keras_p2c.cli`.

Each module named in `COMMANDS` defines `add_arguments(parser)` and `run(args) -> int` (the exit
status). A module is imported only when its command runs, so `p2c --help` stays fast and a missing
optional dependency of one command (e.g. FastAPI for `serve`) does not break the others.

    p2c cartoonize photo.jpg -o out/          # or: python -m keras_p2c.cli cartoonize ...
"""

import argparse
import importlib
import os
import sys

from keras_p2c import __version__
from keras_p2c.cli.quiet import quiet_opencv, quiet_tensorflow

# Commands that do not need TensorFlow at all (their start-up is not delayed by a quiet import of it).
WITHOUT_TENSORFLOW = ("client",)

# name → (module, one-line help shown by `p2c --help`)
COMMANDS = {
    "convert": ("keras_p2c.cli.convert", "convert an official Photo2Cartoon checkpoint (.pt or .pdparams) to Keras"),
    "train": (
        "keras_p2c.cli.train",
        "train the Photo2Cartoon GAN from a YAML config (resumes from the run folder's backup)",
    ),
    "cartoonize": ("keras_p2c.cli.cartoonize", "turn portrait photos into cartoons (files, folders or glob patterns)"),
    "prepare-dataset": (
        "keras_p2c.cli.prepare_dataset",
        "prepare a training set: photos → aligned, masked 256×256 face crops in trainA/ and testA/ (resumable)",
    ),
    "export": (
        "keras_p2c.cli.export",
        "export the generator as a TF Serving SavedModel (new numeric version under saved_models/<name>/)",
    ),
    "serve": (
        "keras_p2c.cli.serve",
        "serve saved_models/<name> over TF Serving's REST API (newest version, new versions picked up)",
    ),
    "client": (
        "keras_p2c.cli.client",
        "cartoonize an aligned face image through a TF Serving REST endpoint (real TF Serving or p2c serve)",
    ),
    "evaluate": (
        "keras_p2c.cli.evaluate",
        "is this training any good? FID and KID against real cartoons, identity similarity to the photos",
    ),
    "benchmark": (
        "keras_p2c.cli.benchmark",
        "measure a workload (generator, train, data, serve, ...): one JSON per run under benchmarks/results/",
    ),
}


class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to every option's help that does not state its default already."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(commands=None):
    """The `p2c` parser; the arguments of `commands` (names; `None`: all) are added, importing their modules."""
    parser = argparse.ArgumentParser(prog="p2c", description="Portrait photo to cartoon (Photo2Cartoon) in Keras 3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (keras-p2c)")
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's start-up and C++ log lines (hidden by default)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=help_text, description=help_text, formatter_class=_DefaultsHelpFormatter
        )
        if commands is None or name in commands:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    """Runs `p2c` with `argv` (default: the process's arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    # The top-level parser has no options but --help, so the first other word names the command.
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser([command] if command in COMMANDS else []).parse_args(argv)
    if getattr(args, "backend", None):
        # Keras reads it once, when first imported, and the quiet TensorFlow import below imports Keras.
        os.environ["KERAS_BACKEND"] = args.backend
    if args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    elif args.command not in WITHOUT_TENSORFLOW:
        quiet_opencv()
        quiet_tensorflow()
    return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
