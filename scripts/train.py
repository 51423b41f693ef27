"""Trains the Photo2Cartoon GAN: the same as `p2c train` (see `p2c train --help`).

    python scripts/train.py --smoke                                   # tiny synthetic run, seconds on a CPU
    python scripts/train.py --config configs/photo2cartoon.yaml --data-root DATA --output-dir runs/p2c \
        --face-id-weights model_mobilefacenet.pth [--set training.batch_size=4 ...]

Running again with the same --output-dir resumes from its last backup.
"""

import sys

from keras_p2c.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
