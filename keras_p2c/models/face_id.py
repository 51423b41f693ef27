"""Face-ID network: MobileFaceNet (512-d) and the frozen embedder behind the Face-ID loss.

Layout (NHWC, shapes for the 112×112 input; see the reference spec, "Training"):

    conv1       zero-pad 1, conv 3×3 stride 2 → 64, BN, PReLU         56² × 64
    conv2_dw    zero-pad 1, depthwise 3×3, BN, PReLU                  56² × 64
    conv_23     DepthWise 64 → 64, stride 2, 128 inside               28² × 64
    conv_3      4 residual DepthWise blocks, 128 inside               28² × 64
    conv_34     DepthWise 64 → 128, stride 2, 256 inside              14² × 128
    conv_4      6 residual DepthWise blocks, 256 inside               14² × 128
    conv_45     DepthWise 128 → 128, stride 2, 512 inside             7² × 128
    conv_5      2 residual DepthWise blocks, 256 inside               7² × 128
    conv_6_sep  conv 1×1 → 512, BN, PReLU                             7² × 512
    conv_6_dw   depthwise 7×7 "global depthwise" conv, BN (linear)    1² × 512
    linear      Dense 512 → embedding_size, no bias
    bn          BatchNorm over the embedding, then L2 normalisation

A DepthWise block is conv 1×1 → `groups` channels (BN, PReLU), zero-pad 1 and
depthwise 3×3 (BN, PReLU), then a linear conv 1×1 projection (BN), plus the
input when it is residual.

Sub-layer names follow the state dict of InsightFace_Pytorch's
`model_mobilefacenet.pth` (`conv_23.conv_dw.bn.running_mean` →
`conv_23/conv_dw/bn/moving_mean`, `conv_3.model.0.project.conv.weight` →
`conv_3_model_0/project/conv/kernel`), so the port table reads straight across.
"""

import keras
import numpy as np
from keras import ops

# torch's BatchNorm default; Keras' is 1e-3.
BN_EPSILON = 1e-5
# torch's PReLU default slope.
PRELU_INIT = 0.25
INPUT_SIZE = 112

# The reference's face crop of a generator-sized image, as fractions of the height:
# top = h/2.1·(0.8 − 0.33), bottom = h − h/2.1·0.3. Kept as the reference writes
# them, so the float products (and so the int() truncations) are the same.
CROP_DIVISOR = 2.1
CROP_TOP = 0.8 - 0.33
CROP_BOTTOM = 0.3

# (name, in channels, out channels, inner "groups" channels) of the stride-2 blocks, and
# (name, channels, inner channels, number of blocks) of the residual stacks, in order.
STAGES = (
    (("conv_23", 64, 64, 128), ("conv_3", 64, 128, 4)),
    (("conv_34", 64, 128, 256), ("conv_4", 128, 256, 6)),
    (("conv_45", 128, 128, 512), ("conv_5", 128, 256, 2)),
)


