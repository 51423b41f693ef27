"""Training across machines for real: two `MultiWorkerMirroredStrategy` workers on 127.0.0.1.

Each worker is a separate process with its own `TF_CONFIG` (free local ports, CPU), running the smoke
configuration with a global batch of 2 (one image pair per worker). The checks: both workers end with the
same weights, the same as one process with the same global batch and data order (mirrored over two
logical CPUs: equal; on one device: the same losses); the chief alone writes the run folder; and a
cluster that loses a worker resumes from the chief's backup when both are started again.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keras_p2c.training.backup import read_backup_metadata
from tests.helpers.backups import saved_weights

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 1200  # seconds for one run of the cluster (2 cores shared by two workers building their graphs)


def overrides(run_dir, steps, period, eager=False):
    return [
        f"output_dir={run_dir}", f"training.iterations={steps}", f"logging.checkpoint_every={period}",
        f"optimizer.decay_start={steps // 2}", "training.batch_size=2", "logging.eval_every=0", "data.seed=0",
        f"logging.export_every={period}", "logging.sample_every=1000", "logging.log_every=1000",
        f"training.run_eagerly={'true' if eager else 'false'}",
    ]  # fmt: skip


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(weights_out, settings, tf_config=None, replicas=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    if replicas:
        env["P2C_TEST_CPU_REPLICAS"] = str(replicas)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    command = [sys.executable, "-m", "tests.helpers.train_worker", str(weights_out), *settings]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_cluster(tmp_path, tag, settings):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    return [
        start(tmp_path / f"{tag}-worker{index}.weights.h5", settings,
              {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        for index in range(2)
    ]  # fmt: skip


def finish(process):
    """The worker's summary line; fails with its output if it did not end well within the bound."""
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, output[-4000:]
    return json.loads(output.strip().splitlines()[-1])


SUMMARY = {"initial_step": 0, "g_optimizer": 4, "d_optimizer": 4}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 4 steps of global batch 2 from the same seed, a backup after each: a two-worker cluster,
    one process mirroring over two logical CPUs (the same per-replica batches of 1), and one process on one
    device (batches of 2). Steps run eagerly, with no one-off graph build: 2 cores, 4 processes."""
    tmp_path = tmp_path_factory.mktemp("multi_worker")
    cluster = start_cluster(tmp_path, "cluster", overrides(tmp_path / "cluster", 4, 1, eager=True))
    summaries = {f"worker{index}": finish(process) for index, process in enumerate(cluster)}
    mirrored = start(tmp_path / "mirrored.weights.h5", overrides(tmp_path / "mirrored", 4, 1, eager=True),
                     replicas=2)  # fmt: skip
    summaries["mirrored"] = finish(mirrored)
    single = start(tmp_path / "single.weights.h5", overrides(tmp_path / "single", 4, 1, eager=True))
    summaries["single"] = finish(single)
    return tmp_path, summaries


def max_difference(first, second):
    assert first.keys() == second.keys() and len(first) > 1000
    return max(float(np.max(np.abs(first[k].astype(np.float64) - second[k]), initial=0.0)) for k in first)


def test_both_workers_end_with_the_same_weights(runs):
    tmp_path, summaries = runs
    for name in ("worker0", "worker1"):
        assert {k: summaries[name][k] for k in SUMMARY} == SUMMARY
    chief = saved_weights(tmp_path / "cluster-worker0.weights.h5")
    worker = saved_weights(tmp_path / "cluster-worker1.weights.h5")
    # The same all-reduced gradients applied to the same weights on the same CPU: exactly equal.
    assert max_difference(chief, worker) == 0.0


def test_cluster_equals_one_machine_with_the_same_global_batch(runs):
    tmp_path, summaries = runs
    chief = saved_weights(tmp_path / "cluster-worker0.weights.h5")
    mirrored = saved_weights(tmp_path / "mirrored.weights.h5")
    assert {k: summaries["mirrored"][k] for k in SUMMARY} == SUMMARY
    # Two workers and two devices of one process run the same per-replica batches through the same kernels
    # and sum the same two gradients: the weights and both optimisers' moments are equal (measured).
    assert max_difference(chief, mirrored) == 0.0
    assert summaries["worker0"]["losses"] == summaries["mirrored"]["losses"]


def test_cluster_trains_like_one_device_with_batch_two(runs):
    _, summaries = runs
    # One device computes batches of 2 with other kernels than two replicas of 1: the untrained smoke
    # generator's outputs differ by ~7e-5 between the two (instance norms of near-constant maps amplify
    # round-off), and Adam turns such gradient differences on near-zero gradients into ±lr steps, so the
    # weights are not compared; each step's losses are (measured: 3e-7 relative on the first step, 1e-4 on
    # the second).
    cluster, single = summaries["worker0"]["losses"], summaries["single"]["losses"]
    for name in ("d_loss", "g_loss"):
        assert cluster[name][0] == pytest.approx(single[name][0], rel=1e-5)
        assert cluster[name] == pytest.approx(single[name], rel=1e-2)


def test_the_chief_alone_writes_the_run_folder(runs):
    tmp_path, _ = runs
    run_dir = tmp_path / "cluster"
    backup = run_dir / "backup"
    assert read_backup_metadata(backup)["epoch"] == 4
    assert sorted(p.name for p in backup.iterdir()) == [
        "epoch-0000003.weights.h5", "epoch-0000004.weights.h5", "training_metadata.json",
    ]  # fmt: skip
    exports = sorted(p.name for p in (run_dir / "export").iterdir())
    assert exports == ["genA2B.keras"] + [f"genA2B_step{step:07d}.keras" for step in range(1, 5)]
    assert len(list((run_dir / "logs").glob("events.out.tfevents.*"))) == 1
    # Nothing of the worker's anywhere in the run folder (its synthetic data lived in a temporary folder).
    names = {part for path in run_dir.rglob("*") for part in path.relative_to(run_dir).parts}
    assert not any("worker" in name for name in names), names


def test_losing_a_worker_then_restarting_both_resumes_from_the_backup(tmp_path):
    run_dir = tmp_path / "run"
    settings = overrides(run_dir, 6, 2, eager=True)
    cluster = start_cluster(tmp_path, "first", settings)
    deadline = time.time() + TIMEOUT
    while (read_backup_metadata(run_dir / "backup") or {}).get("epoch", 0) < 1:
        assert all(p.poll() is None for p in cluster), [p.communicate()[0][-3000:] for p in cluster]
        assert time.time() < deadline, "no backup was written"
        time.sleep(0.05)
    cluster[1].send_signal(signal.SIGKILL)
    cluster[1].wait(60)
    # The chief notices the lost peer and stops by itself (its collectives fail); bound the wait.
    try:
        cluster[0].communicate(timeout=300)
    except subprocess.TimeoutExpired:
        cluster[0].kill()
        cluster[0].communicate()
        pytest.fail("the chief did not stop within 300 s of losing its peer")
    assert cluster[0].returncode != 0
    backed_up = read_backup_metadata(run_dir / "backup")["epoch"]
    assert backed_up >= 1

    summaries = [finish(process) for process in start_cluster(tmp_path, "again", settings)]
    for summary in summaries:
        assert {k: summary[k] for k in SUMMARY} == {"initial_step": backed_up * 2, "g_optimizer": 6, "d_optimizer": 6}
    again = [saved_weights(tmp_path / f"again-worker{index}.weights.h5") for index in range(2)]
    assert max_difference(*again) == 0.0
