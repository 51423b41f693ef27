"""Crash-safe backups: a kill at any moment of a backup write leaves the previous backup loadable."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pytest

from keras_p2c.training.backup import AtomicBackupAndRestore, backed_up_epoch, has_backup, read_backup_metadata

# A tiny model fitted one epoch per call of `fit`; the weights after epoch E are a function of E only.
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras, numpy as np
    from keras_p2c.training.backup import AtomicBackupAndRestore

    backup_dir, epochs, kill_at_save, where = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", "mse")
    saves = []
    original_save = model.save_weights

    def save_weights(path, overwrite=True):
        saves.append(path)
        if len(saves) == kill_at_save and where == "during-weights":
            original_save(path, overwrite=overwrite)
            with open(path, "r+b") as handle:  # half of the file reached the disk
                handle.truncate(os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        original_save(path, overwrite=overwrite)

    model.save_weights = save_weights
    if where == "before-commit":
        import keras_p2c.training.backup as backup

        def commit(path, value):
            if len(saves) == kill_at_save:
                os.kill(os.getpid(), signal.SIGKILL)
            original_commit(path, value)

        original_commit, backup._write_json_atomic = backup._write_json_atomic, commit

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            print("START", model._initial_epoch if hasattr(model, "_initial_epoch") else 0, flush=True)
        def on_epoch_end(self, epoch, logs=None):
            np.save(os.path.join(backup_dir, f"../kernel-{epoch + 1}.npy"), np.asarray(model.layers[0].kernel))

    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    callbacks = [AtomicBackupAndRestore(backup_dir), Record()]
    model.fit(x, x[:, :3], epochs=epochs, batch_size=4, shuffle=False, callbacks=callbacks, verbose=0)
    np.save(os.path.join(backup_dir, "../final.npy"), np.asarray(model.layers[0].kernel))
    """
)


def run_script(tmp_path, epochs, kill_at_save=0, where="none"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.getcwd(), TF_CPP_MIN_LOG_LEVEL="3")
    backup_dir = tmp_path / "run" / "backup"
    backup_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), str(backup_dir), str(epochs), str(kill_at_save), where]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300), backup_dir


@pytest.mark.parametrize("where", ["during-weights", "before-commit"])
def test_a_kill_during_a_backup_write_resumes_from_the_previous_backup(tmp_path, where):
    killed, backup_dir = run_script(tmp_path, epochs=4, kill_at_save=3, where=where)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert backed_up_epoch(backup_dir) == 2 and has_backup(backup_dir)
    resumed, _ = run_script(tmp_path, epochs=4)
    assert resumed.returncode == 0, resumed.stderr
    assert "START 2" in resumed.stdout  # resumed at the last committed backup, not at 0
    assert read_backup_metadata(backup_dir)["epoch"] == 4
    # Same end state as a run that was never killed (the step is deterministic on one machine and kernel).
    uninterrupted, _ = run_script(tmp_path / "clean", epochs=4)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    np.testing.assert_array_equal(
        np.load(tmp_path / "run" / "final.npy"), np.load(tmp_path / "clean" / "run" / "final.npy")
    )
    # Only the current and the previous backups are kept; no temporary file is left behind.
    assert sorted(p.name for p in backup_dir.iterdir()) == [
        "epoch-0000003.weights.h5", "epoch-0000004.weights.h5", "training_metadata.json"
    ]  # fmt: skip


def _fit(backup_dir, epochs, model=None):
    keras.utils.set_random_seed(0)
    model = model or keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    history = model.fit(x, x[:, :3], epochs=epochs, batch_size=4, callbacks=[AtomicBackupAndRestore(backup_dir)], verbose=0)
    return model, history


def test_an_unreadable_current_backup_falls_back_to_the_previous_one(tmp_path, caplog):
    backup_dir = tmp_path / "backup"
    _fit(backup_dir, epochs=2)
    metadata = read_backup_metadata(backup_dir)
    assert metadata["previous"] == {"epoch": 1, "weights": "epoch-0000001.weights.h5"}
    (backup_dir / metadata["weights"]).write_bytes(b"")  # a disk that lost the file
    with caplog.at_level("WARNING"):
        _, history = _fit(backup_dir, epochs=3)
    assert len(history.history["loss"]) == 2  # epochs 2 and 3: resumed after epoch 1
    assert "previous backup" in caplog.text


def test_no_readable_backup_is_a_clear_error(tmp_path):
    backup_dir = tmp_path / "backup"
    _fit(backup_dir, epochs=1)
    (backup_dir / read_backup_metadata(backup_dir)["weights"]).write_bytes(b"")
    with pytest.raises(OSError, match="no backup can be read.*Delete the folder"):
        _fit(backup_dir, epochs=2)


def test_a_folder_of_keras_own_callback_resumes(tmp_path):
    backup_dir = tmp_path / "backup"
    keras_model, _ = _fit(backup_dir, epochs=1)
    keras_model.save_weights(backup_dir / "latest.weights.h5")
    (backup_dir / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 0}))
    for path in backup_dir.glob("epoch-*"):
        path.unlink()
    assert has_backup(backup_dir) and backed_up_epoch(backup_dir) == 1
    _, history = _fit(backup_dir, epochs=2)
    assert len(history.history["loss"]) == 1
    # Kept as the previous backup until the next one is committed.
    assert read_backup_metadata(backup_dir)["previous"] == {"epoch": 1, "weights": "latest.weights.h5"}
    with h5py.File(backup_dir / read_backup_metadata(backup_dir)["weights"], "r"):
        pass


def test_unreadable_metadata_means_no_backup(tmp_path, caplog):
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / "training_metadata.json").write_text("{trunc")
    with caplog.at_level("WARNING"):
        assert read_backup_metadata(backup_dir) is None and not has_backup(backup_dir)
    assert "cannot be read" in caplog.text