@keras.saving.register_keras_serializable(package="keras_p2c")
class FaceConvBlock(keras.layers.Layer):
    """Convolution (plain or depthwise, no bias) → BatchNorm (eps 1e-5) → optional per-channel PReLU.

    The reference's `Conv_block` (with PReLU) and `Linear_block` (without).
    Padding is explicit zero padding on both sides, as torch's `padding=`;
    Keras' "same" would pad a stride-2 convolution on one side only.

    Args:
        filters: output channels (for `depthwise=True`, must equal the input channels).
        kernel_size: square kernel size.
        strides: square stride.
        padding: zero padding on every side before the "valid" convolution.
        depthwise: a depthwise convolution (one filter per channel).
        activation: end with PReLU (`Conv_block`) or not (`Linear_block`).

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, out_height, out_width, filters)`, out size
        `(size + 2·padding − kernel_size) // strides + 1`.
    """

    def __init__(self, filters, kernel_size=1, strides=1, padding=0, depthwise=False, activation=True, **kwargs):
        super().__init__(**kwargs)
        for name, value, minimum in (
            ("filters", filters, 1),
            ("kernel_size", kernel_size, 1),
            ("strides", strides, 1),
            ("padding", padding, 0),
        ):
            if not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.depthwise = depthwise
        self.activation = activation
        policy = self.dtype_policy
        self.pad = keras.layers.ZeroPadding2D(padding, dtype=policy, name="pad") if padding else None
        conv_options = {"strides": strides, "use_bias": False, "dtype": policy, "name": "conv"}
        if depthwise:
            self.conv = keras.layers.DepthwiseConv2D(kernel_size, **conv_options)
        else:
            self.conv = keras.layers.Conv2D(filters, kernel_size, **conv_options)
        self.bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, dtype=policy, name="bn")
        self.prelu = None
        if activation:
            self.prelu = keras.layers.PReLU(
                alpha_initializer=keras.initializers.Constant(PRELU_INIT),
                shared_axes=[1, 2],
                dtype=policy,
                name="prelu",
            )

    def build(self, input_shape):
        if self.depthwise and input_shape[-1] != self.filters:
            raise ValueError(
                f"A depthwise FaceConvBlock keeps its channels: filters={self.filters} but the input has "
                f"{input_shape[-1]} channels. Received: input_shape={input_shape}"
            )
        conv_input = input_shape
        if self.pad is not None:
            self.pad.build(input_shape)
            conv_input = self.pad.compute_output_shape(input_shape)
        self.conv.build(conv_input)
        output_shape = self.compute_output_shape(input_shape)
        self.bn.build(output_shape)
        if self.prelu is not None:
            self.prelu.build(output_shape)

    def call(self, inputs, training=None):
        x = inputs if self.pad is None else self.pad(inputs)
        x = self.bn(self.conv(x), training=training)
        return x if self.prelu is None else self.prelu(x)

    def compute_output_shape(self, input_shape):
        def size(length):
            if length is None:
                return None
            return (length + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depthwise": self.depthwise,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="keras_p2c")
class DepthWiseBlock(keras.layers.Layer):
    """MobileFaceNet bottleneck: 1×1 expand (PReLU) → depthwise 3×3 (PReLU) → linear 1×1 project.

    The reference's `Depth_Wise`; with `residual=True` (the blocks of its
    `Residual` stacks) the input is added to the projection.

    Args:
        filters: output channels (equal to the input channels when residual).
        groups: channels inside the block (the reference's `groups` argument).
        strides: stride of the depthwise 3×3 convolution.
        residual: add the input to the output.

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / strides), ceil(width / strides), filters)`.
    """

    def __init__(self, filters, groups, strides=1, residual=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.groups = groups
        self.strides = strides
        self.residual = residual
        policy = self.dtype_policy
        self.conv = FaceConvBlock(groups, dtype=policy, name="conv")
        self.conv_dw = FaceConvBlock(
            groups, 3, strides=strides, padding=1, depthwise=True, dtype=policy, name="conv_dw"
        )
        self.project = FaceConvBlock(filters, activation=False, dtype=policy, name="project")

    def build(self, input_shape):
        if self.residual and (input_shape[-1] != self.filters or self.strides != 1):
            raise ValueError(
                "A residual DepthWiseBlock needs stride 1 and as many input channels as filters. "
                f"Received: filters={self.filters}, strides={self.strides}, input_shape={input_shape}"
            )
        self.conv.build(input_shape)
        inner = self.conv.compute_output_shape(input_shape)
        self.conv_dw.build(inner)
        self.project.build(self.conv_dw.compute_output_shape(inner))

    def call(self, inputs, training=None):
        x = self.conv(inputs, training=training)
        x = self.project(self.conv_dw(x, training=training), training=training)
        return inputs + x if self.residual else x

    def compute_output_shape(self, input_shape):
        inner = self.conv_dw.compute_output_shape(self.conv.compute_output_shape(input_shape))
        return tuple(inner[:-1]) + (self.filters,)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "strides": self.strides,
            "residual": self.residual,
        }


@keras.saving.register_keras_serializable(package="keras_p2c")
class MobileFaceNet(keras.Model):
    """MobileFaceNet face-recognition embedder (InsightFace_Pytorch's, used by the Face-ID loss).

    1,200,512 trainable parameters at `embedding_size=512` (plus 20,352
    BatchNorm running statistics), as the reference.

    Args:
        embedding_size: length of the embedding (512 for the released weights).

    Input shape:
        `(batch, 112, 112, 3)` RGB, in the range the weights were trained on
        (the Face-ID loss feeds generator images in [-1, 1], as the reference).

    Output shape:
        `(batch, embedding_size)` float32, each row of unit L2 norm.

    Example:
    >>> net = MobileFaceNet()
    >>> embeddings = net(np.zeros((2, 112, 112, 3)), training=False)  # (2, 512)
    """

    def __init__(self, embedding_size=512, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(embedding_size, int) or embedding_size < 1:
            raise ValueError(
                f"`embedding_size` must be a positive integer. Received: embedding_size={embedding_size!r}"
            )
        self.embedding_size = embedding_size
        policy = self.dtype_policy
        self.conv1 = FaceConvBlock(64, 3, strides=2, padding=1, dtype=policy, name="conv1")
        self.conv2_dw = FaceConvBlock(64, 3, padding=1, depthwise=True, dtype=policy, name="conv2_dw")
        for (down_name, _, down_out, down_groups), (stack_name, channels, groups, blocks) in STAGES:
            setattr(self, down_name, DepthWiseBlock(down_out, down_groups, strides=2, dtype=policy, name=down_name))
            stack = [
                DepthWiseBlock(channels, groups, residual=True, dtype=policy, name=f"{stack_name}_model_{k}")
                for k in range(blocks)
            ]
            setattr(self, stack_name, stack)
        self.conv_6_sep = FaceConvBlock(512, dtype=policy, name="conv_6_sep")
        self.conv_6_dw = FaceConvBlock(512, 7, depthwise=True, activation=False, dtype=policy, name="conv_6_dw")
        self.linear = keras.layers.Dense(embedding_size, use_bias=False, dtype=policy, name="linear")
        self.bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, dtype=policy, name="bn")

    def stages(self):
        """`[(stride-2 DepthWiseBlock, [residual DepthWiseBlocks])]` in order."""
        return [(getattr(self, down[0]), getattr(self, stack[0])) for down, stack in STAGES]

    def build(self, input_shape):
        if tuple(input_shape[1:]) not in ((INPUT_SIZE, INPUT_SIZE, 3), (None, None, 3)):
            raise ValueError(
                f"MobileFaceNet takes {INPUT_SIZE}×{INPUT_SIZE} RGB images (its 7×7 global depthwise conv "
                f"needs a 7×7 map). Received: input_shape={input_shape}"
            )
        batch = input_shape[0]
        shape = (batch, INPUT_SIZE, INPUT_SIZE, 3)
        for layer in [self.conv1, self.conv2_dw] + [b for down, stack in self.stages() for b in [down] + stack]:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.conv_6_sep.build(shape)
        shape = self.conv_6_sep.compute_output_shape(shape)
        self.conv_6_dw.build(shape)
        self.linear.build((batch, 512))
        self.bn.build((batch, self.embedding_size))
        self.built = True

    def call(self, inputs, training=None):
        x = self.conv2_dw(self.conv1(inputs, training=training), training=training)
        for down, stack in self.stages():
            x = down(x, training=training)
            for block in stack:
                x = block(x, training=training)
        x = self.conv_6_dw(self.conv_6_sep(x, training=training), training=training)
        x = self.bn(self.linear(ops.reshape(x, (ops.shape(x)[0], -1))), training=training)
        # L2 normalisation in float32 and without epsilon, as the reference's l2_norm.
        x = ops.cast(x, "float32")
        return x / ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.embedding_size)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "embedding_size": self.embedding_size,
        }


