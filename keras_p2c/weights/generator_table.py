"""Port tables for the generator: original Photo2Cartoon (.pt) and PaddleGAN (.pdparams) names.

The two releases differ only in names, Linear biases (the Paddle port has
none) and Linear layout ([in, out] in Paddle, [out, in] in torch); see the
reference spec's name table. `GeneratorNames` turns each Keras sub-layer into
the key prefix of one release, and `port_generator` reads the same table for
both.
"""

import numpy as np

from keras_p2c.models.generator import options_from_fc0
from keras_p2c.weights.porting import WeightConversionError, conv_kernel, identity, per_channel, torch_dense_kernel

# Dead `ConvBlock4` weights: the original builds a 1×1 residual conv in every
# ConvBlock, but all of Photo2Cartoon's ConvBlocks are 32 → 32, so it is never used.
ORIGINAL_DEAD_KEYS = ("*.ConvBlock4.2.weight",)


class GeneratorNames:
    """Key prefixes of one release's generator state dict."""

    def __init__(self, paddle):
        self.paddle = paddle

    def stem(self):
        return "DownBlock.1." if self.paddle else "ConvBlock1.1."

    def hourglass(self, index):
        if self.paddle:
            return {1: "DownBlock.4.", 2: "DownBlock.5.", 3: "UpBlock.10.", 4: "UpBlock.11."}[index]
        return f"HourGlass{index}."

    def down(self, index):
        return {1: "DownBlock.7.", 2: "DownBlock.11."}[index] if self.paddle else f"DownBlock{index}.1."

    def up_conv(self, index):
        return {1: "UpBlock.2.", 2: "UpBlock.7."}[index] if self.paddle else f"UpBlock{index}.2."

    def up_norm(self, index):
        return {1: "UpBlock.3.", 2: "UpBlock.8."}[index] if self.paddle else f"UpBlock{index}.3."

    def final(self):
        return "UpBlock.13." if self.paddle else "ConvBlock2.1."

    def hourglass_block_child(self, keras_name):
        """`ConvBlock1_1` → `ConvBlockskip1` (Paddle), `ConvBlock1_2` → `ConvBlock1`; 5-9 unchanged."""
        if self.paddle and keras_name.endswith("_1"):
            return "ConvBlockskip" + keras_name[len("ConvBlock") : -2]
        if self.paddle and keras_name.endswith("_2"):
            return keras_name[:-2]
        return keras_name

    def conv_branch(self, index):
        return f"conv_block{index}.3.weight" if self.paddle else f"ConvBlock{index}.3.weight"

    def dense_kernel_hook(self):
        return identity if self.paddle else torch_dense_kernel


def _port_dense(porter, names, layer, prefix):
    porter.port(layer.kernel, prefix + "weight", names.dense_kernel_hook())
    if layer.use_bias:
        porter.port(layer.bias, prefix + "bias")


def _port_conv(porter, layer, prefix):
    porter.port(layer.kernel, prefix + "weight", conv_kernel)
    if layer.use_bias:
        porter.port(layer.bias, prefix + "bias")


def _port_conv_block(porter, names, block, prefix):
    for index, conv in enumerate((block.ConvBlock1, block.ConvBlock2, block.ConvBlock3), start=1):
        porter.port(conv.kernel, prefix + names.conv_branch(index), conv_kernel)
    if block.ConvBlock4 is not None:
        porter.port(block.ConvBlock4.kernel, prefix + ("conv_skip.2.weight" if names.paddle else "ConvBlock4.2.weight"), conv_kernel)


def _port_hourglass(porter, names, hourglass, prefix):
    hg_block = hourglass.HG_0
    # In the order the forward pass uses them (ConvBlock1_1, 1_2, 2_1, ...): the ONNX reader maps weights
    # that lost their names by the graph's order, taking the expected order from this table.
    levels = [block for pair in zip(hg_block.skip_blocks, hg_block.down_blocks) for block in pair]
    for child in levels + [hg_block.ConvBlock5] + hg_block.up_blocks:
        _port_conv_block(porter, names, child, f"{prefix}HG.0.{names.hourglass_block_child(child.name)}.")
    _port_conv_block(porter, names, hourglass.HG_1, prefix + "HG.1.")
    _port_conv(porter, hourglass.HG_2, prefix + "HG.2.")
    _port_conv(porter, hourglass.Conv1, prefix + "Conv1.")
    if hourglass.use_res:
        _port_conv(porter, hourglass.Conv2, prefix + "Conv2.")
        _port_conv(porter, hourglass.Conv3, prefix + "Conv3.")


def _port_soft_adalin(porter, names, norm, prefix):
    porter.port(norm.w_gamma, prefix + "w_gamma", per_channel)
    porter.port(norm.w_beta, prefix + "w_beta", per_channel)
    porter.port(norm.norm.rho, prefix + "norm.rho", per_channel)
    for layer, key in (
        (norm.c_gamma_0, "c_gamma.0."),
        (norm.c_gamma_2, "c_gamma.2."),
        (norm.c_beta_0, "c_beta.0."),
        (norm.c_beta_2, "c_beta.2."),
        (norm.s_gamma, "s_gamma."),
        (norm.s_beta, "s_beta."),
    ):
        _port_dense(porter, names, layer, prefix + key)


