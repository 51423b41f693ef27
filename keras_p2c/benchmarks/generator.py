"""Generator forward time (inference) on the current backend."""

import keras
import numpy as np

from keras_p2c.benchmarks.timing import time_repeated
from keras_p2c.benchmarks.train import POLICIES
from keras_p2c.models import Generator


def compiled_forward(generator, jit_compile):
    """A compiled inference function of the generator for the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: generator(x, training=False)[0], jit_compile=jit_compile)
    if backend == "jax":
        import jax

        trainable = [v.value for v in generator.trainable_variables]
        non_trainable = [v.value for v in generator.non_trainable_variables]

        @jax.jit
        def forward(trainable, non_trainable, x):
            outputs, _ = generator.stateless_call(trainable, non_trainable, x, training=False)
            return outputs[0]

        return lambda x: forward(trainable, non_trainable, x)
    return lambda x: generator(x, training=False)[0]


def run(batch=1, size=256, precision="float32", repeats=10, jit_compile=False, ngf=32):
    policy = POLICIES[precision]
    generator = Generator(ngf=ngf, img_size=size, dtype=policy)
    generator.build((None, size, size, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    forward = compiled_forward(generator, jit_compile)
    timing = _time(forward, x, repeats)
    return {
        "figure": "generator_forward",
        "batch": batch,
        "size": size,
        "precision": precision,
        "jit_compile": jit_compile,
        "params": generator.count_params(),
        **timing,
        "images_per_s": batch / timing["min_s"],
    }


def _time(forward, x, repeats):
    def call():
        keras.ops.convert_to_numpy(forward(x))  # waits for the device

    return time_repeated(call, repeats)
