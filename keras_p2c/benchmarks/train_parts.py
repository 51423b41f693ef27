"""Where a training step's time goes: each network's forward and forward+backward, timed on its own.

One training step on TensorFlow makes 6 generator forward+backward passes (generator update; the
discriminator update reuses the first two translations, so it runs no generator of its own), 12
discriminator forward+backward passes (8 in the discriminator update, 4 in the generator update, half of
them global) and 4 Face-ID passes. `estimate_s` adds these up, so it can be set beside the measured step
(`--what train`). A plain generator forward is timed too, for reference (the JAX step still runs two).
TensorFlow backend (`tf.function`, `GradientTape`).
"""

import keras
import numpy as np

from keras_p2c.benchmarks.timing import time_repeated
from keras_p2c.benchmarks.train import POLICIES
from keras_p2c.models import Discriminator, FaceFeatures, Generator

# How often one training step runs each part (see the module docstring).
STEP_COUNTS = {
    "generator_forward": 0,
    "generator_forward_backward": 6,
    "global_discriminator_forward_backward": 6,
    "local_discriminator_forward_backward": 6,
    "face_id_forward_backward": 4,
}


def _forward_backward(network, x, outputs, jit_compile=False):
    """A compiled pass through `network` in training mode and back to its weights and to `x`.

    `outputs`: indices of the outputs the dummy loss sums (None: the single output). The function
    returns a sum over every gradient: returning fewer would let graph pruning skip the gradients
    that are not returned (the weights' gradients are most of the backward pass).
    """
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            results = network(x, training=True)
            chosen = [results] if outputs is None else [results[i] for i in outputs]
            loss = sum(tf.reduce_mean(tf.cast(result, tf.float32)) for result in chosen)
        gradients = tape.gradient(loss, [x] + network.trainable_variables)
        return tf.add_n([tf.reduce_sum(tf.cast(gradient, tf.float32)) for gradient in gradients])

    return step


def run(batch=1, size=256, precision="float32", repeats=5, jit_compile=False):
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError("The train-step breakdown runs on the TensorFlow backend (--backend tensorflow).")
    import tensorflow as tf

    policy = POLICIES[precision]
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    generator = Generator(ngf=32, img_size=size, dtype=policy)
    global_discriminator = Discriminator(ndf=32, n_layers=7, dtype=policy)
    local_discriminator = Discriminator(ndf=32, n_layers=5, dtype=policy)
    face_features = FaceFeatures(dtype=policy)
    parts = {
        "generator_forward": tf.function(lambda: generator(x, training=True)[0], jit_compile=jit_compile),
        "generator_forward_backward": _forward_backward(generator, x, (0, 1), jit_compile),
        "global_discriminator_forward_backward": _forward_backward(global_discriminator, x, (0, 1), jit_compile),
        "local_discriminator_forward_backward": _forward_backward(local_discriminator, x, (0, 1), jit_compile),
        # Frozen: the gradient only flows through it to the images.
        "face_id_forward_backward": _forward_backward(face_features, x, None, jit_compile),
    }
    seconds = {}
    for name, function in parts.items():
        seconds[name] = time_repeated(lambda function=function: np.asarray(function()), repeats)["min_s"]
    estimate = sum(STEP_COUNTS[name] * value for name, value in seconds.items())
    return {
        "figure": "train_step_parts",
        "batch": batch,
        "size": size,
        "precision": precision,
        "parts_min_s": seconds,
        "step_counts": STEP_COUNTS,
        "estimate_s": estimate,
        "share": {name: STEP_COUNTS[name] * value / estimate for name, value in seconds.items()},
    }
