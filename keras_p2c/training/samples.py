"""Training-sample pictures: CAM heatmaps coloured like the reference's visualiser, and image grids.

The reference's sample sheet shows, per sample, a row of the real image, each translation and, before each
translation, its generator's CAM heatmap: min-max normalised, resized to the image size and coloured with
OpenCV's JET colormap. These functions build that sheet from NumPy arrays, for TensorBoard.
"""

import cv2
import numpy as np


def to_unit_range(images):
    """Generator images in [-1, 1] → float32 in [0, 1] (clipped)."""
    return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def colour_heatmaps(heatmaps, size):
    """CAM heatmaps → RGB pictures in [0, 1]: each min-max normalised, resized (bilinear) to `size`, JET-coloured.

    Args:
        heatmaps: `(batch, h, w)` or `(batch, h, w, 1)`, any real values (the channel sum of the CAM features).
        size: `(height, width)` of the output pictures (the image size).

    Returns:
        `(batch, height, width, 3)` float32 RGB in [0, 1].
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    if heatmaps.ndim == 4 and heatmaps.shape[-1] == 1:
        heatmaps = heatmaps[..., 0]
    if heatmaps.ndim != 3:
        raise ValueError(f"Expected heatmaps of shape (batch, h, w[, 1]). Received: shape={heatmaps.shape}")
    pictures = []
    for heatmap in heatmaps:
        heatmap = heatmap - heatmap.min()
        peak = heatmap.max()
        # A constant map (e.g. all zero after a ReLU) has no range to stretch: show it as the colormap's bottom.
        heatmap = heatmap / peak if peak > 0 else heatmap
        heatmap = cv2.resize(heatmap, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        coloured = cv2.applyColorMap(np.uint8(np.clip(heatmap, 0, 1) * 255), cv2.COLORMAP_JET)
        pictures.append(cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    return np.stack(pictures)


def image_grid(columns):
    """Tiles equally shaped picture batches into one picture: one row per sample, one column per batch.

    Args:
        columns: a list of `(batch, height, width, 3)` arrays in [0, 1], left to right.

    Returns:
        `(batch·height, len(columns)·width, 3)` float32.
    """
    if not columns:
        raise ValueError("image_grid needs at least one column.")
    shapes = {np.shape(column) for column in columns}
    if len(shapes) != 1:
        raise ValueError(f"All columns of an image grid must have the same shape. Received: {sorted(shapes)}")
    rows = np.concatenate([np.asarray(column, np.float32) for column in columns], axis=2)  # side by side
    return np.concatenate(list(rows), axis=0)  # samples stacked top to bottom


def translation_sheets(outputs):
    """The reference's sample sheets from `Photo2CartoonGAN.translate` outputs, one per domain present.

    Columns, for source domain S and target T: real S, then for the identity (S→S), the translation (S→T)
    and the cycle (S→T→S) the generator's coloured CAM heatmap followed by the image.

    Args:
        outputs: the dict `translate(real_A, real_B)` returns (tensors or arrays; images in [-1, 1],
            heatmaps of any range).

    Returns:
        `{"A": sheet, "B": sheet}` (only the domains in `outputs`), each `(batch·h, 7·w, 3)` float32 in [0, 1].
    """
    sheets = {}
    for source, target in (("A", "B"), ("B", "A")):
        if f"real_{source}" not in outputs:
            continue
        real = to_unit_range(_numpy(outputs[f"real_{source}"]))
        columns = [real]
        for name in (f"{source}2{source}", f"{source}2{target}", f"{source}2{target}2{source}"):
            columns.append(colour_heatmaps(_numpy(outputs[f"heatmap_{name}"]), real.shape[1:3]))
            columns.append(to_unit_range(_numpy(outputs[name])))
        sheets[source] = image_grid(columns)
    return sheets


def _numpy(value):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), np.float32)
