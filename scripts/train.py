"""Trains the Photo2Cartoon GAN (the same as `p2c train`).

    python scripts/train.py --smoke                                   # tiny synthetic run, seconds on a CPU
    python scripts/train.py --config configs/photo2cartoon.yaml --data-root DATA --output-dir runs/p2c \
        --face-id-weights model_mobilefacenet.pth [--set training.batch_size=4 ...]

Running again with the same --output-dir resumes from its last backup.
"""

import argparse
import sys


def main(argv=None):
    from keras_p2c.training import train_command

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    train_command.add_arguments(parser)
    return train_command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
