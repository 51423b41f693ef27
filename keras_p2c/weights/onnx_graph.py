"""Find the Photo2Cartoon generator's weights in an ONNX graph by what uses them (for files that lost the names).

Every float constant (initializer or `Constant` node) that a layer of the generator uses is listed once, in
graph order, with its *group*: the kind of weight and its shape in Keras' layout. The kind comes from the node
that consumes it:

* `Conv` → conv weight (OIHW) / bias; `Gemm` or `MatMul` (+ `Add`) → dense weight (torch's [out, in]) / bias,
  with the layer's *depth*: how many Dense layers feed it through ReLUs (the style MLP FC.0 → FC.2 → s_gamma,
  s_beta gives 0, 1, 2; the content MLPs c_*.0 → c_*.2 give 0, 1);
* `InstanceNormalization` → nothing (the generator's instance norms have no affine; checked to be 1 and 0);
* `Mul` / `Add` with a per-channel constant → a normalisation weight, told apart by what it multiplies:
  ρ multiplies the instance-normalised map (spatial statistics), 1 − ρ the layer-normalised one (statistics
  over channels too); w multiplies a content-MLP output (depth 1), 1 − w a style one (depth 2); LIN's γ and
  β scale and shift their mix (both statistics). `1 − ρ` and `1 − w` may be in the graph as `Sub(1, ·)` or
  folded into constants of their own; folded ones are recognised by the same rule and left out. So are the
  CAM's copies of gap_fc/gmp_fc's weight (the encoder map times them), which must equal those weights.

A graph laid out another way is reported, constant by constant, rather than guessed at.
"""

import collections

import numpy as np

from keras_p2c.weights.safe_unpickler import DAMAGED_HINT, CheckpointError

