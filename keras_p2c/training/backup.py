"""Crash-safe training backups: Keras' `BackupAndRestore` with every write made atomic.

Keras' callback rewrites `latest.weights.h5` in place and then the epoch file, so a kill during the write
leaves a truncated weights file beside an epoch that points at it, and the run cannot resume. Here each
backup goes to a new file, `epoch-<E>.weights.h5`; the small metadata file that names it is replaced
atomically (write, fsync, rename) only once the weights are complete on disk, and that rename is the one
moment a backup becomes current. A kill at any other moment leaves the previous backup current and intact.
The previous backup's file is kept until the next one is committed, and is loaded when the current one
cannot be read (a disk that lost it).

Folder layout:

    training_metadata.json   {"epoch": E, "batch": 0, "weights": "epoch-<E>.weights.h5", "previous": {...}}
    epoch-<E>.weights.h5     the current backup (all networks and optimisers)
    epoch-<E'>.weights.h5    the previous one

A folder written by Keras' own callback (`latest.weights.h5`, no `weights` key) still resumes.
"""

import json
import logging
import os
from pathlib import Path

import keras

from keras_p2c.atomic import TEMPORARY_PREFIX, atomic_path, write_text_atomic

logger = logging.getLogger(__name__)

METADATA_NAME = "training_metadata.json"
LEGACY_WEIGHTS_NAME = "latest.weights.h5"


def read_backup_metadata(backup_dir):
    """The committed backup's metadata dict, or `None` when the folder holds none (or an unreadable one)."""
    path = Path(backup_dir) / METADATA_NAME
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("%s cannot be read (%s); starting without a backup.", path, error)
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("epoch"), int):
        logger.warning("%s does not describe a backup; starting without one.", path)
        return None
    metadata.setdefault("weights", LEGACY_WEIGHTS_NAME)
    return metadata


def has_backup(backup_dir):
    """Whether `backup_dir` holds a committed backup whose weights file exists."""
    metadata = read_backup_metadata(backup_dir)
    return metadata is not None and (Path(backup_dir) / metadata["weights"]).is_file()


def backed_up_epoch(backup_dir):
    """The epoch count of the committed backup (0 without one)."""
    metadata = read_backup_metadata(backup_dir)
    return metadata["epoch"] if metadata else 0


def _write_json_atomic(path, value):
    """The commit point of a backup: the metadata, replaced atomically and durably (the folder flushed too)."""
    write_text_atomic(path, json.dumps(value), sync_folder=True)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backups survive a kill at any moment (see the module doc).

    Args:
        backup_dir: the folder of the backups.
        save_freq: `"epoch"` (the driver's choice: one Keras epoch is one checkpoint period) or a number of
            batches, as in Keras. Defaults to `"epoch"`.
        delete_checkpoint: delete the folder when `fit` ends. Defaults to `False`, so that starting a
            finished run again does not start over.
        write: whether this process writes backups. In a multi-worker run every worker holds the same
            weights after each synchronous step, so the chief alone writes and every worker restores
            from the chief's folder (which must therefore be on storage all hosts see). Defaults to `True`.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=False, write=True):
        super().__init__(str(backup_dir), save_freq=save_freq, delete_checkpoint=delete_checkpoint and write)
        self.backup_path = Path(backup_dir)
        self.write = write

    def on_train_begin(self, logs=None):
        metadata = read_backup_metadata(self.backup_path)
        if metadata is None:
            return
        candidates = [metadata] + ([metadata["previous"]] if isinstance(metadata.get("previous"), dict) else [])
        for index, candidate in enumerate(candidates):
            weights = self.backup_path / candidate["weights"]
            try:
                self._restore(weights, candidate["epoch"])
            except OSError as error:
                logger.warning("Backup %s cannot be read (%s).", weights, error)
                continue
            if index:
                logger.warning("Resumed from the previous backup %s (epoch %d).", weights, candidate["epoch"])
            return
        raise OSError(
            f"{self.backup_path}: no backup can be read (tried {', '.join(c['weights'] for c in candidates)}). "
            f"Delete the folder to start over."
        )

    def _restore(self, weights, epoch):
        if not self.model.built:
            raise ValueError(f"BackupAndRestore needs a built model before `fit`. Model {self.model.name} is not.")
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(weights))
        self.model._initial_epoch = epoch

    def _save_model(self):
        if not self.write:
            return
        self.backup_path.mkdir(parents=True, exist_ok=True)
        previous = read_backup_metadata(self.backup_path)
        name = f"epoch-{self._current_epoch:07d}.weights.h5"
        if previous is not None and previous["weights"] == name:
            name = f"epoch-{self._current_epoch:07d}-{self._last_batch_seen}.weights.h5"
        weights = self.backup_path / name
        with atomic_path(weights) as temporary:  # the temporary name keeps `.weights.h5` for Keras
            self.model.save_weights(str(temporary), overwrite=True)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        if previous is not None:
            metadata["previous"] = {"epoch": previous["epoch"], "weights": previous["weights"]}
        _write_json_atomic(self.backup_path / METADATA_NAME, metadata)  # the commit point
        self._remove_stale(keep={name, metadata.get("previous", {}).get("weights")})

    def _remove_stale(self, keep):
        for path in self.backup_path.iterdir():
            stale_backup = path.name.endswith(".weights.h5") and path.name not in keep
            # Temporary files of an earlier process that was killed mid-write.
            own = path.name.startswith(f"{TEMPORARY_PREFIX}{os.getpid()}-")
            if stale_backup or (path.name.startswith(TEMPORARY_PREFIX) and not own):
                path.unlink(missing_ok=True)
