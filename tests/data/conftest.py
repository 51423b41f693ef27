"""A data set root whose images name their files (the image helpers are in tests/helpers/images.py)."""

import pytest

from tests.helpers.images import constant_image, write_png


@pytest.fixture
def indexed_root(tmp_path):
    """trainA and trainB with 6 constant images each, grey level 10 + 40·i, so each output names its file."""
    for folder in ("trainA", "trainB", "testA", "testB"):
        for index in range(6):
            write_png(tmp_path / folder / f"{index:02d}.png", constant_image(10 + 40 * index))
    return tmp_path
