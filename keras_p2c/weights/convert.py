"""Official Photo2Cartoon checkpoints → Keras networks.

Three files exist (see the reference spec, "Checkpoint formats" and "ONNX path"):

* `photo2cartoon_weights.pt` (minivision-ai, PyTorch): a dict of six state
  dicts `genA2B`, `genB2A`, `disGA`, `disGB`, `disLA`, `disLB`;
* `photo2cartoon_genA2B_weight.pdparams` (PaddleGAN): one generator's flat
  state dict with Paddle's names, no Linear biases, Linear kernels [in, out];
* `photo2cartoon_weights.onnx` (minivision-ai's CPU model): the photo → cartoon
  generator's graph, its weights as initializers (`onnx_checkpoint`).

Neither torch nor paddle is needed: the readers in this package rebuild the
arrays with a restricted unpickler; the ONNX file is read with `onnx` alone.
"""

from pathlib import Path

from keras_p2c.models import Generator
from keras_p2c.models.names import GENERATORS, NETWORKS
from keras_p2c.weights.checkpoint import read_checkpoint
from keras_p2c.weights.discriminator_table import discriminator_from_state_dict
from keras_p2c.weights.generator_table import ORIGINAL_DEAD_KEYS, infer_generator_options, port_generator
from keras_p2c.weights.onnx_checkpoint import looks_like_onnx, read_onnx_generator
from keras_p2c.weights.porting import WeightConversionError, WeightPorter, build_network


def generator_from_state_dict(state_dict, paddle=False, source_name="state dict", **options):
    """Builds a `Generator` shaped like `state_dict` and fills it (strictly)."""
    inferred = infer_generator_options(state_dict, paddle=paddle, source_name=source_name)
    inferred.update(options)
    generator = build_network(Generator, inferred, source_name, "ngf")
    generator.build((None, inferred["img_size"], inferred["img_size"], 3))
    porter = WeightPorter(state_dict, source_name, ignore=() if paddle else ORIGINAL_DEAD_KEYS)
    port_generator(porter, generator, paddle=paddle)
    porter.finish(generator)
    return generator


def generator_from_onnx(path, network="genA2B"):
    """The generator of an ONNX file (the original's `photo2cartoon_weights.onnx`), strictly converted.

    Args:
        path: the `.onnx` file.
        network: what the caller takes the file for; it holds one generator (the original's is genA2B).

    Returns:
        `(generator, mapping)`: the Keras `Generator` and how the weights were found in the graph
        (`"names"`, `"graph order"` or `"names and graph order"`, see `read_onnx_generator`).
    """
    if network not in GENERATORS:
        raise WeightConversionError(f"{path}: an ONNX file holds one generator, not {network}.")
    state_dict, mapping = read_onnx_generator(path)
    generator = generator_from_state_dict(state_dict, source_name=f"{path} (ONNX, weights by {mapping})")
    return generator, mapping


def _network_state_dict(contents, network, path):
    if not isinstance(contents, dict) or network not in contents:
        # Sorted by repr: the keys of a damaged or foreign file may mix types, which do not sort.
        found = sorted(map(repr, contents))[:8] if isinstance(contents, dict) else type(contents).__name__
        raise WeightConversionError(
            f"{path}: expected the original Photo2Cartoon checkpoint, a dict with the networks "
            f"{', '.join(NETWORKS)}; found {found}. A single generator's state dict can be converted "
            "from a .pdparams file, or pass --network to pick a network."
        )
    state_dict = contents[network]
    if not isinstance(state_dict, dict):
        raise WeightConversionError(
            f"{path}: {network!r} holds a {type(state_dict).__name__}, not a state dict (parameter names → tensors)."
        )
    names = [key for key in state_dict if not isinstance(key, str)]
    if names:
        listed = ", ".join(map(repr, names[:5]))
        raise WeightConversionError(f"{path}: {network!r} has keys that are no parameter names: {listed}.")
    return state_dict


