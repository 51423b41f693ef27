"""The original's ONNX generator (`photo2cartoon_weights.onnx`) → Keras: weights found by name or by graph order,
checked tensor by tensor against the exported network and as a whole against onnxruntime on the same file;
`p2c convert` on such a file.

Exporting the generator takes seconds (≈5,000 graph nodes), so the default tests share one export — the
original's way, names kept — and make the name-losing variants from it by editing the file; the other ways
of exporting (frozen module, opset 18, unfolded graph, bias-free generator) and the 256² file are slow tests.
"""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from keras_p2c.cli.main import main as p2c  # noqa: E402
from keras_p2c.weights import CheckpointError  # noqa: E402
from keras_p2c.weights import onnx_parity  # noqa: E402
from keras_p2c.weights.convert import generator_from_onnx, load_official_network  # noqa: E402
from keras_p2c.weights.onnx_checkpoint import looks_like_onnx, read_onnx_generator  # noqa: E402
from keras_p2c.weights.porting import WeightConversionError  # noqa: E402
from tests.helpers.checkpoints import torch_generator  # noqa: E402
from tests.helpers.onnx_exports import (  # noqa: E402
    assert_matches_onnxruntime,
    content_first_forward,
    export_generator,
    state_dict_without_dead_weights,
    strip_names,
)
from tests.reference import torch_reference  # noqa: E402

SIZE = 64
# Keras on TensorFlow vs onnxruntime on the same 64² input at ngf 8: measured 3.2e-5.
ATOL = 1e-4


@pytest.fixture(scope="module")
def net():
    return torch_generator(ngf=8, n_blocks=2)


@pytest.fixture(scope="module")
def named(net, tmp_path_factory):
    """torch.onnx.export's defaults at opset 9 (constant folding on): state-dict names kept."""
    return export_generator(net, tmp_path_factory.mktemp("named") / "photo2cartoon_weights.onnx", size=SIZE)


@pytest.fixture(scope="module")
def stripped(named, tmp_path_factory):
    """The same file with every initializer renamed `w<i>` and stored shuffled: only the graph tells."""
    return strip_names(named, tmp_path_factory.mktemp("stripped") / "stripped.onnx")


def _edited(source, destination, edit):
    model = onnx.load(source)
    edit(model)
    onnx.save(model, destination)
    return destination


def _assert_exact(state_dict, net):
    expected = state_dict_without_dead_weights(net)
    assert sorted(state_dict) == sorted(expected)
    wrong = [k for k, v in expected.items() if not np.array_equal(np.reshape(state_dict[k], v.shape), v)]
    assert not wrong, f"{len(wrong)} weight(s) in the wrong place, e.g. {wrong[:3]}"


@pytest.mark.parametrize("which, mapping", [("named", "names"), ("stripped", "graph order")])
def test_every_weight_is_found_exactly(request, net, which, mapping):
    state_dict, found = read_onnx_generator(request.getfixturevalue(which))
    assert found == mapping
    _assert_exact(state_dict, net)


def test_the_generator_from_a_stripped_file_computes_what_onnxruntime_computes(stripped):
    generator, mapping = generator_from_onnx(stripped)
    assert mapping == "graph order"
    assert (generator.ngf, generator.n_blocks, generator.light, generator.linear_bias) == (8, 2, True, True)
    assert_matches_onnxruntime(generator, stripped, SIZE, atol=ATOL)


def test_a_renamed_weight_is_still_placed_by_graph_order(named, net, tmp_path):
    def rename(model):
        (tensor,) = [t for t in model.graph.initializer if t.name == "UpBlock1.2.weight"]
        tensor.name = "exported_conv.weight"
        for node in model.graph.node:
            node.input[:] = ["exported_conv.weight" if v == "UpBlock1.2.weight" else v for v in node.input]

    state_dict, mapping = read_onnx_generator(_edited(named, tmp_path / "renamed.onnx", rename))
    assert mapping == "names and graph order"
    _assert_exact(state_dict, net)


