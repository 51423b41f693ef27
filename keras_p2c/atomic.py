"""Writing files so that a reader sees the old file or the complete new one, never a partial write.

Everything keras-p2c writes for others to read (images, reports, configs, backups, exports) is written
under a temporary name in the destination's folder and renamed over it: a rename within one file system
is atomic, so an interruption (Ctrl-C, `kill -9`, a full disk) leaves no half-written file behind.
"""

import contextlib
import os
import secrets
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"


def temporary_name(path):
    """A unique hidden name beside `path` that ends in `path`'s name (writers that read the format off the
    suffix, such as Keras' `save`, still see `.keras` / `.weights.h5`).

    It starts with `.tmp-<pid>-`, so a process can tell its own temporary files from those of a killed one.
    """
    path = Path(path)
    return path.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")


@contextlib.contextmanager
def atomic_path(path, sync_folder=False):
    """A temporary path to write `path`'s new content to; renamed over `path` when the block succeeds.

    The folder is created if needed. The file is flushed to disk before the rename; on any failure (also
    `KeyboardInterrupt`) the temporary file is removed and `path` is untouched.

    Args:
        path: the destination file.
        sync_folder: also flush the folder after the rename, so that the rename itself survives a power
            cut (for commit points such as a backup's metadata).

    Example:

    >>> with atomic_path("genA2B.keras") as temporary:
    ...     model.save(temporary)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        yield temporary
        _fsync_file(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if sync_folder:
        _fsync_folder(path.parent)


def write_bytes_atomic(path, data, sync_folder=False):
    """Write `data` to `path` through a temporary file and a rename (see `atomic_path`); returns the path."""
    with atomic_path(path, sync_folder=sync_folder) as temporary:
        # O_EXCL: the name is ours alone; 0o666 (less the umask): the usual permissions, not mkstemp's 0600.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
    return Path(path)


def write_text_atomic(path, text, sync_folder=False):
    """`write_bytes_atomic` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"), sync_folder=sync_folder)


def _fsync_file(path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder):
    # Not every file system lets a folder be opened or flushed; the rename has happened either way.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
