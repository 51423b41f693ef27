"""Speed of an input pipeline on its own, without a model consuming it."""

import time

import tensorflow as tf


def count_images(element):
    """Images in one dataset element: the batch dimensions of all its tensors added up ((A, B) of 4 → 8)."""
    leaves = tf.nest.flatten(element, expand_composites=True)
    return sum(int(leaf.shape[0]) for leaf in leaves if leaf.shape.rank)


def pipeline_throughput(dataset, n_batches, warmup_batches=2):
    """Images per second that `dataset` produces when nothing else runs.

    The first `warmup_batches` (start-up, filling the prefetch buffers) are not timed. Every image tensor is
    counted, so for `(real_A, real_B)` batches the figure is twice the image *pairs* per second.

    Args:
        dataset: a `tf.data.Dataset` or `DistributedDataset` with at least `warmup_batches + n_batches` elements.
        n_batches: batches timed.
        warmup_batches: batches drawn before the clock starts.
    """
    if n_batches < 1:
        raise ValueError(f"`n_batches` must be at least 1. Received: n_batches={n_batches}")
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)
    images = 0
    start = time.perf_counter()
    for _ in range(n_batches):
        images += count_images(next(iterator))
    return images / (time.perf_counter() - start)