def test_the_format_is_read_off_the_name_or_the_bytes(named, net, tmp_path):
    unnamed = tmp_path / "model.bin"
    unnamed.write_bytes(named.read_bytes())
    pickle = tmp_path / "weights.pt"
    torch.save({"genA2B": {}}, pickle)
    assert looks_like_onnx(unnamed) and looks_like_onnx(tmp_path / "missing.onnx") and not looks_like_onnx(pickle)
    generator = load_official_network(unnamed)
    assert generator.count_params() == sum(v.size for v in state_dict_without_dead_weights(net).values())
    with pytest.raises(WeightConversionError, match="holds one generator, not disGA"):
        load_official_network(unnamed, network="disGA")


def test_a_misshaped_named_weight_is_named_with_the_file(named, tmp_path):
    def misshape(model):
        (tensor,) = [t for t in model.graph.initializer if t.name == "UpBlock1.3.gamma"]
        tensor.CopyFrom(onnx.numpy_helper.from_array(np.ones((1, 5, 1, 1), np.float32), tensor.name))

    path = _edited(named, tmp_path / "misshaped.onnx", misshape)
    with pytest.raises(WeightConversionError) as error:
        load_official_network(path)
    assert "shape mismatch for 'UpBlock1.3.gamma'" in str(error.value) and str(path) in str(error.value)


def test_a_weight_the_graph_takes_as_an_input_is_listed(stripped, tmp_path):
    taken = {}

    def to_input(model):
        (conv,) = [n for n in model.graph.node if n.op_type == "Conv" and n.name.startswith("/DecodeBlock1/conv2")]
        (tensor,) = [t for t in model.graph.initializer if t.name == conv.input[1]]
        model.graph.initializer.remove(tensor)
        model.graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, onnx.TensorProto.FLOAT, tensor.dims))
        taken["conv"] = conv.name

    path = _edited(stripped, tmp_path / "input.onnx", to_input)
    with pytest.raises(WeightConversionError) as error:
        read_onnx_generator(path)
    message = str(error.value)
    assert str(path) in message and f"Conv node {taken['conv']!r}: its weight is not a constant" in message


def test_files_that_are_not_onnx_or_are_cut_short_name_the_file(named, tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n" * 10)
    cut = tmp_path / "cut.onnx"
    whole = named.read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    for path, problem in ((text, "not an ONNX model"), (cut, "damaged")):
        with pytest.raises(CheckpointError, match=problem) as error:
            read_onnx_generator(path)
        assert str(path) in str(error.value)


def _small_model(path, weight_as_input=False):
    """Conv 3→8 3×3 and a ReLU: a valid ONNX model that is not the generator."""
    helper = onnx.helper
    weight = onnx.numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "conv.weight")
    inputs = [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 32, 32])]
    if weight_as_input:
        inputs.append(helper.make_tensor_value_info("conv.weight", onnx.TensorProto.FLOAT, [8, 3, 3, 3]))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "conv.weight"], ["h"]), helper.make_node("Relu", ["h"], ["output"])],
        "small",
        inputs,
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 8, 30, 30])],
        initializer=[] if weight_as_input else [weight],
    )
    onnx.save(helper.make_model(graph), path)
    return path


def test_another_model_is_refused_with_what_it_lacks(tmp_path):
    path = _small_model(tmp_path / "small.onnx")
    with pytest.raises(WeightConversionError) as error:
        read_onnx_generator(path)
    assert str(path) in str(error.value) and "7×7 stem" in str(error.value)
    assert "not a Photo2Cartoon generator" in str(error.value)
    bare = _small_model(tmp_path / "bare.onnx", weight_as_input=True)
    with pytest.raises(WeightConversionError, match="export_params=False") as error:
        read_onnx_generator(bare)
    assert str(bare) in str(error.value)


# --- p2c convert ---------------------------------------------------------------------------------------------


def test_convert_command_checks_the_file_on_onnxruntime(named, net, tmp_path, capsys):
    import keras

    destination = tmp_path / "genA2B.keras"
    assert p2c(["convert", str(named), str(destination)]) == 0
    out = capsys.readouterr().out
    assert "weights found by names" in out
    difference = float(re.search(r"max \|Keras − ONNX\| = (\S+) on a random 1×3×64×64 input", out).group(1))
    assert difference <= ATOL
    generator = keras.saving.load_model(destination)
    assert generator.count_params() == sum(v.size for v in state_dict_without_dead_weights(net).values())


