"""Read Paddle `.pdparams` files into NumPy arrays, without Paddle and without running code.

`paddle.save(layer.state_dict(), path)` pickles a dict name → NumPy array
(protocol 2 in Paddle 2.x, protocol 4 in Paddle 3) with one extra entry,
`'StructuredToParameterName@@'`, mapping each name to Paddle's internal
parameter name. With protocols 2 and 3, arrays over 1 GiB are split into
`name@@.0`, `name@@.1`, ... and described in `'UnpackBigParamInfor@@'`.
Only NumPy's array-reconstruction globals are allowed while unpickling.
"""

import os

import numpy as np

from keras_p2c.weights.safe_unpickler import CheckpointError, load_restricted, numpy_globals

NAME_TABLE_KEY = "StructuredToParameterName@@"
SPLIT_INFO_KEY = "UnpackBigParamInfor@@"


def _join_split_arrays(path, params, split_info):
    """Undo Paddle's splitting of arrays too big for pickle protocols 2 and 3."""
    if not isinstance(split_info, dict):
        raise CheckpointError(path, f"'{SPLIT_INFO_KEY}' is not a dict")
    for name, info in split_info.items():
        try:
            parts = [params.pop(part) for part in info["slices"]]
            params[name] = np.concatenate(parts).reshape(info["OriginShape"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(
                path, f"cannot join the split parts of '{name}' ({type(error).__name__}: {error})"
            ) from error


def read_paddle_params(path):
    """Read a Paddle `.pdparams` state dict, without Paddle.

    Args:
        path: a file written by `paddle.save(layer.state_dict(), path)`
            (Paddle 2.x or 3.x), e.g. PaddleGAN's
            `photo2cartoon_genA2B_weight.pdparams`.

    Returns:
        A dict name → NumPy array (native byte order) in saved order. Paddle's
        name table `'StructuredToParameterName@@'` is dropped. Note that
        Paddle stores Linear weights as [in, out].

    Raises:
        UnsafeCheckpointError: the pickle needs a global outside the allow-list
            (it may run code); nothing was executed.
        CheckpointError: the file is not a pickled state dict, is truncated or corrupt.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            if handle.read(1) != b"\x80":
                raise CheckpointError(
                    path,
                    "not a pickled Paddle state dict (as paddle.save writes); "
                    "files of Paddle 1.x's save_persistables format are not supported",
                )
            handle.seek(0)
            contents = load_restricted(handle, path, numpy_globals(), what="the pickle")
    except OSError as error:
        raise CheckpointError(path, f"cannot open the file ({error})") from error
    if not isinstance(contents, dict):
        raise CheckpointError(
            path, f"expected a pickled dict name → array, found a {type(contents).__name__}"
        )

    params = dict(contents)
    params.pop(NAME_TABLE_KEY, None)
    if SPLIT_INFO_KEY in params:
        _join_split_arrays(path, params, params.pop(SPLIT_INFO_KEY))
    for name, value in params.items():
        if not isinstance(name, str):
            raise CheckpointError(path, f"parameter name {name!r} is not a string")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise CheckpointError(
                path, f"entry '{name}' is a {type(value).__name__}, not a numeric array"
            )
        params[name] = value.astype(value.dtype.newbyteorder("="), copy=False)
    return params
