"""Port table for MobileFaceNet: InsightFace_Pytorch's `model_mobilefacenet.pth` → `MobileFaceNet`.

The state dict has, per conv block `<p>` (`conv1`, `conv_23.conv_dw`,
`conv_3.model.0.project`, ...): `<p>.conv.weight` (OIHW; depthwise
`[C, 1, kh, kw]`), `<p>.bn.{weight,bias,running_mean,running_var,num_batches_tracked}`
and, with an activation, `<p>.prelu.weight` `[C]`; then `linear.weight`
`[512, 512]` and `bn.*` of the embedding. `num_batches_tracked` only counts
training steps and is skipped.
"""

import numpy as np

from keras_p2c.models.face_id import INPUT_SIZE, FaceFeatures, MobileFaceNet
from keras_p2c.weights.porting import WeightConversionError, WeightPorter, conv_kernel, torch_dense_kernel
from keras_p2c.weights.torch_checkpoint import read_torch_checkpoint

IGNORED_KEYS = ("*num_batches_tracked",)
# Saved from `nn.DataParallel`, every key carries this prefix.
DATA_PARALLEL_PREFIX = "module."


def depthwise_kernel(array):
    """torch depthwise `[C, 1, kh, kw]` → Keras DepthwiseConv2D `[kh, kw, C, 1]`."""
    return np.transpose(array, (2, 3, 0, 1))


def prelu_alpha(array):
    """torch PReLU `[C]` → Keras PReLU with shared spatial axes `[1, 1, C]`."""
    return np.reshape(array, (1, 1, -1))


def _port_batch_norm(porter, bn, prefix):
    porter.port(bn.gamma, prefix + "weight")
    porter.port(bn.beta, prefix + "bias")
    porter.port(bn.moving_mean, prefix + "running_mean")
    porter.port(bn.moving_variance, prefix + "running_var")


def _port_conv_block(porter, block, prefix):
    porter.port(block.conv.kernel, prefix + "conv.weight", depthwise_kernel if block.depthwise else conv_kernel)
    _port_batch_norm(porter, block.bn, prefix + "bn.")
    if block.prelu is not None:
        porter.port(block.prelu.alpha, prefix + "prelu.weight", prelu_alpha)


def _port_depth_wise(porter, block, prefix):
    _port_conv_block(porter, block.conv, prefix + "conv.")
    _port_conv_block(porter, block.conv_dw, prefix + "conv_dw.")
    _port_conv_block(porter, block.project, prefix + "project.")


def port_mobilefacenet(porter, model):
    """Fills `model` (a built `MobileFaceNet`) from the state dict held by `porter`."""
    _port_conv_block(porter, model.conv1, "conv1.")
    _port_conv_block(porter, model.conv2_dw, "conv2_dw.")
    for down, stack in model.stages():
        _port_depth_wise(porter, down, down.name + ".")
        stack_name = stack[0].name.rsplit("_model_", 1)[0]
        for index, block in enumerate(stack):
            _port_depth_wise(porter, block, f"{stack_name}.model.{index}.")
    _port_conv_block(porter, model.conv_6_sep, "conv_6_sep.")
    _port_conv_block(porter, model.conv_6_dw, "conv_6_dw.")
    porter.port(model.linear.kernel, "linear.weight", torch_dense_kernel)
    _port_batch_norm(porter, model.bn, "bn.")


def _strip_data_parallel_prefix(state_dict):
    keys = list(state_dict)
    if keys and all(isinstance(key, str) and key.startswith(DATA_PARALLEL_PREFIX) for key in keys):
        return {key[len(DATA_PARALLEL_PREFIX) :]: value for key, value in state_dict.items()}
    return state_dict


def mobilefacenet_from_state_dict(state_dict, source_name="state dict", model=None):
    """Fills a `MobileFaceNet` from a state dict of NumPy arrays (strictly: every key used, every variable filled).

    Args:
        state_dict: mapping of the reference's names → arrays; a `module.`
            prefix on every key (a `DataParallel` save) is dropped.
        source_name: how to call the source in errors (e.g. the file name).
        model: a `MobileFaceNet` to fill; by default a new one, with the
            embedding size read off `linear.weight`.

    Returns:
        The filled, built model.

    Raises:
        WeightConversionError: listing every missing, unexpected or mis-shaped key.
    """
    if not isinstance(state_dict, dict):
        raise WeightConversionError(
            f"{source_name}: expected a MobileFaceNet state dict (a dict of tensors); "
            f"found {type(state_dict).__name__}."
        )
    state_dict = _strip_data_parallel_prefix(state_dict)
    if model is None:
        linear = state_dict.get("linear.weight")
        embedding_size = int(np.shape(linear)[0]) if linear is not None and np.ndim(linear) == 2 else 512
        model = MobileFaceNet(embedding_size)
    if not model.built:
        model.build((None, INPUT_SIZE, INPUT_SIZE, 3))
    porter = WeightPorter(state_dict, source_name, ignore=IGNORED_KEYS)
    port_mobilefacenet(porter, model)
    porter.finish(model)
    return model


def load_mobilefacenet(path, model=None):
    """Reads InsightFace_Pytorch's `model_mobilefacenet.pth` (no PyTorch needed) into a Keras `MobileFaceNet`.

    Args:
        path: the `.pth` file (`torch.save` of the MobileFaceNet state dict).
        model: an existing `MobileFaceNet` to fill (e.g. `FaceFeatures().backbone`).

    Raises:
        CheckpointError: the file is not a readable PyTorch checkpoint.
        WeightConversionError: it does not hold MobileFaceNet's weights.
    """
    state_dict = read_torch_checkpoint(path)
    return mobilefacenet_from_state_dict(state_dict, source_name=f"{path} (MobileFaceNet)", model=model)


def load_face_features(path):
    """A frozen `FaceFeatures` embedder (crop, resize, MobileFaceNet) with the weights of `path`."""
    features = FaceFeatures()
    features.build((None, None, None, 3))
    load_mobilefacenet(path, model=features.backbone)
    return features
