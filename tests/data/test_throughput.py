import types

import pytest
import tensorflow as tf

from keras_p2c.data import throughput
from keras_p2c.data.throughput import count_images, pipeline_throughput


def test_counts_every_image_of_a_pair_batch():
    element = (tf.zeros((4, 8, 8, 3)), tf.zeros((4, 8, 8, 3)))
    assert count_images(element) == 8


def test_throughput_is_images_per_second_of_the_timed_batches(monkeypatch):
    # A clock that reads 10 s when the timing starts and 12.5 s when it stops: the figure is the images
    # of the timed batches (not the warm-up ones) over those 2.5 s, whatever the machine's speed.
    readings = iter([10.0, 12.5])
    monkeypatch.setattr(throughput, "time", types.SimpleNamespace(perf_counter=lambda: next(readings)))
    pair = (tf.zeros((2, 8, 8, 3)), tf.zeros((2, 8, 8, 3)))
    dataset = tf.data.Dataset.from_tensors(pair).repeat()
    rate = pipeline_throughput(dataset, n_batches=5, warmup_batches=1)
    assert rate == 5 * 4 / 2.5  # 5 timed batches of 4 images (2 pairs); the warm-up batch would make it 9.6
    assert next(readings, None) is None  # the clock is read once at the start and once at the end


def test_needs_a_batch():
    with pytest.raises(ValueError, match="n_batches"):
        pipeline_throughput(tf.data.Dataset.range(3), 0)