def face_crop_box(height, width):
    """The reference's square face crop of an image, as `(top, bottom, left, right)` (end-exclusive).

    At 256×256 this is rows 57:219, columns 47:209. `int()` truncates toward
    zero, as the reference's.
    """
    top = int(height / CROP_DIVISOR * CROP_TOP)
    bottom = int(height - height / CROP_DIVISOR * CROP_BOTTOM)
    size = bottom - top
    left = int(width / 2 - size / 2)
    right = left + size
    if size < 2 or left < 0 or right > width:
        raise ValueError(
            f"The Face-ID crop of a {height}×{width} image would be rows {top}:{bottom}, columns "
            f"{left}:{right}, which does not fit: give images at least about as wide as they are tall "
            "(the generator's square training images)."
        )
    return top, bottom, left, right


def align_corners_matrix(in_size, out_size):
    """`(out_size, in_size)` float32 matrix of 1-D linear interpolation with align_corners=True.

    Row i holds the two weights torch's `F.interpolate(..., mode="bilinear",
    align_corners=True)` gives output sample i. The source position and the
    weights are computed in float32, as torch does on CPU.
    """
    matrix = np.zeros((out_size, in_size), dtype="float32")
    if out_size == 1 or in_size == 1:
        matrix[:, 0] = 1.0
        return matrix
    scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    source = scale * np.arange(out_size, dtype="float32")
    lower = np.minimum(source.astype("int64"), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    upper_weight = np.clip(source - lower.astype("float32"), 0.0, 1.0).astype("float32")
    rows = np.arange(out_size)
    matrix[rows, lower] += np.float32(1.0) - upper_weight
    matrix[rows, upper] += upper_weight
    return matrix


def resize_bilinear_align_corners(images, size):
    """Bilinear resize of an NHWC batch with align_corners=True (torch's `F.interpolate` semantics).

    `keras.ops.image.resize` has no align_corners, so the resize is two
    interpolation-matrix products, one per axis (differentiable on every backend).

    Args:
        images: `(batch, height, width, channels)` with static height and width.
        size: `(out_height, out_width)`.
    """
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"resize_bilinear_align_corners needs a static height and width. Received: shape={images.shape}"
        )
    rows = ops.convert_to_tensor(align_corners_matrix(height, size[0]), dtype=images.dtype)
    cols = ops.convert_to_tensor(align_corners_matrix(width, size[1]), dtype=images.dtype)
    x = ops.einsum("oh,nhwc->nowc", rows, images)
    return ops.einsum("pw,nowc->nopc", cols, x)


