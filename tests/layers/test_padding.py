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


@pytest.mark.parametrize("padding", [1.0, "1", True, None])
def test_padding_must_be_an_integer(padding):
    with pytest.raises(ValueError, match=r"`padding` must be a non-negative integer\. Received: padding="):
        ReflectionPadding2D(padding)


def test_padding_is_a_public_attribute():
    assert ReflectionPadding2D(2).padding == 2


def test_reflection_needs_more_pixels_than_it_adds():
    with pytest.raises(ValueError, match=r"needs height and width above 2\. Received: input_shape=\(1, 2, 5, 3\)"):
        ReflectionPadding2D(2)(np.zeros((1, 2, 5, 3), "float32"))


def test_reflection_padding_needs_rank_four():
    with pytest.raises(ValueError, match="expects a rank-4 input"):
        ReflectionPadding2D(1)(np.zeros((1, 5, 3), "float32"))
