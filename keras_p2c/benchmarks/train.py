"""One training step of the full GAN (D update + G update, every loss term, Face-ID on), against the reference's.

    p2c benchmark --what train [--batch 1] [--size 256]     # or: python scripts/benchmark.py --what train

Random weights, the released architecture (ngf = ndf = 32, light generators, 7- and 5-layer
discriminators), a random MobileFaceNet for the Face-ID term, the reference optimisers.

- `first_step_s`: from building the GAN to the end of its first finished step, what a training run
  waits before its first step (`build_s` + `compile_s`, the one-off graph build or XLA compilation).
- `min_s` / `median_s`: steady-state steps.
- `reference`: the reference PyTorch iteration (`tests/reference/torch_training_reference.py`: the same
  six networks, losses and Adam, eager, `torch.set_num_threads(os.cpu_count())`), timed in the same run,
  its steps interleaved with ours so that a change of machine load hits both; skipped (with why) outside
  a source checkout or without torch. `step_ratio_to_reference` = our min step / the reference's.
"""

import os
import time

import keras
import numpy as np

from keras_p2c.benchmarks.reference import Unavailable, reference_module
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


def reference_step(size, batch, threads=None):
    """`(step, first_s)`: one reference PyTorch iteration on a fixed random batch, and its first call's seconds.

    Raises:
        Unavailable: not a source checkout, or no torch.
    """
    reference = reference_module("reference.torch_training_reference")
    networks = reference_module("reference.torch_reference")
    import types

    import torch

    torch.set_num_threads(threads or os.cpu_count())
    torch.manual_seed(0)
    nets = {"genA2B": networks.TorchGenerator(32, 4), "genB2A": networks.TorchGenerator(32, 4)}
    for name, layers in (("disGA", 7), ("disGB", 7), ("disLA", 5), ("disLB", 5)):
        nets[name] = networks.TorchDiscriminator(32, layers)
    for net in nets.values():
        net.train()
    facenet = reference.calibrated_mobilefacenet(0)
    g_optim, d_optim = reference.reference_optimizers(nets)
    weights = types.SimpleNamespace(adv=1.0, cycle=50.0, identity=10.0, cam=1000.0, face_id=1.0)
    real_A, real_B = (torch.rand(batch, 3, size, size) * 2 - 1 for _ in range(2))

    def step():
        reference.training_step(nets, g_optim, d_optim, real_A, real_B, weights, facenet)

    start = time.perf_counter()
    step()
    return step, time.perf_counter() - start


def _interleaved(steps, repeats, warmup=1):
    """Seconds per call of each named step, called in turn, `warmup` untimed rounds first."""
    seconds = {name: [] for name in steps}
    for round_index in range(warmup + repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if round_index >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def _figures(seconds):
    return {"min_s": min(seconds), "median_s": sorted(seconds)[len(seconds) // 2], "repeats": len(seconds), "all_s": seconds}


def run(batch=1, size=256, precision="float32", repeats=5, jit_compile=False, face_id=True, reference=True):
    rng = np.random.default_rng(0)
    real_A = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    real_B = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    start = time.perf_counter()
    gan = build_gan(size, precision, face_id=face_id, jit_compile=jit_compile)
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    gan.train_on_batch(real_A, real_B)
    compile_s = time.perf_counter() - start

    def step():
        logs = gan.train_on_batch(real_A, real_B, return_dict=True)
        float(logs["g_loss"])  # waits for the device

    steps = {"ours": step}
    reference_entry = None
    if reference:
        try:
            steps["reference"], reference_first_s = reference_step(size, batch)
            reference_entry = {"first_step_s": reference_first_s, "path": "tests/reference training_step, eager"}
        except (Unavailable, ImportError) as error:
            reference_entry = {"skipped": str(error)}
    seconds = _interleaved(steps, repeats)
    timing = _figures(seconds["ours"])
    result = {
        "figure": "train_step",
        "batch": batch,
        "size": size,
        "precision": precision,
        "jit_compile": jit_compile,
        "face_id": face_id,
        "build_s": build_s,
        "compile_s": compile_s,
        "first_step_s": build_s + compile_s,
        **timing,
        "image_pairs_per_s": batch / timing["min_s"],
        "peak_memory_gib": peak_memory_gib(),
    }
    if reference_entry is not None:
        if "reference" in seconds:
            reference_entry.update(_figures(seconds["reference"]))
            result["step_ratio_to_reference"] = timing["min_s"] / reference_entry["min_s"]
            result["step_ratio_to_reference_median"] = timing["median_s"] / reference_entry["median_s"]
        result["reference"] = reference_entry
    return result