def test_convert_command_without_onnxruntime_says_it_did_not_check(stripped, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(onnx_parity, "onnxruntime_available", lambda: False)
    destination = tmp_path / "genA2B.weights.h5"
    assert p2c(["convert", str(stripped), str(destination), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "weights found by graph order" in out and "not run against the graph" in out and destination.exists()


def test_convert_command_refuses_a_generator_that_differs_from_the_graph(named, tmp_path, capsys, monkeypatch):
    from keras_p2c.weights import convert

    convert_properly = convert.generator_from_onnx

    def swapped(path, network):
        generator, mapping = convert_properly(path, network)
        gamma = generator.UpBlock1_norm.gamma
        gamma.assign(np.ascontiguousarray(gamma.numpy()[::-1]))  # a weight in the wrong order, as a bad mapping would
        return generator, mapping

    monkeypatch.setattr(convert, "generator_from_onnx", swapped)
    destination = tmp_path / "genA2B.keras"
    assert p2c(["convert", str(named), str(destination)]) == 1
    err = capsys.readouterr().err
    assert str(named) in err and "differs from the ONNX graph" in err and "nothing was written" in err
    assert not destination.exists()


# --- other ways of exporting (slow: one export each) ----------------------------------------------------------

SLOW_VARIANTS = {
    # Frozen module: every weight an unnamed Constant node, 1 − ρ and 1 − w folded into constants of their own.
    "frozen": ({"freeze": True}, "graph order"),
    # Soft-AdaLIN evaluated content-first, as the original's forward does; opset 18 (reductions take their
    # axes as an input); names stripped.
    "content-first-opset18-stripped": ({"opset": 18, "content_first": True, "strip": True}, "graph order"),
    # Unfolded graph (Expand, Sub(1, ·)), initializers listed as inputs too (torch 1.x at opset 9), stripped.
    "unfolded-stripped": (
        {"do_constant_folding": False, "keep_initializers_as_inputs": True, "strip": True},
        "graph order",
    ),
    # The PaddleGAN-like bias-free generator: folding turns each Linear weight into an unnamed transpose.
    "no-linear-bias": ({"linear_bias": False}, "names and graph order"),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(SLOW_VARIANTS))
def test_other_exports_are_found_exactly_and_match_onnxruntime(tmp_path, variant):
    options, mapping = SLOW_VARIANTS[variant]
    options = dict(options)
    strip, content_first = options.pop("strip", False), options.pop("content_first", False)
    net = torch_generator(ngf=8, n_blocks=2, linear_bias=options.pop("linear_bias", True))
    path = tmp_path / "photo2cartoon_weights.onnx"
    with pytest.MonkeyPatch.context() as patch:
        if content_first:
            patch.setattr(torch_reference.SoftMix, "forward", content_first_forward)
        export_generator(net, path, size=SIZE, **options)
    if strip:
        path = strip_names(path, tmp_path / "stripped.onnx")
    state_dict, found = read_onnx_generator(path)
    assert found == mapping
    _assert_exact(state_dict, net)
    generator, _ = generator_from_onnx(path)
    assert_matches_onnxruntime(generator, path, SIZE, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("freeze", [False, True], ids=["named", "frozen"])
def test_the_released_configuration_matches_onnxruntime_at_256(tmp_path, freeze):
    """ngf 32, 4 blocks, a 1×3×256×256 input: what the original's file holds and takes."""
    net = torch_generator(ngf=32, n_blocks=4)
    path = export_generator(net, tmp_path / "photo2cartoon_weights.onnx", size=256, freeze=freeze)
    state_dict, found = read_onnx_generator(path)
    assert found == ("graph order" if freeze else "names")
    assert len(state_dict) == 406 - 56  # the release's tensors less the dead ConvBlock4 ones
    _assert_exact(state_dict, net)
    generator, _ = generator_from_onnx(path)
    assert generator.count_params() == 3_773_735
    # Measured at 256², ngf 32 over 3 random inputs: 7.0e-5 to 7.9e-5, nearly all onnxruntime's own float32
    # round-off (torch vs onnxruntime on the same file: 7.3e-5 to 7.8e-5; Keras vs torch: 2.0e-5 to 2.2e-5).
    assert_matches_onnxruntime(generator, path, 256, atol=ATOL)
