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
