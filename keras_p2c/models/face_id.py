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
from keras import ops

from keras_p2c.layers.mobilefacenet import BN_EPSILON, DepthWiseBlock, FaceConvBlock
from keras_p2c.models.face_crop import face_crop_box, resize_bilinear_align_corners

INPUT_SIZE = 112

# (name, in channels, out channels, inner "groups" channels) of the stride-2 blocks, and
# (name, channels, inner channels, number of blocks) of the residual stacks, in order.
STAGES = (
    (("conv_23", 64, 64, 128), ("conv_3", 64, 128, 4)),
    (("conv_34", 64, 128, 256), ("conv_4", 128, 256, 6)),
    (("conv_45", 128, 128, 512), ("conv_5", 128, 256, 2)),
)


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
