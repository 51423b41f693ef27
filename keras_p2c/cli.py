"""The `p2c` command: one sub-command per job, each implemented in its own module.

Each module named in `COMMANDS` defines `HELP` (one line), `add_arguments(parser)`
and `run(args) -> int`. Modules are imported only when their command runs, so
`p2c --help` stays fast and a missing optional dependency of one command does
not break the others.
"""

import argparse
import importlib
import sys

COMMANDS = {
    "convert": "keras_p2c.weights.convert_command",
    "train": "keras_p2c.training.train_command",
    "cartoonize": "keras_p2c.cartoonize_command",
    "prepare-dataset": "keras_p2c.dataset_prep_command",
    "export": "keras_p2c.export_command",
    "serve": "keras_p2c.serving.serve_command",
    "client": "keras_p2c.serving.client_command",
}


def _load(name):
    return importlib.import_module(COMMANDS[name])


def build_parser():
    parser = argparse.ArgumentParser(prog="p2c", description="Portrait photo to cartoon (Photo2Cartoon) in Keras 3.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = _load(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args._module.run(args)


if __name__ == "__main__":
    sys.exit(main())
