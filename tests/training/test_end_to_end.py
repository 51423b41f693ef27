"""The whole driver on the synthetic smoke set: script entry point, TensorBoard contents, exports, resume.

The steps run eagerly (`training.run_eagerly`): compiling the GAN step costs minutes on a 2-core CPU, more
than the handful of steps these tests run. Everything else is the normal path.
"""

import json
import runpy
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_p2c.training import TrainingSetupError, load_config, train
from keras_p2c.training.backup import read_backup_metadata
from keras_p2c.training.callbacks import GlobalStepCallback
from tests.helpers.backups import backed_up_iterations
from tests.helpers.events import assert_finite, read_events

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "smoke.yaml"
# 2 steps at batch 1 (each eager step costs seconds): two checkpoint periods (epochs) of one step, the
# decay starting after step 1.
SHORT = {
    "training.iterations": 2,
    "training.batch_size": 1,
    "training.run_eagerly": "true",
    "logging.checkpoint_every": 1,
    "logging.log_every": 1,
    "logging.sample_every": 1,
    "logging.export_every": 1,
    "logging.eval_every": 2,
    "logging.verbose": 0,
    "data.synthetic_images": 4,
    "optimizer.decay_start": 1,
}


def run_train_script(argv):
    """`python scripts/train.py ARGV`, in this process; returns the exit status."""
    saved, sys.argv = sys.argv, [str(ROOT / "scripts" / "train.py"), *argv]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        return exit_.code
    finally:
        sys.argv = saved
    raise AssertionError("scripts/train.py did not exit with a status")


def short_overrides(run_dir):
    return [f"{key}={value}" for key, value in SHORT.items()] + [f"output_dir={run_dir}"]


def test_smoke_run_through_the_script(tmp_path):
    run_dir = tmp_path / "run"
    argv = ["--smoke"]
    for override in short_overrides(run_dir)[:-1]:
        argv += ["--set", override]
    assert run_train_script(argv + ["--output-dir", str(run_dir)]) == 0

    # The resolved config is in the run folder and reads back to what ran.
    assert load_config(run_dir / "config.yaml") == load_config(SMOKE, short_overrides(run_dir))

    events = read_events(run_dir / "logs")
    for tag in ("loss/d_loss", "loss/g_loss", "loss/g_cycle_A", "loss/d_adv_GA"):
        assert [step for step, _ in events.scalars[tag]] == [1, 2], tag
        assert_finite(events.scalars[tag])
    # The smoke config's evaluation (random InceptionV3: the figures mean nothing, the curve's plumbing does).
    for tag in ("eval/fid", "eval/kid"):
        assert [step for step, _ in events.scalars[tag]] == [2], tag
        assert_finite(events.scalars[tag])
    assert "eval/id_similarity" not in events.scalars  # no Face-ID in a smoke run
    # Constant for update 1, then linear to 0 at the last update (decay_start 1 of 2).
    rates = [value for _, value in events.scalars["learning_rate/generators"]]
    np.testing.assert_allclose(rates, [1e-4, 0.0], rtol=1e-6)
    for domain in ("A", "B"):
        sheets = events.images[f"samples/{domain}"]
        assert [step for step, _ in sheets] == [1, 2]
        # Two sample rows; real, then (heatmap, image) for identity, translation and cycle: 7 columns.
        assert sheets[-1][1].shape == (2 * 64, 7 * 64, 3)
        assert sheets[-1][1].std() > 0

    export = run_dir / "export"
    expected = ["genA2B.keras", "genA2B_step0000001.keras", "genA2B_step0000002.keras"]
    assert sorted(p.name for p in export.iterdir()) == expected
    generator = keras.models.load_model(export / "genA2B.keras")
    image, cam_logit, heatmap = generator(np.zeros((1, 64, 64, 3), "float32"))
    assert image.shape == (1, 64, 64, 3) and np.isfinite(np.asarray(image)).all()

    metadata = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2  # finished: a new run on this folder has nothing left to do
    assert backed_up_iterations(run_dir) == {"g_optimizer": 2, "d_optimizer": 2}


def optimizer_state(gan):
    """Both optimisers' variables (step counters, first and second moments) and one network's weights."""
    return {
        "iterations": [int(gan.g_optimizer.iterations), int(gan.d_optimizer.iterations)],
        "optimizers": [np.array(keras.ops.convert_to_numpy(v)) for v in gan.optimizer.variables],
        "genA2B": [np.array(w) for w in gan.genA2B.get_weights()],
        "disLB": [np.array(w) for w in gan.disLB.get_weights()],
    }


class CrashAfter(GlobalStepCallback):
    """Records the state at each backup (epoch end, after BackupAndRestore saved), then fails at `step`."""

    def __init__(self, steps_per_epoch, step):
        super().__init__(steps_per_epoch)
        self.step = step
        self.at_backup = None

    def on_epoch_end(self, epoch, logs=None):
        self.at_backup = optimizer_state(self.model)

    def on_steps_done(self, previous, step, logs):
        if step == self.step:
            raise RuntimeError("simulated crash")


class Probe(GlobalStepCallback):
    """Records the state right after BackupAndRestore restored it, and the steps this `fit` ran."""

    def __init__(self, steps_per_epoch):
        super().__init__(steps_per_epoch)
        self.restored = None
        self.steps = []

    def on_train_begin(self, logs=None):
        self.restored = optimizer_state(self.model)

    def on_steps_done(self, previous, step, logs):
        self.steps.append(step)


