"""Sample sheets: JET-coloured, min-max normalised CAM heatmaps and image grids."""

import cv2
import numpy as np
import pytest

from keras_p2c.training.samples import colour_heatmaps, image_grid, to_unit_range


def test_heatmaps_are_normalised_resized_and_jet_coloured():
    ramp = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) * 3.0 - 7.0  # any offset and scale
    pictures = colour_heatmaps(ramp, (8, 8))
    assert pictures.shape == (1, 8, 8, 3) and pictures.dtype == np.float32
    jet = cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_JET)[0, :, ::-1] / 255.0
    np.testing.assert_allclose(pictures[0, 0, 0], jet[0], atol=1e-6)  # the minimum: JET's bottom (blue)
    np.testing.assert_allclose(pictures[0, -1, -1], jet[1], atol=1e-6)  # the maximum: JET's top (red)
    # Scale and offset do not matter after the min-max normalisation.
    np.testing.assert_allclose(colour_heatmaps(ramp * 10 + 100, (8, 8)), pictures)


def test_constant_heatmap_does_not_divide_by_zero():
    pictures = colour_heatmaps(np.zeros((2, 3, 3)), (6, 6))
    assert np.isfinite(pictures).all()
    assert np.ptp(pictures.reshape(-1, 3), axis=0).max() == 0


def test_grid_layout():
    first = np.zeros((2, 4, 5, 3))
    second = np.ones((2, 4, 5, 3))
    grid = image_grid([first, second])
    assert grid.shape == (8, 10, 3)
    assert grid[:, :5].max() == 0 and grid[:, 5:].min() == 1
    with pytest.raises(ValueError, match="same shape"):
        image_grid([first, np.ones((1, 4, 5, 3))])
    np.testing.assert_allclose(to_unit_range(np.array([-2.0, -1.0, 0.0, 1.0])), [0, 0, 0.5, 1])
