"""One training step of the full GAN (D update + G update, every loss term, Face-ID on) on the current backend.

The figure the reference's `train_step_bs1_s` is compared with: random weights, the released
architecture (ngf = ndf = 32, light generators, 7- and 5-layer discriminators), a random MobileFaceNet
for the Face-ID term, the reference optimisers. The first call (graph tracing / XLA compilation) is
reported separately as `compile_s`; `min_s` / `median_s` are steady-state steps.
"""

import time

import keras
import numpy as np

from keras_p2c.benchmarks.timing import time_repeated
from keras_p2c.models import FaceFeatures, Photo2CartoonGAN

POLICIES = {"float32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def build_gan(size, precision="float32", face_id=True, jit_compile=False):
    """A compiled Photo2CartoonGAN at `size`² with the reference optimisers (and random Face-ID weights)."""
    policy = POLICIES[precision]
    face_features = FaceFeatures(dtype=policy) if face_id else None
    gan = Photo2CartoonGAN(img_size=size, face_features=face_features, dtype=policy)
    gan.compile(jit_compile=jit_compile)
    return gan


def peak_memory_gib():
    """Peak accelerator memory of device 0 in GiB (None on a CPU or where the backend does not say)."""
    try:
        if keras.backend.backend() == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            peak = stats.get("peak_bytes_in_use")
        else:
            import tensorflow as tf

            if not tf.config.list_physical_devices("GPU"):
                return None
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    except (RuntimeError, ValueError, AttributeError):
        return None
    return None if peak is None else peak / 2**30


def run(batch=1, size=256, precision="float32", repeats=5, jit_compile=False, face_id=True):
    rng = np.random.default_rng(0)
    real_A = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    real_B = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    gan = build_gan(size, precision, face_id=face_id, jit_compile=jit_compile)

    start = time.perf_counter()
    gan.train_on_batch(real_A, real_B)
    compile_s = time.perf_counter() - start

    def step():
        logs = gan.train_on_batch(real_A, real_B, return_dict=True)
        float(logs["g_loss"])  # waits for the device

    timing = time_repeated(step, repeats, warmup=1)
    return {
        "figure": "train_step",
        "batch": batch,
        "size": size,
        "precision": precision,
        "jit_compile": jit_compile,
        "face_id": face_id,
        "compile_s": compile_s,
        **timing,
        "image_pairs_per_s": batch / timing["min_s"],
        "peak_memory_gib": peak_memory_gib(),
    }
