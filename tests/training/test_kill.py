"""`kill -9` at any moment of a real `p2c train` run loses at most one checkpoint period.

A smoke run (64 px, synthetic data, steps run eagerly so that no one-off build slows the test) is killed
with SIGKILL after a backup exists, and again while a backup is being written; the same command then
resumes at the last complete backup, with both optimisers' step counters, and finishes.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keras_p2c.training.backup import read_backup_metadata
from tests.helpers.backups import backed_up_iterations

ROOT = Path(__file__).resolve().parents[2]
STEPS, PERIOD = 6, 2


def command(run_dir):
    overrides = [
        f"training.iterations={STEPS}", f"logging.checkpoint_every={PERIOD}", "logging.export_every=0",
        "logging.sample_every=1000", "training.run_eagerly=true",
    ]  # fmt: skip
    args = [sys.executable, "-m", "keras_p2c.cli", "train", "--smoke", "--output-dir", str(run_dir)]
    for override in overrides:
        args += ["--set", override]
    return args


def start(run_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(command(run_dir), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_when(process, condition, timeout=600):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before the kill:\n{process.stdout.read()}"
        assert time.time() < deadline, "the condition never held"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(60)
    assert process.returncode == -signal.SIGKILL


def backed_up_epoch(run_dir):
    metadata = read_backup_metadata(run_dir / "backup")
    return metadata["epoch"] if metadata else 0


def writing_a_backup(run_dir):
    folder = run_dir / "backup"
    return folder.is_dir() and backed_up_epoch(run_dir) >= 1 and any(p.name.startswith(".tmp-") for p in folder.iterdir())


def finish(run_dir):
    resumed = start(run_dir)
    output, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, output
    return output


@pytest.mark.slow
def test_kill_after_a_backup_then_during_a_backup_write_resumes_each_time(tmp_path):
    run_dir = tmp_path / "run"
    # 1. Killed between backups: resumes at the backed-up step, not at 0.
    kill_when(start(run_dir), lambda: backed_up_epoch(run_dir) >= 1)
    step = backed_up_epoch(run_dir) * PERIOD
    iterations = backed_up_iterations(run_dir)
    assert iterations == {"g_optimizer": step, "d_optimizer": step}
    # 2. Killed while the next backup is being written: the previous one must still load.
    kill_when(start(run_dir), lambda: writing_a_backup(run_dir))
    step = backed_up_epoch(run_dir) * PERIOD
    assert 0 < step < STEPS
    output = finish(run_dir)
    assert re.search(rf"resuming at step {step}\b", output), output
    assert f"step {STEPS}/{STEPS}" in output
    assert backed_up_epoch(run_dir) * PERIOD == STEPS
    assert backed_up_iterations(run_dir) == {"g_optimizer": STEPS, "d_optimizer": STEPS}
    assert not [p.name for p in (run_dir / "backup").iterdir() if p.name.startswith(".tmp-")]
