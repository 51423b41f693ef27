"""Photo2CartoonGAN training on the JAX backend, run in a subprocess and reported as JSON (for test_gan_jax.py).

Keras picks its backend once per process, so the JAX checks run here, under `KERAS_BACKEND=jax`. The run
builds the torch reference case itself (random networks in the release's `.pt`, synthetic MobileFaceNet
weights, the torch first step), then trains with each network compiled on its own (`jit_compile=False`:
`gan_steps_jax` jits every network once; compiling the whole step with XLA takes minutes on a small CPU,
and the op-by-op eager step is ~10x slower per step) and records what the tests check. `test_gan_jax.py`
starts it and waits for it.

    python -m tests.models.jax_training_run OUTPUT_FOLDER      # writes OUTPUT_FOLDER/result.json
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
NETWORKS = ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB")
TIMEOUT = 1200


class JaxRun:
    """The subprocess; `result()` waits for it and returns its JSON report."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.log = open(self.folder / "log.txt", "w")
        # XLA's least optimised code: the run takes two steps, so compiling (~16 programs of the networks
        # and their gradients) costs more than the code's speed saves (measured: 133 → 105 CPU-seconds).
        flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
        env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(REPOSITORY), TF_CPP_MIN_LOG_LEVEL="2", XLA_FLAGS=flags)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.models.jax_training_run", str(self.folder)],
            cwd=REPOSITORY,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._result = None

    def result(self):
        if self._result is None:
            try:
                returncode = self.process.wait(timeout=TIMEOUT)
            finally:
                self.log.close()
            log = (self.folder / "log.txt").read_text(errors="replace")
            assert returncode == 0, f"the JAX training run failed (exit {returncode}):\n{log[-6000:]}"
            self._result = json.loads((self.folder / "result.json").read_text())
        return self._result

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self.log.closed:
            self.log.close()


def main(folder):
    import time

    started = time.perf_counter()
    seconds = {}

    def lap(name):
        # Where the run's time goes (reported in result.json, for whoever speeds the suite up next).
        seconds[name] = round(time.perf_counter() - started - sum(seconds.values()), 2)

    import keras
    import numpy as np

    from keras_p2c.models import Photo2CartoonGAN
    from keras_p2c.weights.convert import load_official_gan, load_official_networks
    from keras_p2c.weights.mobilefacenet_table import load_face_features
    from tests.reference.torch_training_reference import make_reference_case, weight_agreement

    assert keras.backend.backend() == "jax", keras.backend.backend()
    folder = Path(folder)
    lap("imports")
    case = make_reference_case(folder)
    lap("torch reference case")
    real_A, real_B, lr = case["real_A"], case["real_B"], case["lr"]
    backup_dir = str(folder / "backup")
    result = {"reference_terms": case["terms"], "lr": lr, "shape": list(real_A.shape)}

    def snapshot(variables):
        return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]

    def make_gan():
        gan = Photo2CartoonGAN(**case["options"], face_features=load_face_features(case["face_weights"]))
        gan.compile(jit_compile=False)
        return gan

    def largest_difference(first, second):
        return max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(first, second))

    # 1. The first step from the converted checkpoint, as the reference's.
    gan = make_gan()
    load_official_gan(gan, case["checkpoint"])
    lap("GAN built and loaded")
    logs = gan.train_on_batch(real_A, real_B, return_dict=True)
    lap("first step")
    result["first_step"] = {name: float(value) for name, value in logs.items()}
    after = load_official_networks(case["after"])
    networks = {name: snapshot(getattr(gan, name).weights) for name in NETWORKS}
    result["agreement"] = weight_agreement(networks, after, lr)
    result["iterations_after_first"] = [int(gan.g_optimizer.iterations), int(gan.d_optimizer.iterations)]

    # 2. A fit step with ρ and w half a step from their bounds, backed up at the end of the epoch.
    rng = np.random.default_rng(0)
    unit = [v for v in gan.generator_variables if v.name in ("rho", "w_gamma", "w_beta")]
    for variable in unit:
        variable.assign(rng.choice([lr / 2, 1 - lr / 2], size=variable.shape).astype("float32"))
    before = {name: snapshot(getattr(gan, name).weights) for name in NETWORKS + ("face_features",)}
    backup = keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False)
    history = gan.fit(real_A, real_B, batch_size=len(real_A), epochs=1, shuffle=False, verbose=0, callbacks=[backup])
    lap("fit step and backup")
    result["history"] = {name: [float(v) for v in values] for name, values in history.history.items()}
    result["iterations"] = [int(gan.g_optimizer.iterations), int(gan.d_optimizer.iterations)]
    unchanged, vectors_unchanged = [], []
    for name in NETWORKS:
        for variable, old in zip(getattr(gan, name).weights, before[name]):
            same = np.array_equal(keras.ops.convert_to_numpy(variable), old)
            if variable.trainable and same:
                unchanged.append(variable.path)
            if variable.name in ("u", "v") and variable.shape[0] > 1 and same:
                vectors_unchanged.append(variable.path)
    result["unchanged_trainable"] = unchanged
    result["unchanged_spectral_vectors"] = vectors_unchanged
    result["face_features_difference"] = largest_difference(snapshot(gan.face_features.weights), before["face_features"])
    values = np.concatenate([keras.ops.convert_to_numpy(v).ravel() for v in unit])
    result["unit_interval"] = {
        "min": float(values.min()),
        "max": float(values.max()),
        "at_zero": int(np.sum(values == 0.0)),
        "at_one": int(np.sum(values == 1.0)),
    }

    # 3. BackupAndRestore (save_weights at the end of the epoch, load_weights before training) restores
    # every weight and both optimisers into a new model.
    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.state = snapshot(self.model.optimizer.variables)

    resumed = make_gan()
    record = Record()
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir), record]
    resumed.fit(real_A, real_B, batch_size=len(real_A), epochs=1, verbose=0, callbacks=callbacks)
    result["backup_difference"] = largest_difference(record.state, snapshot(gan.optimizer.variables))
    result["restored_weights_difference"] = largest_difference(snapshot(resumed.weights), snapshot(gan.weights))
    optimizers = (resumed.g_optimizer, resumed.d_optimizer)
    result["restored_sizes"] = [len(record.state)] + [len(o.variables) for o in optimizers]
    result["restored_zero_moments"] = sum(not np.any(m) for o in optimizers for m in snapshot(o.variables[2:]))
    result["resumed_iterations"] = [int(o.iterations) for o in optimizers]
    lap("second GAN restored")

    # 4. Inference entry points.
    translated = gan.translate(real_A, real_B)
    result["translate"] = {name: list(v.shape) for name, v in translated.items()}
    lap("translate")
    predicted = gan.predict(real_A, verbose=0)
    result["predict"] = [list(t.shape) for t in predicted]
    # predict runs genA2B (its image is translate's A2B, not genB2A's A2A) with the current weights.
    result["predict_vs_A2B"] = float(np.max(np.abs(predicted[0] - np.asarray(translated["A2B"]))))
    result["predict_vs_A2A"] = float(np.max(np.abs(predicted[0] - np.asarray(translated["A2A"]))))
    lap("predict")
    result["seconds"] = seconds

    partial = folder / "result.json.partial"
    partial.write_text(json.dumps(result))
    partial.replace(folder / "result.json")


if __name__ == "__main__":
    main(sys.argv[1])
