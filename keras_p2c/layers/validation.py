"""Checks of layer arguments and build shapes, worded like Keras' own (`Received: name=...`).

The constructor checks run before `Layer.__init__`, so a bad argument fails
before any layer state exists; the shape checks run at the top of `build`.
"""

import numbers


def _refuse(name, requirement, value):
    raise ValueError(f"`{name}` must be {requirement}. Received: {name}={value!r}")


def _is_int(value):
    # bool is an int subclass, but `filters=True` is a mistake, not a 1.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_bool(name, value):
    if not isinstance(value, bool):
        _refuse(name, "a bool", value)
    return value


def check_positive_int(name, value, multiple=1, hint=""):
    """A positive integer divisible by `multiple`; `hint` is appended to the requirement."""
    if not _is_int(value) or value <= 0 or value % multiple:
        requirement = "a positive integer" + (f" divisible by {multiple}" if multiple > 1 else "")
        _refuse(name, requirement + hint, value)
    return int(value)


def check_non_negative_int(name, value):
    if not _is_int(value) or value < 0:
        _refuse(name, "a non-negative integer", value)
    return int(value)


def check_positive_number(name, value):
    if not _is_number(value) or not value > 0:
        _refuse(name, "a positive number", value)
    return value


def check_non_negative_number(name, value):
    if not _is_number(value) or not value >= 0:
        _refuse(name, "a number >= 0", value)
    return value


def check_seed(name, value):
    if value is not None and not _is_int(value):
        _refuse(name, "an integer or None", value)
    return value


def check_int_pair(name, value):
    """A positive integer or a pair of them, returned as a pair."""
    pair = (value, value) if _is_int(value) else value
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(_is_int(v) and v > 0 for v in pair):
        _refuse(name, "a positive integer or a pair of them", value)
    return tuple(int(v) for v in pair)


def split_input_shapes(layer, input_shape, names):
    """The shapes of a list input `[names...]`, or a ValueError saying what the layer expects."""
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != len(names)
        or not all(isinstance(shape, (list, tuple)) for shape in input_shape)
    ):
        raise ValueError(
            f"{type(layer).__name__} expects a list of {len(names)} inputs [{', '.join(names)}]. "
            f"Received: input_shape={input_shape}"
        )
    return tuple(tuple(shape) for shape in input_shape)


def defined_channels(layer, input_shape, ndim, what="input"):
    """The size of the last axis of a rank-`ndim` shape; a ValueError when the rank is wrong or the size undefined.

    Weights are sized by the channel count, so it has to be known when the
    layer is built, as in `keras.layers.GroupNormalization`.
    """
    if len(input_shape) != ndim:
        raise ValueError(
            f"{type(layer).__name__} expects a rank-{ndim} {what} (channels last). Received: input_shape={input_shape}"
        )
    channels = input_shape[-1]
    if channels is None:
        raise ValueError(
            f"The channel axis (-1) of the {what} of {type(layer).__name__} must have a defined size. "
            f"Received: input_shape={input_shape}"
        )
    return channels
