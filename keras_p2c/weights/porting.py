"""Strict weight porting: every source tensor used, every Keras variable filled, shapes checked.

A converter is a table of `porter.port(variable, key, hook)` calls. The porter
collects every problem (missing key, shape mismatch, unused tensor, unfilled
variable) and raises one `WeightConversionError` naming them all, so a wrong
checkpoint is diagnosed in one go instead of one key at a time.
"""

import fnmatch

import numpy as np


class WeightConversionError(ValueError):
    """A checkpoint does not match the Keras model it is converted into."""


# Problems listed one per line; a file of another network has hundreds (every key missing and unexpected).
MAX_LISTED = 40


# Layout hooks: source (PyTorch/Paddle, NCHW) array → Keras (NHWC) array.
def conv_kernel(array):
    """OIHW → HWIO."""
    return np.transpose(array, (2, 3, 1, 0))


def torch_dense_kernel(array):
    """torch Linear [out, in] → Keras Dense [in, out]."""
    return np.transpose(array)


def per_channel(array):
    """[1, C, 1, 1] or [1, C] → [C]."""
    return np.reshape(array, (-1,))


def spectral_conv_v(kernel_shape_oihw):
    """Spectral-norm v from (in, kh, kw) order to the Keras (kh, kw, in) order."""
    out_channels, in_channels, kh, kw = kernel_shape_oihw

    def hook(array):
        return np.reshape(array, (in_channels, kh, kw)).transpose(1, 2, 0).reshape(-1)

    return hook


def identity(array):
    return array


# Photo2Cartoon's networks are 32 channels wide at the stem (ngf, ndf). A width read off a file far above
# that is a damaged or hostile shape (a stride-0 tensor declares any width in a few bytes), and building it
# would allocate what the file never held (the bottleneck convs grow with the width squared).
MAX_WIDTH = 256


def build_network(network_class, options, source_name, width_key):
    """`network_class(**options)` for options read off a checkpoint, or a `WeightConversionError` naming it.

    Args:
        network_class: `Generator`, `Discriminator`, ...
        options: the constructor arguments inferred from the tensors' shapes.
        source_name: the checkpoint (file and network), for the message.
        width_key: which option is the stem width (`"ngf"`, `"ndf"`), bounded by `MAX_WIDTH`.
    """
    width = options[width_key]
    if width > MAX_WIDTH:
        raise WeightConversionError(
            f"{source_name}: its tensor shapes give a {network_class.__name__} with {width_key}={width} "
            f"(Photo2Cartoon's is 32); wider than {MAX_WIDTH} is refused rather than built, so the file is damaged "
            "or holds no such network."
        )
    try:
        return network_class(**options)
    except ValueError as error:  # e.g. an ngf that is no multiple of 4: a shape no release has
        raise WeightConversionError(
            f"{source_name}: its tensor shapes give {network_class.__name__} options {options} that cannot be built "
            f"({error}); the file is damaged or holds another network."
        ) from error


class WeightPorter:
    """Copies named source arrays into Keras variables and checks that nothing is left over.

    Args:
        source: mapping of name → numpy array (one network's state dict).
        source_name: how to call the source in errors (file and network).
        ignore: glob patterns of source keys that are known to be unused
            (e.g. the original's dead `ConvBlock4` weights); they are checked
            to exist by name and then skipped.
    """

    def __init__(self, source, source_name, ignore=()):
        self.source = dict(source)
        self.source_name = source_name
        self.ignore = tuple(ignore)
        self.used = set()
        self.filled = set()
        self.problems = []

    def port(self, variable, key, hook=identity):
        if key not in self.source:
            self.problems.append(f"missing key {key!r} (for Keras variable {variable.path})")
            return
        self.used.add(key)
        try:
            array = np.asarray(hook(np.asarray(self.source[key])))
        except ValueError as error:  # a layout hook cannot reorder an array of the wrong size
            self.problems.append(
                f"shape mismatch for {key!r}: {tuple(np.shape(self.source[key]))} in the checkpoint does not fit "
                f"Keras variable {variable.path} of shape {tuple(variable.shape)} ({error})"
            )
            return
        if tuple(array.shape) != tuple(variable.shape):
            self.problems.append(
                f"shape mismatch for {key!r}: {tuple(np.shape(self.source[key]))} in the checkpoint, "
                f"{tuple(array.shape)} after layout conversion, but Keras variable {variable.path} "
                f"has shape {tuple(variable.shape)}"
            )
            return
        try:
            value = array.astype(variable.dtype)
        except (TypeError, ValueError):  # strings, None, objects: a value that is no tensor
            self.problems.append(f"{key!r} holds {array.dtype} values, not numbers (Keras variable {variable.path})")
            return
        variable.assign(value)
        self.filled.add(id(variable))

    def _ignored(self, key):
        return isinstance(key, str) and any(fnmatch.fnmatchcase(key, pattern) for pattern in self.ignore)

    def finish(self, model):
        """Raises `WeightConversionError` listing every problem (the first `MAX_LISTED`), if any."""
        # repr order: a hostile or broken state dict may mix key types (int, tuple), which do not sort.
        unused = sorted((key for key in self.source if key not in self.used and not self._ignored(key)), key=repr)
        unfilled = [v.path for v in model.weights if id(v) not in self.filled]
        problems = list(self.problems)
        problems += [f"unexpected key {key!r} (no Keras variable takes it)" for key in unused]
        problems += [f"Keras variable {path} was not filled by any key" for path in unfilled]
        if problems:
            listing = "\n  ".join(problems[:MAX_LISTED])
            if len(problems) > MAX_LISTED:
                listing += f"\n  ... and {len(problems) - MAX_LISTED} more"
            raise WeightConversionError(
                f"{self.source_name} does not match the Keras model {model.name!r} "
                f"({len(problems)} problem(s)):\n  {listing}\n"
                "Check that the checkpoint and the model options (ngf, n_blocks, light, linear_bias, "
                "n_layers) are the ones it was trained with."
            )
