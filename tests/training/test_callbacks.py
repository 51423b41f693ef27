"""TensorBoard summaries and generator exports at the global step, on a toy model with known per-step losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.training.callbacks import GeneratorExport, TensorBoardSummaries
from tests.helpers.events import read_events


class StepCountingModel(keras.Model):
    """Reports `value` = its own 1-based step count, averaged by a Mean tracker as the GAN's losses are."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
        self.count = keras.Variable(0.0, trainable=False)
        self.tracker = keras.metrics.Mean(name="value")

    def build(self, input_shape):
        self.dense_model.build(input_shape)

    def call(self, x):
        return self.dense_model(x)

    @property
    def metrics(self):
        return [self.tracker]

    def train_step(self, data):
        self.count.assign_add(1.0)
        self.tracker.update_state(self.count)
        return {"value": self.tracker.result()}


def fit(model, callbacks, epochs, steps_per_epoch, initial_epoch=0):
    data = tf.data.Dataset.from_tensors(tf.zeros((1, 2))).repeat()
    model.fit(
        data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=0,
        initial_epoch=initial_epoch,
        shuffle=False,
    )


def make_model():
    model = StepCountingModel()
    model.build((None, 2))
    model.compile()
    return model


def test_scalars_are_interval_means_at_the_global_step(tmp_path):
    model = make_model()
    summaries = TensorBoardSummaries(
        tmp_path, steps_per_epoch=4, log_every=2, learning_rates=lambda step: {"g": 0.5 / step}
    )
    fit(model, [summaries], epochs=2, steps_per_epoch=4)
    scalars = read_events(tmp_path).scalars
    # Steps report 1, 2, ..., 8; every write is the mean of the two steps since the last one.
    assert scalars["loss/value"] == [(2, 1.5), (4, 3.5), (6, 5.5), (8, 7.5)]
    assert scalars["learning_rate/g"] == [(step, pytest.approx(0.5 / step)) for step in (2, 4, 6, 8)]


def test_a_resumed_fit_continues_the_step_count(tmp_path):
    model = make_model()
    summaries = TensorBoardSummaries(tmp_path, steps_per_epoch=4, log_every=4)
    fit(model, [summaries], epochs=3, steps_per_epoch=4, initial_epoch=2)
    assert [step for step, _ in read_events(tmp_path).scalars["loss/value"]] == [12]


def test_sample_sheets_are_written_as_images(tmp_path):
    model = make_model()
    sheet = np.linspace(0, 1, 6 * 8 * 3, dtype=np.float32).reshape(6, 8, 3)
    summaries = TensorBoardSummaries(
        tmp_path, steps_per_epoch=3, log_every=3, sample_every=3, sample_sheets=lambda: {"A": sheet}
    )
    fit(model, [summaries], epochs=2, steps_per_epoch=3)
    images = read_events(tmp_path).images
    assert [step for step, _ in images["samples/A"]] == [3, 6]
    decoded = images["samples/A"][0][1]
    assert decoded.shape == (6, 8, 3)
    np.testing.assert_allclose(decoded / 255.0, sheet, atol=1 / 255)


def test_generator_export_periodic_and_final(tmp_path):
    model = make_model()
    export = GeneratorExport(
        tmp_path / "export", steps_per_epoch=4, every=3, network=lambda m: m.dense_model, name="net"
    )
    fit(model, [export], epochs=2, steps_per_epoch=4)
    names = sorted(path.name for path in (tmp_path / "export").iterdir())
    assert names == ["net.keras", "net_step0000003.keras", "net_step0000006.keras"]
    restored = keras.models.load_model(tmp_path / "export" / "net.keras")
    np.testing.assert_allclose(restored.get_layer("d").kernel.numpy(), model.dense_model.get_layer("d").kernel.numpy())


def test_export_failure_leaves_no_partial_file(tmp_path):
    class Unsaveable:
        def save(self, path):
            open(path, "wb").write(b"partial")
            raise OSError("disk full")

    export = GeneratorExport(tmp_path, steps_per_epoch=1, every=1, network=lambda model: Unsaveable())
    with pytest.raises(OSError, match="disk full"):
        export.export("net.keras")
    assert list(tmp_path.iterdir()) == []
