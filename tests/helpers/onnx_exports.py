"""Reference generators (`tests/reference`) exported to ONNX the way the original's file was made, and variants
of those files whose weights lost their names.

The original's `photo2cartoon_weights.onnx` (2020-12, PyTorch 1.4-1.7) came from `torch.onnx.export`'s
TorchScript exporter, whose default opset then was 9. Importers skip first when torch or onnx is missing.
"""

import random
import warnings

import numpy as np
import onnx
import onnxruntime
import torch


def export_generator(net, path, size=64, freeze=False, opset=9, **options):
    """`torch.onnx.export` (TorchScript exporter) with the original's input and output names.

    Args:
        freeze: export `torch.jit.freeze(torch.jit.trace(net))`: every weight becomes an unnamed `Constant`
            node, and constants such as 1 − ρ are folded.
        **options: passed on (e.g. `do_constant_folding`, `keep_initializers_as_inputs`).
    """
    x = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        module = torch.jit.freeze(torch.jit.trace(net, x)) if freeze else net
        torch.onnx.export(
            module, x, path, input_names=["input"], output_names=["output"], opset_version=opset, dynamo=False,
            **options,
        )
    return path


def strip_names(source, destination):
    """The same graph with its initializers renamed `w0`, `w1`, ... and stored in shuffled order."""
    model = onnx.load(source)
    tensors = list(model.graph.initializer)
    names = {tensor.name: f"w{i}" for i, tensor in enumerate(tensors)}
    for tensor in tensors:
        tensor.name = names[tensor.name]
    for node in model.graph.node:
        for i, value in enumerate(node.input):
            node.input[i] = names.get(value, value)
    for value in model.graph.input:
        value.name = names.get(value.name, value.name)
    random.Random(0).shuffle(tensors)
    del model.graph.initializer[:]
    model.graph.initializer.extend(tensors)
    onnx.save(model, destination)
    return destination


def content_first_forward(self, x, content, style):
    """Soft-AdaLIN computing the content MLPs before the style ones, the order the original's forward uses.

    Same arithmetic as `torch_reference.SoftMix.forward`; only the order of the graph's nodes changes.
    """
    content_gamma, content_beta = self.c_gamma(content), self.c_beta(content)
    style_gamma, style_beta = self.s_gamma(style), self.s_beta(style)
    gamma = (1 - self.w_gamma) * style_gamma + self.w_gamma * content_gamma
    beta = (1 - self.w_beta) * style_beta + self.w_beta * content_beta
    return self.norm(x, gamma, beta)


def run_onnx(path, x_nchw):
    """The graph's `output` on onnxruntime (CPU)."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x_nchw})[0]


def assert_matches_onnxruntime(generator, path, size, atol=1e-4):
    """The Keras generator's image equals the graph's on one random input in [-1, 1]; returns the max difference."""
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, size, size)).astype("float32")
    expected = run_onnx(path, x)
    actual = np.transpose(np.asarray(generator(np.transpose(x, (0, 2, 3, 1)))[0]), (0, 3, 1, 2))
    difference = float(np.max(np.abs(actual - expected)))
    assert difference <= atol, f"max |Keras − onnxruntime| = {difference:.3g} > {atol}"
    return difference


def state_dict_without_dead_weights(net):
    """The reference network's state dict as arrays, less the dead `ConvBlock4` weights an export drops."""
    return {k: v.detach().numpy() for k, v in net.state_dict().items() if ".ConvBlock4.2." not in k}
