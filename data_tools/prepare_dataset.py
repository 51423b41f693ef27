"""Prepares a Photo2Cartoon training set from a folder of portrait photos: the same as `p2c prepare-dataset`.

    python data_tools/prepare_dataset.py PHOTOS -o DATA [--test-fraction 0.1] [--rgba] [--no-mask] [--workers 2]

Writes DATA/trainA/*.png and DATA/testA/*.png (aligned, masked 256×256 face crops), DATA/prepare_report.json
(every photo and, for skipped ones, why) and DATA/prepare_skipped.csv. Run it again to resume.
See keras_p2c/data/preparation.py.
"""

import sys

from keras_p2c.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["prepare-dataset", *sys.argv[1:]]))
