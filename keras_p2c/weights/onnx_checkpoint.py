"""Read the original's `photo2cartoon_weights.onnx` as a generator state dict, with the `onnx` package only.

How the file was made (minivision-ai/photo2cartoon, commit 441ab74 of 2020-12-01, which added `test_onnx.py`):
the export script was never published (issues #38, #64 and #70 ask for it); `test_onnx.py` feeds `input`
(float32 1×3×256×256) and reads `output`, and the README pins PyTorch 1.4. torch.onnx.export of that era
(TorchScript tracer, opset 9 by default, `_retain_param_name=True`, constant folding on) writes every
parameter the forward pass uses as an initializer named by its state-dict key (`DownBlock1.1.weight`; the
dead `ConvBlock4` weights are not in the graph at all), plus a few folded constants under generated names
(1 − w, 1 − ρ, the CAM weights reshaped). So the weights are read in one of two ways:

* by name, when every state-dict name is there; constants the exporter made are left aside;
* by graph order, for files whose weights lost their names (a frozen TorchScript module, a renaming
  optimiser, a bias-free Linear whose transposed weight was folded): `onnx_graph` lists the weights each
  layer uses with their kind and shape, and each one takes the port table's next key of that kind and
  shape (the table lists them in the forward pass's order). Weights that kept their names keep them.

Either way the result is an original-release state dict (torch layouts), converted as strictly as a `.pt`.
"""

import collections
import os
import re

from keras_p2c.models import Generator
from keras_p2c.models.generator import options_from_fc0
from keras_p2c.weights.generator_table import infer_generator_options, port_generator
from keras_p2c.weights.onnx_graph import (
    OnnxGraph,
    conv_bias_group,
    conv_weight_group,
    dense_bias_group,
    dense_weight_group,
    describe_group,
    find_generator_weights,
    norm_group,
)
from keras_p2c.weights.porting import WeightConversionError, build_network, identity
from keras_p2c.weights.safe_unpickler import DAMAGED_HINT, CheckpointError

ONNX_INSTALL_HINT = "pip install 'keras-p2c[onnx]'"
# A ModelProto as onnx and torch write it starts with field 1, ir_version (tag byte 0x08), a small number.
ONNX_TAG = 0x08
MAX_IR_VERSION = 32

# How many Dense layers feed each Dense layer of the generator (see `onnx_graph`).
DENSE_DEPTH = {
    "gap_fc": 0, "gmp_fc": 0, "FC.0": 0, "FC.2": 1,
    "c_gamma.0": 0, "c_beta.0": 0, "c_gamma.2": 1, "c_beta.2": 1, "s_gamma": 2, "s_beta": 2,
}  # fmt: skip
STATE_DICT_NAME = re.compile(r"^[A-Za-z_]\w*(\.\w+)+$")
MAX_LISTED = 20


def looks_like_onnx(path):
    """True for a `.onnx` name or a file that starts like a ModelProto (pickles start with 0x80, zips with PK)."""
    path = os.fspath(path)
    if path.lower().endswith(".onnx"):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == ONNX_TAG and 1 <= head[1] <= MAX_IR_VERSION


def load_onnx_model(path):
    """Parses an ONNX file, weights included, with the `onnx` package (no runtime needed).

    Raises:
        CheckpointError: `onnx` is not installed, or the file cannot be opened, is not an ONNX model or is cut short.
    """
    path = os.fspath(path)
    try:
        import onnx
    except ImportError as error:
        raise CheckpointError(path, f"reading ONNX files needs the `onnx` package ({ONNX_INSTALL_HINT})") from error
    if not os.path.isfile(path):
        raise CheckpointError(path, "no such file")
    try:
        model = onnx.load(path)
    except OSError as error:
        raise CheckpointError(path, f"cannot open the file or its external weights ({error})") from error
    except Exception as error:  # protobuf's DecodeError and onnx's own errors share no base class
        raise CheckpointError(
            path, f"not an ONNX model, or a damaged one ({type(error).__name__}: {error}); {DAMAGED_HINT}"
        ) from error
    # A file cut at a field boundary still parses; what is missing tells.
    if not model.graph.node or not model.opset_import:
        missing = "no graph nodes" if not model.graph.node else "no opset_import"
        raise CheckpointError(path, f"not a complete ONNX model ({missing}); {DAMAGED_HINT}")
    return model


class _KeyRecorder:
    """Stands in for a `WeightPorter`: lists the keys a port table asks for, in its order, with their variables."""

    def __init__(self):
        self.entries = []

    def port(self, variable, key, hook=identity):
        self.entries.append((key, variable))


def _dense_depth(module):
    for suffix, depth in DENSE_DEPTH.items():
        if module == suffix or module.endswith("." + suffix):
            return depth
    return None


def _key_group(key, variable, keys):
    """The `onnx_graph` group of a state-dict key's tensor, from its name and its Keras variable's shape."""
    module, _, leaf = key.rpartition(".")
    shape = tuple(int(d) for d in variable.shape)
    if leaf == "rho":
        return norm_group("rho", shape[0])
    if leaf in ("w_gamma", "w_beta"):
        return norm_group("mix weight", shape[0])
    if leaf in ("gamma", "beta"):  # only LIN's; Soft-AdaLIN's MLPs are `c_gamma.0.weight` and so on
        return norm_group(f"LIN {leaf}", shape[0])
    has_bias = f"{module}.bias" in keys
    depth = _dense_depth(module)
    if depth is not None:
        return dense_weight_group(depth, has_bias, shape) if leaf == "weight" else dense_bias_group(depth, shape)
    return conv_weight_group(has_bias, shape) if leaf == "weight" else conv_bias_group(shape)