@keras.saving.register_keras_serializable(package="keras_p2c")
class FaceFeatures(keras.layers.Layer):
    """Frozen Face-ID embedder: the reference's face crop → 112×112 align-corners bilinear → MobileFaceNet.

    The network always runs in inference mode (BatchNorm on its running
    statistics) and its weights are not trainable, as in the reference, where
    it is in eval mode and in no optimiser; gradients still flow through it to
    the images. Load the released weights with
    `keras_p2c.weights.mobilefacenet_table.load_face_features`.

    Args:
        embedding_size: length of the embedding (512 for the released weights).

    Input shape:
        `(batch, height, width, 3)` RGB in [-1, 1] with static height and width
        (generator images, e.g. 256×256).

    Output shape:
        `(batch, embedding_size)` float32 unit vectors.
    """

    def __init__(self, embedding_size=512, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.embedding_size = embedding_size
        self.backbone = MobileFaceNet(embedding_size, dtype=self.dtype_policy, name="backbone")
        self.backbone.trainable = self.trainable

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(f"FaceFeatures expects RGB images (3 channels). Received: input_shape={input_shape}")
        self.backbone.build((input_shape[0], INPUT_SIZE, INPUT_SIZE, 3))

    def call(self, images):
        top, bottom, left, right = face_crop_box(images.shape[1], images.shape[2])
        faces = resize_bilinear_align_corners(images[:, top:bottom, left:right, :], (INPUT_SIZE, INPUT_SIZE))
        # Inference mode even inside a training step: the reference runs it in eval().
        return self.backbone(faces, training=False)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.embedding_size)

    def get_config(self):
        return {**super().get_config(), "embedding_size": self.embedding_size}


def cosine_similarity(first, second, epsilon=1e-8):
    """Per-row cosine similarity, as `torch.cosine_similarity` (each norm clamped to at least `epsilon`).

    Args:
        first, second: `(batch, features)`; computed in float32.

    Returns:
        `(batch,)` float32.
    """
    first = ops.cast(first, "float32")
    second = ops.cast(second, "float32")

    def unit(x):
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        return x / ops.maximum(norm, epsilon)

    return ops.sum(unit(first) * unit(second), axis=-1)


def face_id_loss(embeddings_a, embeddings_b, epsilon=1e-8):
    """Face-ID loss: batch mean of 1 − cosine similarity of two embedding batches.

    The reference adds one value per sample unreduced, which only works at
    batch 1 (spec quirk g-11); the mean is the same there and defined for any batch.

    Args:
        embeddings_a, embeddings_b: `(batch, features)`, e.g. `FaceFeatures` outputs
            of the real images and of their translations.

    Returns:
        A float32 scalar.
    """
    return ops.mean(1.0 - cosine_similarity(embeddings_a, embeddings_b, epsilon))