# Ops a weight may pass through between its constant and the node that uses it (unfolded exports).
WEIGHT_PATH_OPS = {"Identity", "Cast", "Transpose", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Expand", "Slice"}
# Ops between one Dense layer and the next in an MLP chain.
MLP_PATH_OPS = {"Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Relu"}
# Ops between a Dense output and the product that applies a Soft-AdaLIN mix weight to it.
BROADCAST_OPS = {"Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Expand"}
# The search for the statistics behind a normalised map stops at the layer that made the map.
STATISTICS_BOUNDARY = {"Conv", "Gemm", "MatMul", "InstanceNormalization"}
REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2"}
# Nodes visited at most per search (a normalisation's statistics are a dozen nodes away).
SEARCH_LIMIT = 400


# Groups: (kind, ..., Keras-layout shape). The ONNX reader forms the same tuples from the port table.
def conv_weight_group(has_bias, keras_shape):
    return ("conv weight", bool(has_bias), tuple(keras_shape))


def conv_bias_group(shape):
    return ("conv bias", tuple(shape))


def dense_weight_group(depth, has_bias, keras_shape):
    return ("dense weight", depth, bool(has_bias), tuple(keras_shape))


def dense_bias_group(depth, shape):
    return ("dense bias", depth, tuple(shape))


def norm_group(kind, channels):
    """kind: "rho", "mix weight" (Soft-AdaLIN's w_gamma/w_beta), "LIN gamma" or "LIN beta"."""
    return (kind, (int(channels),))


def describe_group(group):
    kind, shape = group[0], group[-1]
    if kind == "dense weight":
        return f"dense weight(s) of Keras shape {shape} at MLP depth {group[1]}{' with bias' if group[2] else ''}"
    if kind == "conv weight":
        return f"conv weight(s) of Keras shape {shape}{' with bias' if group[1] else ''}"
    return f"{kind} tensor(s) of Keras shape {shape}"


class GraphWeight:
    """One weight found in the graph: its group, its array (torch layout) and its constant's name."""

    def __init__(self, group, array, name):
        self.group, self.array, self.name = group, array, name


class OnnxGraph:
    """The constants and nodes of one ONNX `ModelProto`'s graph, with the look-ups the weight search needs.

    Args:
        model: the parsed file (`onnx.load`).
        path: the file, for errors.
    """

    def __init__(self, model, path):
        from onnx import numpy_helper

        self._to_array = numpy_helper.to_array
        self.path = path
        graph = model.graph
        self.nodes = list(graph.node)  # topologically sorted, as the ONNX spec requires
        self.tensors = {tensor.name: tensor for tensor in graph.initializer}
        self.initializer_names = [tensor.name for tensor in graph.initializer]
        for node in self.nodes:
            value = [a.t for a in node.attribute if a.name == "value"] if node.op_type == "Constant" else []
            if value:
                self.tensors[node.output[0]] = value[0]
        self.producer, self.consumers = {}, collections.defaultdict(list)
        for node in self.nodes:
            for output in node.output:
                self.producer[output] = node
            for value in node.input:
                self.consumers[value].append(node)
        # Old exports (keep_initializers_as_inputs) list every initializer among the inputs too.
        self.inputs = [value.name for value in graph.input if value.name not in self.tensors]
        self._arrays = {}

    def array(self, name):
        if name not in self._arrays:
            tensor = self.tensors[name]
            try:
                self._arrays[name] = self._to_array(tensor)
            except (ValueError, TypeError) as error:  # data that does not fill the declared shape, or an odd type
                raise CheckpointError(
                    self.path, f"tensor {name!r} of shape {list(tensor.dims)} cannot be read ({error}); {DAMAGED_HINT}"
                ) from error
        return self._arrays[name]

    def constant(self, value):
        """`(name, array, complemented)` when `value` is a float constant seen through weight-path ops, else None.

        Transposes and casts on the way are applied; `Sub(1, c)` is followed and reported as a complement
        (an unfolded 1 − ρ); reshapes and expands are followed but not applied (per-channel weights are
        flattened by the layout hooks anyway).
        """
        steps, complemented = [], False
        while value not in self.tensors:
            node = self.producer.get(value)
            if node is None:
                return None
            if node.op_type in WEIGHT_PATH_OPS:
                steps.append(node)
                value = node.input[0]
            elif node.op_type == "Sub" and self.scalar(node.input[0]) == 1.0:
                complemented = not complemented
                value = node.input[1]
            else:
                return None
        array = self.array(value)
        if array.dtype.kind != "f":
            return None
        for node in reversed(steps):
            if node.op_type == "Transpose":
                perm = [list(a.ints) for a in node.attribute if a.name == "perm"]
                array = np.transpose(array, perm[0] if perm else None)
        return value, array.astype(np.float32, copy=False), complemented

    def scalar(self, value):
        found = self.constant(value)
        if found is None or found[1].size != 1:
            return None
        return float(found[1].reshape(()))

    def skip(self, value, ops):
        """The value above a chain of `ops` (each taking the chain as its first input) ending at `value`."""
        node = self.producer.get(value)
        while node is not None and node.op_type in ops:
            value = node.input[0]
            node = self.producer.get(value)
        return value

    def statistics_behind(self, value):
        """Which statistics (`"spatial"`, `"channel"`) are computed between `value` and the layer that made its map."""
        kinds, seen, queue = set(), set(), collections.deque([value])
        while queue and len(seen) < SEARCH_LIMIT:
            node = self.producer.get(queue.popleft())
            if node is None or id(node) in seen or node.op_type in STATISTICS_BOUNDARY:
                continue
            seen.add(id(node))
            if node.op_type in REDUCTIONS:
                axes = self._axes(node)
                kinds.add("channel" if axes is None or 1 in axes else "spatial")
            elif node.op_type == "GlobalAveragePool":
                kinds.add("spatial")
            queue.extend(node.input)
        return kinds

    def _axes(self, node):
        """A reduction's axes on an NCHW map (an attribute up to opset 17, an input from 18); None: all axes."""
        axes = [list(a.ints) for a in node.attribute if a.name == "axes"]
        if not axes and len(node.input) > 1 and node.input[1] in self.tensors:
            axes = [self.array(node.input[1]).reshape(-1).tolist()]
        if not axes:
            return None
        return {int(axis) % 4 for axis in axes[0]}


def _attribute(node, name, default):
    for attribute in node.attribute:
        if attribute.name == name:
            return attribute.f if attribute.type == attribute.FLOAT else attribute.i
    return default


class _WeightSearch:
    """One walk over the graph's nodes, collecting `GraphWeight`s and problems."""

    def __init__(self, graph):
        self.graph = graph
        self.weights, self.problems = [], []
        self.dense_depth = {}  # a Dense layer's output value → its depth
        self.bias_adds = set()  # ids of the Add nodes that are a MatMul's bias
        self.norm_constants = collections.OrderedDict()  # name → (array, roles, first user)
        self.cam_weights = []

    def run(self):
        for node in self.graph.nodes:
            handler = getattr(self, f"_on_{node.op_type}", None)
            if handler is not None:
                handler(node)
        self._add_norm_weights()
        return self.weights, self.problems

    def _input_constant(self, node, position, what):
        """The constant at an optional input; a problem when the input is there but not a constant."""
        if len(node.input) <= position or not node.input[position]:
            return None
        found = self.graph.constant(node.input[position])
        if found is None:
            self.problems.append(f"{node.op_type} node {node.name or node.output[0]!r}: its {what} is not a constant")
        return found

    def _on_Conv(self, node):
        weight = self._input_constant(node, 1, "weight")
        bias = self._input_constant(node, 2, "bias")
        if weight is None:
            return
        name, array, _ = weight
        if array.ndim != 4:
            self.problems.append(f"Conv node {node.name!r} has a {array.ndim}-D weight, not a 2-D convolution's")
            return
        keras_shape = np.transpose(array, (2, 3, 1, 0)).shape  # OIHW → HWIO
        self.weights.append(GraphWeight(conv_weight_group(bias is not None, keras_shape), array, name))
        if bias is not None:
            self.weights.append(GraphWeight(conv_bias_group(bias[1].shape), bias[1], bias[0]))

    def _on_Gemm(self, node):
        weight = self._input_constant(node, 1, "weight")
        bias = self._input_constant(node, 2, "bias")
        if weight is None:
            return
        scaled = _attribute(node, "alpha", 1.0) != 1.0 or _attribute(node, "beta", 1.0) != 1.0
        if _attribute(node, "transA", 0) or scaled or weight[1].ndim != 2:
            self.problems.append(
                f"Gemm node {node.name!r} is not a plain Linear layer (transA, alpha, beta or a non-2-D weight)"
            )
            return
        # Gemm(transB=1), as torch exports Linear, holds torch's [out, in]; transB=0 holds [in, out].
        array = weight[1] if _attribute(node, "transB", 0) else weight[1].T
        self._dense(node.input[0], node.output[0], weight[0], array, bias)

    def _on_MatMul(self, node):
        weight = self.graph.constant(node.input[1])
        if weight is None or weight[1].ndim != 2:
            return  # a product of two activations
        output, bias = node.output[0], None
        users = self.graph.consumers[node.output[0]]
        if len(users) == 1 and users[0].op_type == "Add":
            add = users[0]
            found = self.graph.constant(add.input[1] if add.input[0] == output else add.input[0])
            if found is not None and found[1].shape == (weight[1].shape[1],):
                bias, output = found, add.output[0]
                self.bias_adds.add(id(add))
        self._dense(node.input[0], output, weight[0], weight[1].T, bias)

    def _dense(self, data_input, output, name, torch_array, bias):
        parent = self.dense_depth.get(self.graph.skip(data_input, MLP_PATH_OPS))
        depth = 0 if parent is None else parent + 1
        self.dense_depth[output] = depth
        group = dense_weight_group(depth, bias is not None, torch_array.T.shape)
        self.weights.append(GraphWeight(group, torch_array, name))
        if torch_array.shape[0] == 1:
            self.cam_weights.append(torch_array.reshape(-1))
        if bias is not None:
            self.weights.append(GraphWeight(dense_bias_group(depth, bias[1].shape), bias[1], bias[0]))

    def _on_InstanceNormalization(self, node):
        for position, value, what in ((1, 1.0, "scale"), (2, 0.0, "bias")):
            found = self._input_constant(node, position, what)
            if found is not None and not np.all(found[1] == value):
                self.problems.append(
                    f"InstanceNormalization node {node.name!r} has a learned {what}; the generator's instance "
                    "norms have none (affine=False)"
                )

    def _on_Mul(self, node):
        self._norm_use(node)

    def _on_Add(self, node):
        if id(node) not in self.bias_adds:
            self._norm_use(node)

    def _norm_use(self, node):
        for position in (0, 1):
            found = self.graph.constant(node.input[position])
            if found is None or found[1].size == 1:
                continue  # activations, and scalars such as ε
            name, array, complemented = found
            role = self._role(node.op_type, node.input[1 - position], complemented)
            self.norm_constants.setdefault(name, (array, set(), node))[1].add(role)

    def _role(self, op, partner, complemented):
        """What a per-channel constant is, from the product or sum it enters (see the module docstring)."""
        source = self.graph.skip(partner, BROADCAST_OPS)
        depth = self.dense_depth.get(source)
        if op == "Mul" and depth in (1, 2):
            # Soft-AdaLIN: γ = (1 − w)·s_gamma(style) + w·c_gamma(content).
            return "mix weight" if (depth == 1) != complemented else "derived"
        kinds = self.graph.statistics_behind(source)
        if op == "Mul" and kinds == {"spatial"}:
            return "derived" if complemented else "rho"  # ρ·IN(x)
        if op == "Mul" and kinds == {"channel"}:
            return "rho" if complemented else "derived"  # (1 − ρ)·LN(x)
        if kinds == {"spatial", "channel"} and not complemented:
            return "LIN gamma" if op == "Mul" else "LIN beta"  # (ρ·IN + (1 − ρ)·LN)·γ + β
        if op == "Mul" and not kinds:
            return "CAM weight"  # the encoder's map times gap_fc/gmp_fc's weight
        return "unknown"

    def _add_norm_weights(self):
        for name, (array, roles, user) in self.norm_constants.items():
            roles = roles - {"derived"}
            if roles == {"CAM weight"}:
                flat = array.reshape(-1)
                if not any(w.size == flat.size and np.array_equal(w, flat) for w in self.cam_weights):
                    self.problems.append(
                        f"constant {name!r} multiplies the encoder's map but is not gap_fc's or gmp_fc's weight"
                    )
            elif len(roles) > 1 or "unknown" in roles:
                self.problems.append(
                    f"constant {name!r} of shape {tuple(array.shape)} (used by {user.op_type} node {user.name!r}) "
                    "is none of the generator's normalisation weights"
                )
            elif roles:  # none left: a 1 − ρ or 1 − w the exporter folded
                self.weights.append(GraphWeight(norm_group(roles.pop(), array.size), array, name))


def find_generator_weights(graph):
    """Every generator weight an `OnnxGraph` uses, in graph order within each group.

    Returns:
        `(weights, problems)`: a list of `GraphWeight` and a list of strings, one per constant or node
        that does not fit the generator (empty when the graph is laid out as expected).
    """
    return _WeightSearch(graph).run()
