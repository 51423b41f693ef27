import time

import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.data.throughput import count_images, pipeline_throughput


def test_counts_every_image_of_a_pair_batch():
    element = (tf.zeros((4, 8, 8, 3)), tf.zeros((4, 8, 8, 3)))
    assert count_images(element) == 8


def test_throughput_is_images_per_second_of_the_timed_batches():
    def slow_batches():
        while True:
            time.sleep(0.02)
            yield np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8, 3), np.float32)

    spec = tf.TensorSpec((2, 8, 8, 3), tf.float32)
    dataset = tf.data.Dataset.from_generator(slow_batches, output_signature=(spec, spec))
    rate = pipeline_throughput(dataset, n_batches=5, warmup_batches=1)
    # 4 images per batch and at least 20 ms per batch: at most 200 images/s, and not absurdly fewer.
    assert 50 < rate <= 200


def test_needs_a_batch():
    with pytest.raises(ValueError, match="n_batches"):
        pipeline_throughput(tf.data.Dataset.range(3), 0)
