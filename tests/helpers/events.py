"""Reads TensorBoard event files back (scalars and images), to check what a run wrote."""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class Events:
    scalars: dict  # tag → [(step, value)]
    images: dict  # tag → [(step, uint8 array)]


def read_events(log_dir):
    """Every scalar and image summary in the event files under `log_dir`, each list sorted by step."""
    scalars, images = {}, {}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == "scalars":
                    number = float(tf.make_ndarray(value.tensor))
                    scalars.setdefault(value.tag, []).append((event.step, number))
                elif plugin == "images":
                    # [width, height, encoded image, ...] as strings.
                    encoded = tf.make_ndarray(value.tensor)[2]
                    images.setdefault(value.tag, []).append((event.step, tf.io.decode_image(encoded).numpy()))
    for table in (scalars, images):
        for tag in table:
            table[tag].sort(key=lambda item: item[0])
    return Events(scalars, images)


def assert_finite(values):
    assert np.all(np.isfinite([value for _, value in values]))