def expected_generator_keys(options, source_name):
    """`[(state-dict key, group)]` of an original-release generator with these options, in the port table's order."""
    generator = build_network(Generator, options, source_name, "ngf")
    generator.build((None, options["img_size"], options["img_size"], 3))
    recorder = _KeyRecorder()
    port_generator(recorder, generator)
    keys = {key for key, _ in recorder.entries}
    return [(key, _key_group(key, variable, keys)) for key, variable in recorder.entries]


def _options_from_weights(weights, path):
    """ngf, n_blocks, light, img_size and linear_bias of the generator whose weights these are."""
    convs = [w for w in weights if w.group[0] == "conv weight"]
    stem = convs[0].array if convs else None  # OIHW; the forward pass starts with it
    if stem is None or stem.shape[1:] != (3, 7, 7):
        found = f"weight shape {stem.shape}" if stem is not None else "none"
        raise WeightConversionError(
            f"{path}: the first convolution ({found}) is not the generator's 7×7 stem on 3 channels: "
            "it is not a Photo2Cartoon generator."
        )
    ngf = int(stem.shape[0])
    wide = 4 * ngf
    bottleneck = sum(1 for w in convs if w.array.shape == (wide, wide, 3, 3))
    fc0 = [w for w in weights if w.group[0] == "dense weight" and w.group[1] == 0 and w.array.shape[0] == wide]
    if not bottleneck or bottleneck % 4 or not fc0:
        raise WeightConversionError(
            f"{path}: {bottleneck} convolution(s) {wide}×{wide}×3×3 (the generator has 4 per residual-block "
            f"pair) and {len(fc0)} Dense layer(s) of width {wide} starting an MLP: it is not a Photo2Cartoon "
            "generator."
        )
    return {
        "ngf": ngf,
        "n_blocks": bottleneck // 4,
        **options_from_fc0(ngf, int(fc0[0].array.shape[1])),
        "linear_bias": any(w.group[0] == "dense bias" for w in weights),
    }


def _listing(problems):
    more = [f"... and {len(problems) - MAX_LISTED} more"] if len(problems) > MAX_LISTED else []
    return "\n  ".join(problems[:MAX_LISTED] + more)


def _assign(expected, weights, named, path):
    """Key → array: named keys first, then each group's other keys, in order, to its unnamed weights in order."""
    state_dict = {key: named[key] for key, _ in expected if key in named}
    keys, found = collections.defaultdict(list), collections.defaultdict(list)
    for key, group in expected:
        if key not in state_dict:
            keys[group].append(key)
    for weight in weights:
        if weight.name not in state_dict:
            found[weight.group].append(weight)
    problems = []
    for group in sorted(set(keys) | set(found), key=repr):
        if len(keys[group]) != len(found[group]):
            wanted = ", ".join(repr(k) for k in keys[group][:3]) + (", ..." if len(keys[group]) > 3 else "")
            problems.append(
                f"{len(found[group])} unnamed {describe_group(group)} in the graph for {len(keys[group])} "
                f"generator weight(s){f' ({wanted})' if wanted else ''}"
            )
            continue
        state_dict.update((key, weight.array) for key, weight in zip(keys[group], found[group]))
    if problems:
        raise WeightConversionError(
            f"{path}: its weights do not map onto a Photo2Cartoon generator ({len(problems)} problem(s)):\n  "
            + _listing(problems)
        )
    return state_dict


def read_onnx_generator(path):
    """Reads the generator weights of an ONNX file into an original-release state dict (torch layouts).

    Args:
        path: e.g. the original's `photo2cartoon_weights.onnx`.

    Returns:
        `(state_dict, mapping)`: key → NumPy array (for `generator_from_state_dict`), and how the keys were
        found: `"names"`, `"graph order"` or `"names and graph order"`.

    Raises:
        CheckpointError: the file is not a readable ONNX model (see `load_onnx_model`).
        WeightConversionError: the graph is not a Photo2Cartoon generator; the message lists what does not fit.
    """
    path = os.fspath(path)
    graph = OnnxGraph(load_onnx_model(path), path)
    if not any(len(tensor.dims) == 4 for tensor in graph.tensors.values()):
        raise WeightConversionError(
            f"{path} holds no convolution weights: it is not a Photo2Cartoon generator, or it was exported "
            "without them (torch.onnx.export(..., export_params=False))."
        )
    named = {name: graph.array(name) for name in graph.initializer_names if STATE_DICT_NAME.match(name)}
    try:
        options = infer_generator_options(named, source_name=path)
    except WeightConversionError:
        options = None  # not the state dict's names: the graph tells
    if options is not None:
        expected = expected_generator_keys(options, path)
        if all(key in named for key, _ in expected):
            return {key: named[key] for key, _ in expected}, "names"
    weights, problems = find_generator_weights(graph)
    if not graph.inputs:
        problems.append("the graph has no input")
    if problems:
        raise WeightConversionError(
            f"{path} is not a Photo2Cartoon generator ({len(problems)} problem(s)):\n  {_listing(problems)}"
        )
    if options is None:
        options = _options_from_weights(weights, path)
        expected = expected_generator_keys(options, path)
    kept = {key: named[key] for key, _ in expected if key in named}
    return _assign(expected, weights, kept, path), "names and graph order" if kept else "graph order"
