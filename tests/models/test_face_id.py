import os

import keras
import numpy as np
import pytest

from keras_p2c.layers.mobilefacenet import DepthWiseBlock, FaceConvBlock
from keras_p2c.losses import cosine_similarity, face_id_loss
from keras_p2c.models.face_crop import align_corners_matrix, face_crop_box, resize_bilinear_align_corners
from keras_p2c.models.face_id import FaceFeatures, MobileFaceNet
from tests.testing import count_params, run_layer_test

# From the reference: MobileFaceNet(512) has 1,200,512 parameters; its state dict
# adds 2 running statistics per BatchNorm channel (20,352 values).
REFERENCE_PARAMS = 1_200_512
REFERENCE_RUNNING_STATS = 20_352


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def calibrate_batch_norms(net, seed=0):
    """Running statistics of face-like inputs, then random affine terms.

    With the initial statistics (mean 0, variance 1) the activations shrink
    layer after layer and every image maps to nearly the same embedding; real
    statistics keep the embeddings input-dependent, as trained weights do.
    """
    rng = np.random.default_rng(seed)
    norms = [layer for layer in net._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    trainable = net.trainable
    net.trainable = True
    for layer in norms:
        layer.momentum = 0.0
    net(rng.uniform(-1, 1, (8, 112, 112, 3)).astype("float32"), training=True)
    for layer in norms:
        layer.momentum = 0.99
        layer.gamma.assign(rng.uniform(0.8, 1.2, layer.gamma.shape))
        layer.beta.assign(rng.uniform(-0.1, 0.1, layer.beta.shape))
    net.trainable = trainable


# --- the crop and the resize ------------------------------------------------------------


def test_crop_at_256_is_the_reference_box():
    # Spec: rows 57:219, columns 47:209 (162 × 162).
    assert face_crop_box(256, 256) == (57, 219, 47, 209)


def test_crop_truncates_like_python_int():
    top, bottom, left, right = face_crop_box(100, 120)
    assert (top, bottom) == (int(100 / 2.1 * 0.47), int(100 - 100 / 2.1 * 0.3))
    assert right - left == bottom - top
    assert left == int(120 / 2 - (bottom - top) / 2)


def test_crop_that_does_not_fit_is_a_clear_error():
    with pytest.raises(ValueError, match="does not fit"):
        face_crop_box(256, 64)


def numpy_resize_align_corners(images, out_h, out_w):
    """Independent reference: per output pixel, source = i·(in−1)/(out−1), four-neighbour blend."""
    n, h, w, c = images.shape
    out = np.zeros((n, out_h, out_w, c))
    ys = np.linspace(0, h - 1, out_h)
    xs = np.linspace(0, w - 1, out_w)
    for i, y in enumerate(ys):
        y0 = min(int(np.floor(y)), h - 1)
        y1 = min(y0 + 1, h - 1)
        fy = y - y0
        for j, x in enumerate(xs):
            x0 = min(int(np.floor(x)), w - 1)
            x1 = min(x0 + 1, w - 1)
            fx = x - x0
            top = (1 - fx) * images[:, y0, x0] + fx * images[:, y0, x1]
            bottom = (1 - fx) * images[:, y1, x0] + fx * images[:, y1, x1]
            out[:, i, j] = (1 - fy) * top + fy * bottom
    return out


def test_resize_matches_numpy_align_corners():
    images = np.random.default_rng(0).uniform(-1, 1, (2, 23, 17, 3)).astype("float32")
    resized = to_numpy(resize_bilinear_align_corners(keras.ops.convert_to_tensor(images), (11, 29)))
    # The weights are float32 positions, like torch's; the NumPy reference uses float64 ones.
    np.testing.assert_allclose(resized, numpy_resize_align_corners(images, 11, 29), atol=1e-5)


def test_resize_keeps_the_corners():
    images = np.random.default_rng(1).uniform(-1, 1, (1, 162, 162, 2)).astype("float32")
    resized = to_numpy(resize_bilinear_align_corners(keras.ops.convert_to_tensor(images), (112, 112)))
    for row, col in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        np.testing.assert_allclose(resized[:, row, col], images[:, row, col], atol=1e-6)


def test_interpolation_rows_sum_to_one():
    matrix = align_corners_matrix(162, 112)
    assert matrix.shape == (112, 162)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(np.count_nonzero(matrix, axis=1) <= 2)


def test_resize_matches_torch_interpolate():
    torch = pytest.importorskip("torch")
    images = np.random.default_rng(2).uniform(-1, 1, (2, 162, 162, 3)).astype("float32")
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(images.transpose(0, 3, 1, 2)), size=[112, 112], mode="bilinear", align_corners=True
    ).numpy()
    resized = to_numpy(resize_bilinear_align_corners(keras.ops.convert_to_tensor(images), (112, 112)))
    np.testing.assert_allclose(resized, expected.transpose(0, 2, 3, 1), atol=1e-6)