def test_a_crashed_run_resumes_at_the_saved_step_with_the_optimiser_state(tmp_path):
    run_dir = tmp_path / "run"
    # Epochs (backups) of one step, a crash in step 2, three steps in all: each eager step costs seconds.
    # No periodic evaluation here (the smoke run above checks it): what is resumed is the training state.
    overrides = ["logging.eval_every=0", "training.iterations=2", "logging.checkpoint_every=1"]
    overrides += ["logging.sample_every=1000", "logging.export_every=0", "optimizer.decay_start=1"]
    config = load_config(SMOKE, short_overrides(run_dir) + overrides)
    crash = CrashAfter(steps_per_epoch=1, step=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, callbacks=[crash], echo=None)
    saved = crash.at_backup
    assert saved["iterations"] == [1, 1]
    assert json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"] == 1

    probe = Probe(steps_per_epoch=1)
    result = train(config, callbacks=[probe], echo=None)
    gan = result.model

    # It went on from the backup at step 1 (not from 0, not from after the crash in step 2) and stopped at 2.
    assert result.initial_step == 1
    assert probe.steps == [2]
    assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == config.training.iterations
    # What was restored is exactly what was backed up: both optimisers' counters and moments, the networks.
    assert probe.restored["iterations"] == [1, 1]
    for key in ("optimizers", "genA2B", "disLB"):
        assert len(probe.restored[key]) == len(saved[key])
        for before, after in zip(saved[key], probe.restored[key]):
            np.testing.assert_array_equal(after, before)
    # The moments are real state, not zeros that would trivially compare equal.
    assert sum(float(np.abs(v).sum()) for v in saved["optimizers"] if v.ndim > 0) > 0

    # TensorBoard continues at the global step: the resumed run's first scalars are at step 2.
    # (The newest file with loss scalars: the periodic evaluation writes its own event file beside them.)
    files = sorted((run_dir / "logs").glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    with_losses = [scalars for scalars in (read_events_file(p).scalars for p in files) if "loss/g_loss" in scalars]
    resumed_steps = [step for step, _ in with_losses[-1]["loss/g_loss"]]
    assert resumed_steps == [2]


def read_events_file(path):
    """`read_events` of one event file (the run folder keeps every run's)."""
    single = path.parent / f"single-{path.name}"
    single.mkdir()
    (single / path.name).symlink_to(path)
    return read_events(single)


def test_face_id_weight_without_weights_is_an_error_or_an_explicit_warning(tmp_path, capsys, caplog):
    run_dir = tmp_path / "run"
    argv = ["--smoke", "--set", "loss.face_id=1", "--output-dir", str(run_dir)]
    assert run_train_script(argv) == 2
    assert "--face-id-weights" in capsys.readouterr().err
    assert not (run_dir / "logs").exists()

    from keras_p2c.training.run import resolve_face_id

    config = load_config(SMOKE, ["loss.face_id=1", "allow_no_face_id=true"])
    with caplog.at_level("WARNING"):
        resolved = resolve_face_id(config)
    assert resolved.loss.face_id == 0 and "FACE-ID LOSS OFF" in caplog.text
    with pytest.raises(TrainingSetupError, match="not a file"):
        resolve_face_id(load_config(SMOKE, ["loss.face_id=1", f"face_id_weights={tmp_path / 'missing.pth'}"]))


def test_setup_errors_name_what_to_do(tmp_path, capsys):
    assert run_train_script(["--smoke", "--set", "training.batchsize=2"]) == 2
    assert "unknown key 'training.batchsize'" in capsys.readouterr().err
    assert run_train_script(["--config", str(SMOKE), "--set", "data.synthetic=false", "--output-dir", str(tmp_path)]) == 2
    assert "--data-root" in capsys.readouterr().err
    assert run_train_script(["--config", str(SMOKE), "--init-from", str(tmp_path / "missing.pt")]) == 2
    assert "init_from" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_smoke_config_as_shipped(tmp_path):
    """`scripts/train.py --smoke` exactly as a user runs it (compiled step; minutes on 2 CPU cores)."""
    run_dir = tmp_path / "run"
    assert run_train_script(["--smoke", "--output-dir", str(run_dir)]) == 0
    config = load_config(run_dir / "config.yaml")
    assert not config.training.run_eagerly
    assert backed_up_iterations(run_dir) == {"g_optimizer": 8, "d_optimizer": 8}
    assert [step for step, _ in read_events(run_dir / "logs").scalars["loss/g_loss"]] == [2, 4, 6, 8]
    assert (run_dir / "export" / "genA2B.keras").is_file()


@pytest.mark.slow
def test_smoke_run_on_jax(tmp_path):
    """The driver on the JAX backend (no tf.distribute; state synced back before samples and exports)."""
    import os
    import subprocess

    run_dir = tmp_path / "run"
    environment = {**os.environ, "KERAS_BACKEND": "jax"}
    command = [sys.executable, str(ROOT / "scripts" / "train.py"), "--smoke", "--output-dir", str(run_dir)]
    for override in short_overrides(run_dir)[:-1]:
        if not override.startswith("training.run_eagerly"):
            command += ["--set", override]
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "jax backend" in completed.stdout
    assert backed_up_iterations(run_dir) == {"g_optimizer": 2, "d_optimizer": 2}
    events = read_events(run_dir / "logs")
    assert [step for step, _ in events.scalars["loss/g_loss"]] == [1, 2]
    assert [step for step, _ in events.images["samples/A"]] == [1, 2]
    assert (run_dir / "export" / "genA2B.keras").is_file()
