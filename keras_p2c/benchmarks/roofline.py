"""What the machine can do at best: GFLOP/s of a large matmul and of the generator's typical convolutions.

Sets the generator figures in context: its forward pass costs 37.3 GFLOP per 256×256 image (2 FLOP per
multiply-add), so `37.3 / matmul_gflops` seconds is a lower bound on its batch-1 time at that precision.
The convolutions are those of the full-resolution hourglasses (3×3, 8–32 channels, 256×256), which
reach a fraction of the matmul rate.
"""

import keras
import numpy as np
from keras import ops

from keras_p2c.benchmarks.timing import time_repeated

GENERATOR_GFLOP = 37.3
MATRIX_SIZE = 4096  # large enough for the matmul kernels to run at their best
DTYPES = {"float32": "float32", "bf16": "bfloat16", "fp16": "float16"}
# (height/width, input channels, output channels) of 3×3 convolutions in the hourglasses at full size.
CONVOLUTIONS = ((256, 32, 16), (256, 16, 8), (256, 8, 8), (128, 32, 16))


def _best_rate(function, flop, repeats):
    seconds = time_repeated(lambda: ops.convert_to_numpy(function()[..., :1]), repeats)["min_s"]
    return flop / seconds / 1e9


def run(batch=1, size=256, precision="float32", repeats=5, jit_compile=False):
    """`batch`, `size` and `jit_compile` are the other workloads' options; the shapes here are fixed."""
    dtype = DTYPES[precision]
    rng = np.random.default_rng(0)
    matrix = ops.cast(rng.uniform(-1, 1, (MATRIX_SIZE, MATRIX_SIZE)).astype("float32"), dtype)
    matmul = _jit(lambda: ops.matmul(matrix, matrix))
    rates = {"matmul_gflops": _best_rate(matmul, 2 * MATRIX_SIZE**3, repeats)}
    for side, c_in, c_out in CONVOLUTIONS:
        x = ops.cast(rng.uniform(-1, 1, (1, side, side, c_in)).astype("float32"), dtype)
        kernel = ops.cast(rng.uniform(-1, 1, (3, 3, c_in, c_out)).astype("float32"), dtype)
        conv = _jit(lambda x=x, kernel=kernel: ops.conv(x, kernel, padding="same"))
        rates[f"conv3x3_{c_in}to{c_out}_at_{side}_gflops"] = _best_rate(conv, 2 * side * side * 9 * c_in * c_out, repeats)
    return {
        "figure": "roofline",
        "precision": precision,
        "matmul_size": MATRIX_SIZE,
        "backend": keras.backend.backend(),
        **rates,
        "generator_lower_bound_s": GENERATOR_GFLOP / rates["matmul_gflops"],
    }


def _jit(function):
    """`function` compiled for the current backend, so the rate is not Python dispatch."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    return function
