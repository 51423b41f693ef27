"""The keras-p2c cache folder: downloaded and converted weights, the portrait-segmentation model."""

import os
from pathlib import Path

HOME_ENV = "KERAS_P2C_HOME"


def cache_dir(folder=None):
    """The cache folder: `folder` when given (`~` expanded), else `$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`."""
    if folder is not None:
        return Path(folder).expanduser()
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path.home() / ".cache" / "keras_p2c"
