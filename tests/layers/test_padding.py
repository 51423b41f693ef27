import numpy as np
import pytest

from keras_p2c.layers import ReflectionPadding2D
from tests.testing import run_layer_test


def test_reflection_padding_layer():
    run_layer_test(ReflectionPadding2D, {"padding": 2}, (2, 5, 6, 3), (2, 9, 10, 3), 0)


def test_reflection_padding_matches_numpy_reflect():
    x = np.arange(2 * 4 * 5 * 3, dtype="float32").reshape(2, 4, 5, 3)
    expected = np.pad(x, [(0, 0), (3, 3), (3, 3), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(ReflectionPadding2D(3)(x), expected)


def test_negative_padding_is_refused():
    with pytest.raises(ValueError, match="Received: padding=-1"):
        ReflectionPadding2D(-1)
