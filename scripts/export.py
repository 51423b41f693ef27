"""Export the generator for TF Serving: the same as `p2c export` (see `p2c export --help`)."""

import sys

from keras_p2c.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
