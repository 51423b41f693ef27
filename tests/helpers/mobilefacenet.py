"""Random MobileFaceNet state dicts in InsightFace_Pytorch's layout (`model_mobilefacenet.pth`), NumPy only."""

import collections

import numpy as np

# (stride-2 block, in, out, inner channels) and (residual stack, channels, inner channels, blocks),
# written out from the reference spec's description of MobileFaceNet.
DOWN_BLOCKS = [("conv_23", 64, 64, 128), ("conv_34", 64, 128, 256), ("conv_45", 128, 128, 512)]
STACKS = [("conv_3", 64, 128, 4), ("conv_4", 128, 256, 6), ("conv_5", 128, 256, 2)]


def reference_shapes(embedding_size=512):
    """Key → shape of the InsightFace_Pytorch MobileFaceNet state dict, in the reference's order."""
    shapes = collections.OrderedDict()

    def block(prefix, in_channels, out_channels, kernel, depthwise=False, prelu=True):
        shapes[prefix + "conv.weight"] = (out_channels, 1 if depthwise else in_channels, kernel, kernel)
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}bn.{name}"] = (out_channels,)
        shapes[prefix + "bn.num_batches_tracked"] = ()
        if prelu:
            shapes[prefix + "prelu.weight"] = (out_channels,)

    def depth_wise(prefix, in_channels, out_channels, inner):
        block(prefix + "conv.", in_channels, inner, 1)
        block(prefix + "conv_dw.", inner, inner, 3, depthwise=True)
        block(prefix + "project.", inner, out_channels, 1, prelu=False)

    block("conv1.", 3, 64, 3)
    block("conv2_dw.", 64, 64, 3, depthwise=True)
    for (down, d_in, d_out, d_inner), (stack, channels, inner, count) in zip(DOWN_BLOCKS, STACKS):
        depth_wise(down + ".", d_in, d_out, d_inner)
        for index in range(count):
            depth_wise(f"{stack}.model.{index}.", channels, channels, inner)
    block("conv_6_sep.", 128, 512, 1)
    block("conv_6_dw.", 512, 512, 7, depthwise=True, prelu=False)
    shapes["linear.weight"] = (embedding_size, 512)
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes["bn." + name] = (embedding_size,)
    shapes["bn.num_batches_tracked"] = ()
    return shapes


def random_state_dict(seed=0, embedding_size=512):
    """Random weights with a sensible scale (He-like kernels, positive variances)."""
    rng = np.random.default_rng(seed)
    state = collections.OrderedDict()
    for key, shape in reference_shapes(embedding_size).items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.array(1000, dtype="int64")
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 1.5, shape).astype("float32")
        elif key.endswith("running_mean") or key.endswith("bn.bias"):
            state[key] = rng.uniform(-0.1, 0.1, shape).astype("float32")
        elif key.endswith("bn.weight"):
            state[key] = rng.uniform(0.8, 1.2, shape).astype("float32")
        elif key.endswith("prelu.weight"):
            state[key] = rng.uniform(0.0, 0.5, shape).astype("float32")
        else:
            fan_in = int(np.prod(shape[1:]))
            state[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype("float32")
    return state
