"""Open a checkpoint of either release, telling the format from the file's bytes."""

import os
import zipfile

from keras_p2c.weights.paddle_checkpoint import read_paddle_params
from keras_p2c.weights.safe_unpickler import CheckpointError
from keras_p2c.weights.torch_checkpoint import HEADER_SIZE, read_torch_checkpoint, sniff_container

READERS = {"pt": read_torch_checkpoint, "pdparams": read_paddle_params}


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# torch < 0.4 saved a tar archive; the PyTorch reader explains how to re-save it.
TAR_MAGIC_OFFSET, TAR_MAGIC = 257, b"ustar"


def _keras_file_kind(path, head):
    """"a Keras model (.keras)" / "a Keras weights file (.weights.h5)" when the file is one, else None."""
    if head.startswith(HDF5_SIGNATURE):
        return "a Keras weights file (HDF5, .weights.h5)"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (OSError, EOFError, ValueError, zipfile.BadZipFile):  # ValueError: a name that is not UTF-8
            return None
        if "config.json" in names and "metadata.json" in names:
            return "a Keras model (.keras)"
    return None


def detect_format(path):
    """Tell a checkpoint's format from its first bytes.

    Args:
        path: the checkpoint file.

    Returns:
        `"pt"` for both PyTorch containers (zip and legacy), `"pdparams"` for
        any other pickle (Paddle writes a bare pickled dict).

    Raises:
        CheckpointError: the file cannot be opened or is neither.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(TAR_MAGIC_OFFSET + len(TAR_MAGIC))
    except OSError as error:
        raise CheckpointError(path, f"cannot open the file ({error})") from error
    keras_kind = _keras_file_kind(path, head)
    if keras_kind is not None:
        raise CheckpointError(
            path,
            f"this is {keras_kind}, already in Keras' format: pass it directly (e.g. `p2c cartoonize --weights "
            f"{path}`). p2c convert reads the official checkpoints: photo2cartoon_weights.pt (PyTorch, "
            "either container), photo2cartoon_genA2B_weight.pdparams (PaddleGAN) and "
            "photo2cartoon_weights.onnx (the original's ONNX generator)",
        )
    if sniff_container(head[:HEADER_SIZE]) is not None or head[TAR_MAGIC_OFFSET:] == TAR_MAGIC:
        return "pt"
    # Pickle protocols 2-5 start with PROTO and the protocol number.
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pdparams"
    raise CheckpointError(
        path,
        "unknown checkpoint format: expected a PyTorch .pt/.pth file (torch.save), a "
        "Paddle .pdparams file (paddle.save) or an .onnx file",
    )


def read_checkpoint(path, format=None):  # noqa: A002 - the user-facing name
    """Read a PyTorch or Paddle checkpoint into NumPy arrays, without either framework.

    Args:
        path: a `.pt`/`.pth` file (either torch container) or a `.pdparams` file.
        format: `"pt"` or `"pdparams"`; `None` detects it from the file's bytes.

    Returns:
        `(format, contents)`: for `"pt"` the saved object with tensors as
        NumPy arrays (see `read_torch_checkpoint`), for `"pdparams"` a dict
        name → array (see `read_paddle_params`).

    Raises:
        ValueError: `format` is not one of the above.
        UnsafeCheckpointError: the file's pickle may run code; nothing was executed.
        CheckpointError: the file is unreadable, truncated or of another format.
    """
    if format is None:
        format = detect_format(path)
    if format not in READERS:
        raise ValueError(f"`format` must be one of {sorted(READERS)} or None. Received: format={format!r}")
    return format, READERS[format](path)
