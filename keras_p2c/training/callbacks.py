"""Keras callbacks of a training run: TensorBoard summaries and generator exports, both keyed by the global step.

A run is `fit(epochs=iterations / checkpoint_every, steps_per_epoch=checkpoint_every)`: one Keras epoch is one
checkpoint period, so `keras.callbacks.BackupAndRestore(save_freq="epoch")` saves the full state at exactly the
steps a resumed run restarts from (Keras restores the epoch, not a position inside one). The global step is
therefore `epoch · steps_per_epoch + batch + 1`, which these callbacks compute the same way in a fresh and in a
resumed run.
"""

import logging
from pathlib import Path

import keras
import numpy as np

from keras_p2c.atomic import atomic_path

logger = logging.getLogger(__name__)


class GlobalStepCallback(keras.callbacks.Callback):
    """Base class: knows the global step (steps done, counting the epochs a resumed run skipped).

    Args:
        steps_per_epoch: steps per Keras epoch (the `steps_per_epoch` given to `fit`).
    """

    def __init__(self, steps_per_epoch):
        super().__init__()
        if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
            raise ValueError(f"`steps_per_epoch` must be a positive integer. Received: {steps_per_epoch!r}")
        self.steps_per_epoch = steps_per_epoch
        self._epoch = 0
        self._last_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._last_step = epoch * self.steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch * self.steps_per_epoch + batch + 1
        previous, self._last_step = self._last_step, step
        self.on_steps_done(previous, step, logs or {})

    def on_steps_done(self, previous, step, logs):
        """Called after every compiled call with the global step before and after it."""

    def sync_model_state(self):
        """Makes the model's variables current before reading them mid-epoch.

        The JAX trainer keeps the training state outside the model's variables during an epoch (and frees
        their old values); `jax_state_sync` writes it back. Other backends update the variables in place.
        """
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    @staticmethod
    def crossed(previous, step, every):
        """Whether a multiple of `every` lies in (previous, step] (exact with `steps_per_execution` > 1 too)."""
        return bool(every) and step // every > previous // every


class TensorBoardSummaries(GlobalStepCallback):
    """Loss scalars, learning rates and sample sheets written with `tf.summary`, at the global step.

    Scalars are the mean of each logged metric over the steps since the last write: Keras reports each metric
    as its mean since the start of the epoch, and the mean over an interval is recovered from two of those
    (exact for metrics that average one value per step, as the GAN's loss trackers do).

    Args:
        log_dir: folder for the event files (TensorBoard's `--logdir`).
        steps_per_epoch: as given to `fit`.
        log_every: steps between scalar writes.
        sample_every: steps between sample sheets (0: none).
        learning_rates: callable `step → {name: learning rate}` giving the rates the update of `step`
            (1-based) used.
        sample_sheets: callable returning `{name: (height, width, 3) picture in [0, 1]}` (the fixed sample
            batch translated by the current networks); `None` for no pictures.
    """

    def __init__(self, log_dir, steps_per_epoch, log_every, sample_every=0, learning_rates=None, sample_sheets=None):
        super().__init__(steps_per_epoch)
        self.log_dir = str(log_dir)
        self.log_every = log_every
        self.sample_every = sample_every
        self.learning_rates = learning_rates
        self.sample_sheets = sample_sheets
        self._writer = None
        self._means_at_last_write = {}
        self._epoch_step_at_last_write = 0

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        # Keras resets the metrics at every epoch start; so does the interval bookkeeping.
        self._means_at_last_write = {}
        self._epoch_step_at_last_write = 0

    def on_steps_done(self, previous, step, logs):
        if self.crossed(previous, step, self.log_every):
            self._write_scalars(step, logs)
        if self.sample_sheets is not None and self.crossed(previous, step, self.sample_every):
            self.write_samples(step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def _write_scalars(self, step, logs):
        import tensorflow as tf

        count = step - self._epoch * self.steps_per_epoch  # steps averaged into the epoch means so far
        since = self._epoch_step_at_last_write
        means = {name: float(value) for name, value in logs.items() if np.ndim(value) == 0}
        with self._writer.as_default(step=step):
            for name, mean in means.items():
                before = self._means_at_last_write.get(name, 0.0)
                tf.summary.scalar(f"loss/{name}", (count * mean - since * before) / (count - since))
            for name, value in (self.learning_rates(step) if self.learning_rates else {}).items():
                tf.summary.scalar(f"learning_rate/{name}", value)
        self._writer.flush()
        self._means_at_last_write = means
        self._epoch_step_at_last_write = count

    def write_samples(self, step):
        """Writes the sample sheets at `step` (also usable outside `fit`)."""
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        if self.model is not None:
            self.sync_model_state()
        with self._writer.as_default(step=step):
            for name, sheet in self.sample_sheets().items():
                tf.summary.image(f"samples/{name}", np.asarray(sheet, np.float32)[None], max_outputs=1)
        self._writer.flush()


class GeneratorExport(GlobalStepCallback):
    """Saves one network of the model as a `.keras` file every `every` steps and when training ends.

    Files: `<directory>/<name>_step<step>.keras` during training, `<directory>/<name>.keras` at the end. Each is
    written under a temporary name and renamed, so a crash never leaves a half-written export.

    Args:
        directory: the export folder.
        steps_per_epoch: as given to `fit`.
        every: steps between exports (0: only the final one).
        network: callable `model → keras.Model` to export (e.g. `lambda gan: gan.genA2B`).
        name: file name stem.
    """

    def __init__(self, directory, steps_per_epoch, every, network, name="genA2B"):
        super().__init__(steps_per_epoch)
        self.directory = Path(directory)
        self.every = every
        self.network = network
        self.name = name
        self.exported = []

    def on_steps_done(self, previous, step, logs):
        if self.crossed(previous, step, self.every):
            self.export(f"{self.name}_step{step:07d}.keras")

    def on_train_end(self, logs=None):
        self.export(f"{self.name}.keras")

    def export(self, filename):
        """Saves the network to `directory/filename` atomically; returns the path."""
        path = self.directory / filename
        self.sync_model_state()
        with atomic_path(path) as temporary:  # the temporary name keeps `.keras` for Keras
            self.network(self.model).save(temporary)
        self.exported.append(path)
        logger.info("Exported %s", path)
        return path
