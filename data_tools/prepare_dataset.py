"""Prepares a Photo2Cartoon training set from a folder of portrait photos (same as `p2c prepare-dataset`).

    python data_tools/prepare_dataset.py PHOTOS -o DATA [--test-fraction 0.1] [--rgba] [--no-mask] [--workers 2]

Writes DATA/trainA/*.png and DATA/testA/*.png (aligned, masked 256×256 face crops), DATA/prepare_report.json
(every photo and, for skipped ones, why) and DATA/prepare_skipped.csv. Run it again to resume.
See keras_p2c/dataset_prep.py.
"""

import argparse
import sys


def main(argv=None):
    from keras_p2c import dataset_prep_command

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dataset_prep_command.add_arguments(parser)
    return dataset_prep_command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
