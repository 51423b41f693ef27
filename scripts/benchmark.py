"""Benchmarks: the same as `p2c benchmark` (see `p2c benchmark --help`).

    python scripts/benchmark.py --what generator [--batch 1] [--precision float32|bf16|fp16] [--xla]
    python scripts/benchmark.py --what train --backend jax --batch 16 --precision bf16
"""

import sys

from keras_p2c.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