def _full_mode_fc_hook(generator, names):
    """The full model's FC.0 sees the map flattened as (C, H, W); Keras flattens (H, W, C)."""
    side, channels = generator.img_size // 4, generator.ngf * 4

    def hook(array):
        kernel = names.dense_kernel_hook()(array)  # [C·H·W, units]
        units = kernel.shape[-1]
        return kernel.reshape(channels, side, side, units).transpose(1, 2, 0, 3).reshape(-1, units)

    return hook


def port_generator(porter, generator, paddle=False):
    """Fills `generator` (a built `Generator`) from one release's state dict held by `porter`.

    Tensors of one kind and shape are asked for in the order the forward pass uses them (the ONNX
    reader relies on it); the order across kinds does not matter.
    """
    names = GeneratorNames(paddle)
    porter.port(generator.ConvBlock1_conv.kernel, names.stem() + "weight", conv_kernel)
    for index in (1, 2, 3, 4):
        _port_hourglass(porter, names, getattr(generator, f"HourGlass{index}"), names.hourglass(index))
    porter.port(generator.DownBlock1_conv.kernel, names.down(1) + "weight", conv_kernel)
    porter.port(generator.DownBlock2_conv.kernel, names.down(2) + "weight", conv_kernel)
    for index, block in enumerate(generator.EncodeBlocks, start=1):
        porter.port(block.conv_block_1.kernel, f"EncodeBlock{index}.conv_block.1.weight", conv_kernel)
        porter.port(block.conv_block_5.kernel, f"EncodeBlock{index}.conv_block.5.weight", conv_kernel)
    _port_dense(porter, names, generator.cam.gap_fc, "gap_fc.")
    _port_dense(porter, names, generator.cam.gmp_fc, "gmp_fc.")
    _port_conv(porter, generator.cam.conv1x1, "conv1x1.")
    if generator.light:
        _port_dense(porter, names, generator.FC_0, "FC.0.")
    else:
        porter.port(generator.FC_0.kernel, "FC.0.weight", _full_mode_fc_hook(generator, names))
        if generator.FC_0.use_bias:
            porter.port(generator.FC_0.bias, "FC.0.bias")
    _port_dense(porter, names, generator.FC_2, "FC.2.")
    for index, block in enumerate(generator.DecodeBlocks, start=1):
        prefix = f"DecodeBlock{index}."
        porter.port(block.conv1.kernel, prefix + "conv1.weight", conv_kernel)
        porter.port(block.conv2.kernel, prefix + "conv2.weight", conv_kernel)
        _port_soft_adalin(porter, names, block.norm1, prefix + "norm1.")
        _port_soft_adalin(porter, names, block.norm2, prefix + "norm2.")
    for index in (1, 2):
        conv = getattr(generator, f"UpBlock{index}_conv")
        norm = getattr(generator, f"UpBlock{index}_norm")
        porter.port(conv.kernel, names.up_conv(index) + "weight", conv_kernel)
        for variable, key in ((norm.rho, "rho"), (norm.gamma, "gamma"), (norm.beta, "beta")):
            porter.port(variable, names.up_norm(index) + key, per_channel)
    porter.port(generator.ConvBlock2_conv.kernel, names.final() + "weight", conv_kernel)


def infer_generator_options(state_dict, paddle=False, source_name="state dict"):
    """Reads ngf, n_blocks, light and linear_bias off a generator state dict.

    Raises:
        WeightConversionError: the tensors the options are read from are missing or have the wrong rank,
            listing each of them (the state dict is then not a Photo2Cartoon generator of this release).
    """
    names = GeneratorNames(paddle)
    needed = {names.stem() + "weight": 4, "FC.0.weight": 2}
    problems = []
    for key, rank in needed.items():
        if key not in state_dict:
            problems.append(f"missing key {key!r}")
        elif np.ndim(state_dict[key]) != rank:
            problems.append(f"{key!r} has shape {tuple(np.shape(state_dict[key]))}, expected {rank} dimensions")
    if problems:
        release = "PaddleGAN (.pdparams)" if paddle else "original (.pt)"
        found = ", ".join(repr(key) for key in sorted(state_dict)[:6]) or "nothing"
        raise WeightConversionError(
            f"{source_name} is not a Photo2Cartoon generator in the {release} layout: "
            f"{'; '.join(problems)} (it holds {len(state_dict)} tensor(s): {found}"
            f"{', ...' if len(state_dict) > 6 else ''})."
        )
    stem = np.shape(state_dict[names.stem() + "weight"])
    ngf = int(stem[0])
    if ngf < 1:  # the other options are read relative to it
        raise WeightConversionError(f"{source_name}: {names.stem()}weight has shape {stem}: no channels.")
    n_blocks = 0
    while f"EncodeBlock{n_blocks + 1}.conv_block.1.weight" in state_dict:
        n_blocks += 1
    fc0 = np.shape(state_dict["FC.0.weight"])
    fc0_in = int(fc0[0] if paddle else fc0[1])
    return {"ngf": ngf, "n_blocks": n_blocks, **options_from_fc0(ngf, fc0_in), "linear_bias": "gap_fc.bias" in state_dict}