# --- the loss -----------------------------------------------------------------------------


def test_loss_is_batch_mean_of_one_minus_cosine():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 4, 16)).astype("float32")
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(float(face_id_loss(a, b)), np.mean(1 - cosine), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(cosine_similarity(a, b)), cosine, rtol=1e-5)
    assert float(face_id_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(face_id_loss(a, -a)) == pytest.approx(2.0, abs=1e-6)


def test_cosine_clamps_each_norm_like_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 4, 8)).astype("float32")
    a[0] *= 1e-10
    b[1] *= 1e-9
    a[2] = 0.0
    expected = torch.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b), eps=1e-8).numpy()
    np.testing.assert_allclose(to_numpy(cosine_similarity(a, b)), expected, rtol=1e-5, atol=1e-7)


# --- the blocks ---------------------------------------------------------------------------


def numpy_conv_bn_prelu(x, kernel, stride, pad, gamma, beta, mean, variance, alpha, depthwise):
    """NHWC conv (symmetric zero padding, like torch's padding=) → BN(eps 1e-5) → PReLU."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = kernel.shape[0]
    n, h, w, c = x.shape
    out_h, out_w = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((n, out_h, out_w, kernel.shape[2] if depthwise else kernel.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride : i * stride + k, j * stride : j * stride + k, :]
            if depthwise:
                out[:, i, j] = np.einsum("nhwc,hwc->nc", window, kernel[..., 0])
            else:
                out[:, i, j] = np.einsum("nhwc,hwco->no", window, kernel)
    out = (out - mean) / np.sqrt(variance + 1e-5) * gamma + beta
    return np.where(out > 0, out, alpha * out)


@pytest.mark.parametrize("depthwise", [False, True])
def test_conv_block_matches_numpy_with_symmetric_padding(depthwise):
    rng = np.random.default_rng(5)
    channels = 4
    block = FaceConvBlock(channels, 3, strides=2, padding=1, depthwise=depthwise)
    x = rng.standard_normal((2, 8, 8, channels)).astype("float32")
    block.build(x.shape)
    kernel = rng.standard_normal(block.conv.kernel.shape).astype("float32")
    # A variance of the size of eps makes a 1e-3 epsilon visibly wrong.
    gamma, beta, mean = rng.uniform(0.5, 1.5, channels), rng.uniform(-1, 1, channels), rng.uniform(-1, 1, channels)
    variance = rng.uniform(1e-5, 1e-4, channels)
    alpha = rng.uniform(0.1, 0.5, channels)
    block.conv.kernel.assign(kernel)
    for variable, value in zip(block.bn.weights, (gamma, beta, mean, variance)):
        variable.assign(value)
    block.prelu.alpha.assign(alpha.reshape(1, 1, channels))
    expected = numpy_conv_bn_prelu(x, kernel, 2, 1, gamma, beta, mean, variance, alpha, depthwise)
    output = to_numpy(block(x, training=False))
    assert output.shape == (2, 4, 4, channels)
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-3)


def test_linear_block_has_no_prelu():
    block = FaceConvBlock(6, activation=False)
    block.build((1, 5, 5, 3))
    assert block.prelu is None and len(block.weights) == 5


@pytest.mark.parametrize(
    "kwargs, input_shape, output_shape, trainable",
    [
        ({"filters": 6, "kernel_size": 3, "strides": 2, "padding": 1}, (2, 8, 8, 3), (2, 4, 4, 6), 4),
        ({"filters": 4, "kernel_size": 3, "padding": 1, "depthwise": True}, (2, 8, 8, 4), (2, 8, 8, 4), 4),
        ({"filters": 4, "kernel_size": 7, "depthwise": True, "activation": False}, (2, 7, 7, 4), (2, 1, 1, 4), 3),
    ],
)
def test_conv_block_layer_contract(kwargs, input_shape, output_shape, trainable):
    run_layer_test(FaceConvBlock, kwargs, input_shape, output_shape, trainable, expected_num_non_trainable_weights=2)


@pytest.mark.parametrize(
    "kwargs, input_shape, output_shape",
    [
        ({"filters": 6, "groups": 8, "strides": 2}, (2, 8, 8, 4), (2, 4, 4, 6)),
        ({"filters": 4, "groups": 8, "residual": True}, (2, 8, 8, 4), (2, 8, 8, 4)),
    ],
)
def test_depth_wise_block_layer_contract(kwargs, input_shape, output_shape):
    # conv and conv_dw: kernel, γ, β, α; project: kernel, γ, β. Two running statistics per BN.
    run_layer_test(DepthWiseBlock, kwargs, input_shape, output_shape, 11, expected_num_non_trainable_weights=6)


def test_residual_block_adds_its_input():
    block = DepthWiseBlock(4, 8, residual=True)
    x = np.random.default_rng(6).standard_normal((1, 6, 6, 4)).astype("float32")
    block.build(x.shape)
    block.project.bn.gamma.assign(np.zeros(4))
    block.project.bn.beta.assign(np.zeros(4))
    np.testing.assert_allclose(to_numpy(block(x, training=False)), x, atol=1e-6)


def test_block_argument_errors():
    with pytest.raises(ValueError, match="filters"):
        FaceConvBlock(0)
    with pytest.raises(ValueError, match="keeps its channels"):
        FaceConvBlock(8, 3, depthwise=True).build((1, 8, 8, 4))
    with pytest.raises(ValueError, match="residual DepthWiseBlock"):
        DepthWiseBlock(8, 16, residual=True).build((1, 8, 8, 4))


# --- the network --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mobilefacenet():
    net = MobileFaceNet()
    net.build((None, 112, 112, 3))
    calibrate_batch_norms(net)
    return net


def test_parameter_count_matches_the_reference(mobilefacenet):
    assert count_params(mobilefacenet.trainable_weights) == REFERENCE_PARAMS
    assert mobilefacenet.count_params() == REFERENCE_PARAMS + REFERENCE_RUNNING_STATS
    # 333 state-dict tensors less the 50 num_batches_tracked counters.
    assert len(mobilefacenet.weights) == 283


def test_every_batch_norm_uses_torch_epsilon(mobilefacenet):
    norms = [layer for layer in mobilefacenet._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 50
    assert all(layer.epsilon == 1e-5 for layer in norms)


def test_embeddings_are_unit_vectors_that_depend_on_the_face(mobilefacenet):
    faces = np.random.default_rng(7).uniform(-1, 1, (2, 112, 112, 3)).astype("float32")
    embeddings = to_numpy(mobilefacenet(faces, training=False))
    assert embeddings.shape == (2, 512) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert np.sum(embeddings[0] * embeddings[1]) < 0.9


def test_wrong_input_size_is_a_clear_error():
    with pytest.raises(ValueError, match="112×112"):
        MobileFaceNet().build((None, 128, 128, 3))


def test_keras_file_round_trip(mobilefacenet, tmp_path):
    faces = np.random.default_rng(8).uniform(-1, 1, (1, 112, 112, 3)).astype("float32")
    path = os.path.join(tmp_path, "mobilefacenet.keras")
    mobilefacenet.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        to_numpy(reloaded(faces, training=False)), to_numpy(mobilefacenet(faces, training=False)), atol=1e-6
    )


# --- the frozen embedder ------------------------------------------------------------------


@pytest.fixture(scope="module")
def face_features():
    features = FaceFeatures()
    features.build((None, 256, 256, 3))
    calibrate_batch_norms(features.backbone, seed=1)
    return features


def test_face_features_crop_resize_then_embed(face_features):
    images = np.random.default_rng(9).uniform(-1, 1, (2, 256, 256, 3)).astype("float32")
    faces = resize_bilinear_align_corners(keras.ops.convert_to_tensor(images[:, 57:219, 47:209]), (112, 112))
    expected = to_numpy(face_features.backbone(faces, training=False))
    np.testing.assert_allclose(to_numpy(face_features(images)), expected, atol=1e-6)


def test_face_features_is_frozen_and_always_in_inference_mode(face_features):
    assert face_features.trainable_weights == [] and len(face_features.non_trainable_weights) == 283
    images = np.random.default_rng(10).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    before = [to_numpy(w) for w in face_features.weights]
    inference = to_numpy(face_features(images, training=False))
    training = to_numpy(face_features(images, training=True))
    np.testing.assert_allclose(training, inference, atol=1e-6)
    for old, new in zip(before, face_features.weights):
        np.testing.assert_array_equal(old, to_numpy(new))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
def test_gradients_reach_the_images(face_features):
    import tensorflow as tf

    rng = np.random.default_rng(11)
    real = rng.uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    fake = tf.Variable(rng.uniform(-1, 1, (1, 64, 64, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = face_id_loss(face_features(real), face_features(fake))
    gradient = tape.gradient(loss, fake).numpy()
    top, bottom, left, right = face_crop_box(64, 64)
    assert np.abs(gradient[:, top:bottom, left:right]).max() > 0
    # Pixels outside the crop do not reach the embedding.
    assert np.abs(gradient[:, :top]).max() == 0 and np.abs(gradient[:, :, right:]).max() == 0


def _he_normal_kernels(model, seed=0):
    """Kernels at He scale. Keras' Glorot default shrinks activations ~10x per stage through this net, so
    with random weights float16 underflows to a zero embedding; the released weights keep a sane scale."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if weight.path.endswith("kernel") and len(shape) >= 2:
            depthwise = len(shape) == 4 and shape[-1] == 1
            fan_in = int(np.prod(shape[:2] if depthwise else shape[:-1]))
            weight.assign(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype("float32"))


def test_face_features_under_mixed_precision():
    images = np.random.default_rng(12).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    reference = FaceFeatures()
    reference(images)
    _he_normal_kernels(reference)
    features = FaceFeatures(dtype="mixed_float16")
    features(images)
    for mixed_weight, weight in zip(features.weights, reference.weights):
        mixed_weight.assign(weight)
    embeddings = features(images)
    assert embeddings.dtype == "float32"
    embeddings = to_numpy(embeddings)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-3)
    # float16 activations move the unit embedding only slightly from float32's.
    assert np.min(np.sum(embeddings * to_numpy(reference(images)), axis=1)) > 0.99
    assert all(weight.dtype == "float32" for weight in features.weights)
    assert features.backbone.conv_3[0].conv_dw.conv.dtype_policy.name == "mixed_float16"


@pytest.mark.slow
def test_face_features_layer_contract():
    run_layer_test(
        FaceFeatures,
        {"embedding_size": 512},
        (1, 64, 64, 3),
        (1, 512),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=283,
        run_fit=False,
        mixed_precision_output_dtype="float32",  # embeddings stay float32 for the cosine (FaceFeatures.call)
    )


def test_face_features_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB"):
        FaceFeatures().build((None, 256, 256, 4))
