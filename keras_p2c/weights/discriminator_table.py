"""Port table for the reference discriminators (`disGA`, `disGB`, `disLA`, `disLB`).

The key names and layouts are listed in `keras_p2c.models.discriminator`;
spectral layers carry `weight_orig` (the trainable un-normalised weight),
`weight_u` and `weight_v` (the power-iteration state) and, for the body
convolutions, a bias.
"""

import numpy as np

from keras_p2c.models import Discriminator
from keras_p2c.weights.porting import (
    WeightConversionError,
    WeightPorter,
    build_network,
    conv_kernel,
    spectral_conv_v,
    torch_dense_kernel,
)


def _port_spectral_conv(porter, layer, prefix):
    kh, kw, in_channels, out_channels = layer.kernel.shape
    porter.port(layer.kernel, prefix + "weight_orig", conv_kernel)
    porter.port(layer.u, prefix + "weight_u")
    porter.port(layer.v, prefix + "weight_v", spectral_conv_v((out_channels, in_channels, kh, kw)))
    if layer.use_bias:
        porter.port(layer.bias, prefix + "bias")


def _port_spectral_dense(porter, layer, prefix):
    porter.port(layer.kernel, prefix + "weight_orig", torch_dense_kernel)
    porter.port(layer.u, prefix + "weight_u")
    porter.port(layer.v, prefix + "weight_v")


def port_discriminator(porter, discriminator):
    """Fills a built `Discriminator` from a reference state dict held by `porter`."""
    for layer in discriminator.body:
        index = layer.name.split("_")[-1]
        _port_spectral_conv(porter, layer, f"model.{index}.")
    _port_spectral_dense(porter, discriminator.cam.gap_fc, "gap_fc.")
    _port_spectral_dense(porter, discriminator.cam.gmp_fc, "gmp_fc.")
    porter.port(discriminator.cam.conv1x1.kernel, "conv1x1.weight", conv_kernel)
    porter.port(discriminator.cam.conv1x1.bias, "conv1x1.bias")
    _port_spectral_conv(porter, discriminator.conv, "conv.")


def infer_discriminator_options(state_dict, source_name="state dict"):
    """Reads ndf and n_layers off a reference discriminator state dict."""
    if "model.1.weight_orig" not in state_dict:
        raise WeightConversionError(
            f"{source_name} is not a Photo2Cartoon discriminator: no 'model.1.weight_orig' "
            f"(found {sorted(state_dict)[:6]})."
        )
    ndf = int(np.shape(state_dict["model.1.weight_orig"])[0])
    n_convs = 0
    while f"model.{3 * n_convs + 1}.weight_orig" in state_dict:
        n_convs += 1
    return {"ndf": ndf, "n_layers": n_convs + 1}


def discriminator_from_state_dict(state_dict, source_name="state dict"):
    """Builds a `Discriminator` shaped like `state_dict` and fills it (strictly)."""
    options = infer_discriminator_options(state_dict, source_name)
    discriminator = build_network(Discriminator, options, source_name, "ndf")
    discriminator.build((None, None, None, 3))
    porter = WeightPorter(state_dict, source_name)
    port_discriminator(porter, discriminator)
    porter.finish(discriminator)
    return discriminator
