import re

import keras
import numpy as np
import pytest

from keras_p2c.layers import ConvBlock, HourGlass, HourGlassBlock, ResnetBlock, ResnetSoftAdaLINBlock
from keras_p2c.layers.blocks import upsample_nearest
from tests.testing import run_layer_test

# Parameter counts of the reference at 32/128 channels, less the 1,024 dead
# `ConvBlock4` weights in each of its ConvBlocks (Photo2Cartoon never uses them).
DEAD_PER_CONVBLOCK = 32 * 32


def test_conv_block_layer():
    run_layer_test(ConvBlock, {"filters": 8}, (2, 16, 16, 8), (2, 16, 16, 8), 3)


def test_conv_block_with_channel_change_has_residual_conv():
    layer = run_layer_test(ConvBlock, {"filters": 8}, (2, 16, 16, 4), (2, 16, 16, 8), 4)
    assert layer.ConvBlock4 is not None


def test_conv_block_with_zero_kernels_is_identity():
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 8)).astype("float32")
    layer = ConvBlock(8)
    layer.build(x.shape)
    for conv in (layer.ConvBlock1, layer.ConvBlock2, layer.ConvBlock3):
        conv.kernel.assign(np.zeros(conv.kernel.shape))
    np.testing.assert_allclose(layer(x), x, atol=1e-6)


def test_conv_block_needs_filters_divisible_by_four():
    with pytest.raises(ValueError, match="Received: filters=6"):
        ConvBlock(6)


def test_hourglass_block_layer():
    run_layer_test(HourGlassBlock, {"filters": 8}, (1, 32, 32, 8), (1, 32, 32, 8), 39, run_mixed_precision=False)


@pytest.mark.parametrize("use_res, channels, weights", [(True, 8, 49), (False, 3, 45)])
def test_hourglass_layer(use_res, channels, weights):
    run_layer_test(HourGlass, {"filters": 8, "use_res": use_res}, (1, 32, 32, 8), (1, 32, 32, channels), weights)


@pytest.mark.parametrize(
    "layer, reference_params, convblocks",
    [(HourGlassBlock(32), 95_680, 13), (HourGlass(32), 105_347, 14), (HourGlass(32, use_res=False), 104_163, 14)],
)
def test_hourglass_parameter_counts_match_the_reference(layer, reference_params, convblocks):
    layer.build((1, 64, 64, 32))
    assert layer.count_params() == reference_params - convblocks * DEAD_PER_CONVBLOCK


def test_hourglass_with_residual_needs_matching_channels():
    with pytest.raises(ValueError, match="needs 8 input channels"):
        HourGlass(8)(np.zeros((1, 16, 16, 4), "float32"))


def test_resnet_block_layer():
    run_layer_test(ResnetBlock, {}, (2, 8, 8, 4), (2, 8, 8, 4), 2)


def test_resnet_block_parameter_count_matches_the_reference():
    layer = ResnetBlock()
    layer.build((1, 64, 64, 128))
    assert layer.count_params() == 294_912


def test_resnet_soft_adalin_block_layer():
    run_layer_test(ResnetSoftAdaLINBlock, {"use_bias": True}, [(2, 8, 8, 4), (2, 4), (2, 4)], (2, 8, 8, 4), 32)


def test_resnet_soft_adalin_block_parameter_count_matches_the_reference():
    layer = ResnetSoftAdaLINBlock()
    layer.build([(1, 64, 64, 128), (1, 128), (1, 128)])
    assert layer.count_params() == 493_824


def test_upsample_is_nearest_pixel_repeat():
    x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    expected = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]], "float32")
    np.testing.assert_array_equal(np.asarray(upsample_nearest(x))[0, :, :, 0], expected)


@pytest.mark.parametrize("layer_cls", [ConvBlock, HourGlassBlock, HourGlass])
@pytest.mark.parametrize("filters", [0, -4, 6, 8.0, "8", True])
def test_filters_must_be_a_positive_multiple_of_four(layer_cls, filters):
    with pytest.raises(ValueError, match=r"`filters` must be a positive integer divisible by 4\. Received: filters="):
        layer_cls(filters)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: HourGlass(8, use_res=1), r"`use_res` must be a bool\. Received: use_res=1"),
        (lambda: ResnetSoftAdaLINBlock(use_bias="no"), r"`use_bias` must be a bool\. Received: use_bias='no'"),
        (lambda: ResnetSoftAdaLINBlock(epsilon=0.0), r"`epsilon` must be a positive number\. Received: epsilon=0\.0"),
    ],
)
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_arguments_are_public_attributes():
    assert ConvBlock(8).filters == 8
    assert (HourGlass(8, use_res=False).filters, HourGlass(8, use_res=False).use_res) == (8, False)
    block = ResnetSoftAdaLINBlock(use_bias=False, epsilon=1e-4)
    assert (block.use_bias, block.epsilon, block.norm1.use_bias, block.norm2.epsilon) == (False, 1e-4, False, 1e-4)


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (ConvBlock(8), keras.Input((16, 16, None))),
        (HourGlassBlock(8), keras.Input((32, 32, None))),
        (HourGlass(8), keras.Input((32, 32, None))),
        (ResnetBlock(), keras.Input((8, 8, None))),
        (ResnetSoftAdaLINBlock(), [keras.Input((8, 8, None)), keras.Input((4,)), keras.Input((4,))]),
    ],
)
def test_undefined_channels_are_refused(layer, inputs):
    with pytest.raises(ValueError, match=r"channel axis \(-1\) of the (input|x) of .* must have a defined size"):
        layer(inputs)


@pytest.mark.parametrize("shape", [(1, 24, 32, 8), (1, 32, 16, 8)])
def test_hourglass_needs_sizes_divisible_by_sixteen_and_at_least_32(shape):
    message = f"multiples of 16 (four 2×2 pools) and at least 32. Received: input_shape={shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        HourGlass(8).build(shape)


def test_input_spec_pins_the_channels():
    layer = ResnetBlock()
    layer(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(np.zeros((1, 4, 4, 5), "float32"))


def test_resnet_soft_adalin_block_weight_order_is_the_converters():
    layer = ResnetSoftAdaLINBlock(name="b")
    layer.build([(1, 8, 8, 4), (1, 4), (1, 4)])
    prefixes = [w.path.split("/")[1] for w in layer.weights]
    assert prefixes == ["norm1"] * 15 + ["norm2"] * 15 + ["conv1", "conv2"]
