"""Writes a tiny synthetic photo/cartoon data set (trainA/ trainB/ testA/ testB/) for smoke runs and tests.

    python data_tools/make_synthetic_dataset.py --root /tmp/p2c-synthetic [--n-train 8] [--n-test 2] [--size 72]
"""

import argparse
import sys

from keras_p2c.data.synthetic import write_synthetic_dataset


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder to write the four sub-folders into")
    parser.add_argument("--n-train", type=int, default=8, help="images per domain in trainA/ and trainB/")
    parser.add_argument("--n-test", type=int, default=2, help="images per domain in testA/ and testB/")
    parser.add_argument("--size", type=int, default=72, help="side of the square images in pixels")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        root = write_synthetic_dataset(args.root, args.n_train, args.n_test, args.size, args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {args.n_train} + {args.n_test} images per domain ({args.size}x{args.size}) under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