def load_official_network(path, network="genA2B", format=None):
    """Reads one network out of an official checkpoint (either release) as a Keras model.

    Args:
        path: `.pt`/`.pth` (original), `.pdparams` (PaddleGAN) or `.onnx` (original's ONNX) file.
        network: one of `NETWORKS`; `.pdparams` and `.onnx` files hold only a generator.
        format: "pt", "pdparams" or "onnx"; read off the file when None.
    """
    if network not in NETWORKS:
        raise ValueError(f"`network` must be one of {', '.join(NETWORKS)}. Received: network={network!r}")
    if format == "onnx" or (format is None and looks_like_onnx(path)):
        return generator_from_onnx(path, network)[0]
    format, contents = read_checkpoint(path, format=format)
    if format == "pdparams":
        if network not in GENERATORS:
            raise WeightConversionError(f"{path}: a PaddleGAN .pdparams file holds one generator, not {network}.")
        return generator_from_state_dict(contents, paddle=True, source_name=f"{path} (PaddleGAN generator)")
    state_dict = _network_state_dict(contents, network, path)
    source_name = f"{path} [{network}]"
    if network in GENERATORS:
        return generator_from_state_dict(state_dict, source_name=source_name)
    return discriminator_from_state_dict(state_dict, source_name=source_name)


def load_official_networks(path):
    """All six networks of the original `photo2cartoon_weights.pt`, as a dict name → Keras model."""
    format, contents = read_checkpoint(path)
    if format != "pt":
        raise WeightConversionError(f"{path}: all six networks come only in the original .pt checkpoint.")
    networks = {}
    for network in NETWORKS:
        state_dict = _network_state_dict(contents, network, path)
        source_name = f"{path} [{network}]"
        if network in GENERATORS:
            networks[network] = generator_from_state_dict(state_dict, source_name=source_name)
        else:
            networks[network] = discriminator_from_state_dict(state_dict, source_name=source_name)
    return networks


def load_official_gan(gan, path):
    """Fills all six networks of a `Photo2CartoonGAN` from the original release's `photo2cartoon_weights.pt`.

    The file is read without torch (`load_official_networks`, strict: every tensor used, every weight
    filled). Optimiser state is not touched.

    Raises:
        WeightConversionError: the file is not the six-network checkpoint or does not convert.
        ValueError: its networks were built with other options than `gan` (the message lists them).
    """
    converted = load_official_networks(path)
    problems = [problem for name in NETWORKS for problem in _option_mismatches(gan, name, converted[name])]
    if problems:
        raise ValueError(
            f"{path}: the checkpoint's networks do not match this Photo2CartoonGAN: {'; '.join(problems)}. "
            "Build the GAN with the checkpoint's options."
        )
    for name in NETWORKS:
        source, target = converted[name], getattr(gan, name)
        shapes = [(tuple(a.shape), tuple(b.shape)) for a, b in zip(source.weights, target.weights)]
        if len(source.weights) != len(target.weights) or any(a != b for a, b in shapes):
            raise ValueError(f"{path}: {name}'s weights do not line up with this GAN's {name} ({shapes[:3]}...).")
        target.set_weights(source.get_weights())


def _option_mismatches(gan, name, source):
    if name in GENERATORS:
        keys = ["ngf", "n_blocks", "light", "linear_bias"] + ([] if gan.light else ["img_size"])
        wanted = {key: getattr(gan, key) for key in keys}
    else:
        depth = gan.global_layers if name in ("disGA", "disGB") else gan.local_layers
        wanted = {"ndf": gan.ndf, "n_layers": depth}
    found = {key: getattr(source, key) for key in wanted}
    if found == wanted:
        return []
    differing = ", ".join(f"{key}={found[key]} (GAN: {wanted[key]})" for key in wanted if found[key] != wanted[key])
    return [f"{name} has {differing}"]


def save_network(model, destination):
    """Writes a converted network as `.keras` (config + weights) or `.weights.h5` (weights only)."""
    destination = Path(destination)
    if not (destination.name.endswith(".keras") or destination.name.endswith(".weights.h5")):
        raise ValueError(f"{destination}: the output must end in .keras or .weights.h5")
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so an interrupted run leaves no half file.
    partial = destination.with_name(".partial-" + destination.name)
    if destination.name.endswith(".keras"):
        model.save(partial)
    else:
        model.save_weights(partial)
    partial.replace(destination)
    return destination
