"""Reading a training run's backup the way a test checks it."""

import h5py

from keras_p2c.training.backup import read_backup_metadata


def backed_up_iterations(run_dir):
    """Each optimiser's step counter as stored in the run's backup file."""
    counters = {}
    weights = run_dir / "backup" / read_backup_metadata(run_dir / "backup")["weights"]
    with h5py.File(weights, "r") as file:
        for name in ("g_optimizer", "d_optimizer"):
            found = []
            file.visititems(lambda key, item: found.append(item) if key.endswith(f"{name}/vars/0") else None)
            (counter,) = found
            counters[name] = int(counter[()])
    return counters


def saved_weights(path):
    """Every array in a Keras `.weights.h5` file, by its path inside the file."""
    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda key, item: arrays.__setitem__(key, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays
