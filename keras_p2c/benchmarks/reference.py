"""The reference implementation the benchmarks measure against: `tests/reference` and `tests/helpers`.

The reference PyTorch networks and training step live with the tests (they are what the parity tests
compare with), so the benchmarks that time them run from a source checkout with the `[bench]` extra.
"""

import importlib
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


class Unavailable(Exception):
    """Something that cannot run here; its message is the reason the JSON gives."""


def reference_module(name):
    """`tests.<name>` of this source checkout (e.g. "helpers.checkpoints", "reference.torch_training_reference")."""
    if not (REPOSITORY / "tests" / "reference" / "torch_reference.py").is_file():
        raise Unavailable(
            f"the reference networks (tests/reference) are not under {REPOSITORY}: run this benchmark from a "
            "source checkout of keras-p2c (python scripts/benchmark.py ...)"
        )
    # scripts/benchmark.py puts scripts/ first on the path, not the checkout that holds tests/.
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))
    try:
        return importlib.import_module(f"tests.{name}")
    except ImportError as error:
        raise Unavailable(f"{type(error).__name__}: {error} (pip install 'keras-p2c[bench]')") from error
