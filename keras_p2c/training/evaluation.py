"""Evaluation during training: FID, KID and identity similarity every N steps, as TensorBoard scalars.

A run then shows a time-to-quality curve (`eval/fid`, `eval/kid`, `eval/id_similarity`) next to its losses:
falling FID with steady identity is training that needs more steps; rising FID or identity falling towards
that of unrelated faces is broken training. The fixed photos (testA) are translated by the current genA2B and
compared with the fixed real cartoons (testB), whose Inception features are computed once.
"""

import logging

import numpy as np

from keras_p2c.evaluation.identity import identity_similarity
from keras_p2c.evaluation.report import default_kid_subset_size
from keras_p2c.evaluation.statistics import fid, kid
from keras_p2c.training.callbacks import GlobalStepCallback

logger = logging.getLogger(__name__)


def to_uint8(images):
    """Generator-space images in [-1, 1] → uint8 RGB, truncated as the reference saves its images."""
    return np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255).astype(np.uint8)


class PeriodicEvaluation(GlobalStepCallback):
    """Every `every` steps: genA2B on `photos`, FID and KID against `cartoons`, identity similarity.

    Args:
        log_dir: TensorBoard folder (the run's `logs/`).
        steps_per_epoch: as given to `fit`.
        every: steps between evaluations.
        photos: `(N, H, W, 3)` uint8 photos (e.g. testA), translated at each evaluation.
        cartoons: `(M, H, W, 3)` uint8 real cartoons (e.g. testB).
        inception: a `keras_p2c.evaluation.InceptionFeatures`.
        face_features: the Face-ID embedder for the identity similarity, or None to leave it out.
        batch_size: images per forward pass. Defaults to 8.
        kid_subsets: KID subsets. Defaults to 50.
    """

    def __init__(self, log_dir, steps_per_epoch, every, photos, cartoons, inception, face_features=None,
                 batch_size=8, kid_subsets=50):  # fmt: skip
        super().__init__(steps_per_epoch)
        if len(photos) < 2 or len(cartoons) < 2:
            raise ValueError(
                f"Evaluation during training needs at least 2 photos and 2 cartoons. Received: {len(photos)} "
                f"and {len(cartoons)} (testA/ and testB/, else trainA/ and trainB/)."
            )
        self.log_dir = str(log_dir)
        self.every = every
        self.photos = np.asarray(photos)
        self.inception = inception
        self.face_features = face_features
        self.batch_size = batch_size
        self.kid_subsets = kid_subsets
        self.real_features = inception.features(np.asarray(cartoons), batch_size=batch_size, progress=False)
        self.history = []
        self._writer = None

    def on_steps_done(self, previous, step, logs):
        if self.crossed(previous, step, self.every):
            self.evaluate(step)

    def translate(self):
        """The current genA2B's cartoons of the fixed photos, uint8."""
        self.sync_model_state()
        size = self.model.img_size
        outputs = []
        for start in range(0, len(self.photos), self.batch_size):
            batch = self.photos[start : start + self.batch_size].astype(np.float32) / 127.5 - 1.0
            if batch.shape[1:3] != (size, size):
                raise ValueError(f"Evaluation photos must be {size}×{size}. Received: {batch.shape[1:3]}")
            outputs.append(to_uint8(self.model.genA2B.predict_on_batch(batch)[0]))
        return np.concatenate(outputs)

    def evaluate(self, step):
        """Computes and writes the figures at `step`; returns them as a dict."""
        import tensorflow as tf

        cartoons = self.translate()
        generated = self.inception.features(cartoons, batch_size=self.batch_size, progress=False)
        subset = default_kid_subset_size(len(generated), len(self.real_features))
        kid_mean, _ = kid(generated, self.real_features, subsets=self.kid_subsets, subset_size=subset, seed=step)
        figures = {"fid": fid(generated, self.real_features), "kid": float(kid_mean)}
        if self.face_features is not None:
            pairs = list(zip(self.photos, cartoons))
            scores = identity_similarity(pairs, self.face_features, batch_size=self.batch_size, progress=False)
            figures["id_similarity"] = float(scores.mean)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=step):
            for name, value in figures.items():
                tf.summary.scalar(f"eval/{name}", value)
        self._writer.flush()
        self.history.append({"step": step, **figures})
        logger.info("Evaluation at step %d: %s", step, ", ".join(f"{k} {v:.4g}" for k, v in figures.items()))
        return figures
