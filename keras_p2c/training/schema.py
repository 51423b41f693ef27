"""The training configuration's schema: one typed dataclass per YAML section, the defaults the reference's.

A config file is a mapping with the sections of `TrainConfig` (`model`, `data`, `optimizer`, `loss`,
`training`, `logging`) and the top-level keys `precision`, `strategy`, `output_dir`, `init_from`,
`face_id_weights` and `allow_no_face_id`. Reading, overriding, checking and writing configs is
`keras_p2c.training.config`'s job.
"""

import dataclasses
import typing

from keras_p2c.losses import LossWeights


@dataclasses.dataclass
class ModelConfig:
    """Networks (`Photo2CartoonGAN` arguments).

    Args:
        img_size: side of the square training images (a multiple of 16).
        ngf: generator base width (32 in Photo2Cartoon).
        ndf: discriminator base width (32).
        n_blocks: residual blocks in the generator's encoder and decoder (4).
        light: light generator (style features pooled before the MLP), as the released model.
        linear_bias: biases on the generator's Linear layers (original: yes; PaddleGAN: no).
        global_layers: depth of the global discriminators (7; needs inputs of at least 96 px).
        local_layers: depth of the local discriminators (5; at least 24 px).
    """

    img_size: int = 256
    ngf: int = 32
    ndf: int = 32
    n_blocks: int = 4
    light: bool = True
    linear_bias: bool = True
    global_layers: int = 7
    local_layers: int = 5


@dataclasses.dataclass
class DataConfig:
    """Training images (`keras_p2c.data.train_dataset`).

    Args:
        root: data set folder holding `trainA/` (photos) and `trainB/` (cartoons).
        load_size: side the images are resized to before the random crop of `model.img_size` (286).
        seed: seed of the shuffling, crops and flips; `null` draws one.
        validate: decode every file once up front and drop (with a warning) the unreadable ones.
        synthetic: write a tiny synthetic data set under `<output_dir>/synthetic-data` and train on it
            (smoke runs); `root` must then be left empty.
        synthetic_images: images per domain of that synthetic data set.
    """

    root: typing.Optional[str] = None
    load_size: int = 286
    seed: typing.Optional[int] = None
    validate: bool = True
    synthetic: bool = False
    synthetic_images: int = 8


@dataclasses.dataclass
class OptimizerConfig:
    """The two Adam optimisers (generators; discriminators) and the learning-rate schedule.

    Args:
        learning_rate: initial learning rate of both optimisers (1e-4).
        beta_1, beta_2, epsilon: Adam's (0.5, 0.999, 1e-8; Keras' default epsilon is 1e-7).
        weight_decay: coupled L2 weight decay as torch's Adam (1e-4), on every trainable weight.
        decay_start: step from which the learning rate falls linearly to 0 at `training.iterations`
            (the reference: 500,000 of 1,000,000); `null` keeps it constant.
    """

    learning_rate: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 1e-4
    decay_start: typing.Optional[int] = 500_000


@dataclasses.dataclass
class TrainingConfig:
    """Length and batching.

    Args:
        iterations: training steps in all (the reference: 1,000,000); a multiple of
            `logging.checkpoint_every`, which is the length of one Keras epoch.
        batch_size: global batch (images of each domain per step, over all replicas; the reference: 1).
        steps_per_execution: steps run per compiled call (Keras `steps_per_execution`); logging and export
            periods should be multiples of it.
        jit_compile: XLA compilation of the whole training step (measure first: slower on CPU). On JAX,
            False still compiles each network and optimiser update on its own (`gan_steps_jax`).
        run_eagerly: run the step eagerly, without compiling it (debugging; tiny runs, where compiling the
            step takes longer than the run).
    """

    iterations: int = 1_000_000
    batch_size: int = 1
    steps_per_execution: int = 1
    jit_compile: bool = False
    run_eagerly: bool = False


@dataclasses.dataclass
class LoggingConfig:
    """How often things are written (all in steps).

    Args:
        log_every: loss scalars and the learning rate to TensorBoard (the reference prints every 10).
        sample_every: image grids to TensorBoard (the reference: 1,000).
        checkpoint_every: full training state (all networks, both optimisers) into `<output_dir>/backup`
            for resuming; also the length of one Keras epoch (the reference: 1,000).
        export_every: the A→B generator into `<output_dir>/export` (0: only at the end).
        sample_images: images of each domain in the fixed TensorBoard sample batch.
        verbose: progress output: 1, one line every `log_every` steps (and at least every 30 s) with the
            step, a few losses and the pace; 2, Keras' line per epoch (checkpoint period); 0, silent.
        eval_every: FID, KID and (with Face-ID) identity similarity on testA/testB every this many steps,
            as TensorBoard's `eval/*` scalars (0: off).
        eval_images: photos and cartoons used by that evaluation (the first of testA/, testB/).
        eval_inception_weights: InceptionV3 weights of the evaluation: `imagenet` (downloaded once into
            the cache), a weights file, or `random` (smoke runs and tests only: the figures mean nothing).
    """

    log_every: int = 10
    sample_every: int = 1000
    checkpoint_every: int = 1000
    export_every: int = 10_000
    sample_images: int = 4
    verbose: int = 1
    eval_every: int = 0
    eval_images: int = 64
    eval_inception_weights: str = "imagenet"


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs.

    Args:
        model, data, optimizer, training, logging: the sections above.
        loss: the loss weights, `keras_p2c.losses.LossWeights` (adv 1, cycle 50, identity 10, cam 1000,
            face_id 1); a weight of 0 turns its term off. `face_id` needs `face_id_weights`.
        precision: `float32`, `mixed_bfloat16` or `mixed_float16` (Keras dtype policy of all networks).
        strategy: `auto` (several workers in `TF_CONFIG` → multi-worker, several GPUs → mirrored, else one
            device), `default`, `mirrored` or `multi_worker`. Ignored outside the TensorFlow backend.
        output_dir: the run folder (config, backup, TensorBoard logs, exports). Running again with the same
            folder resumes from its backup.
        init_from: `photo2cartoon_weights.pt` of the original release to start from (all six networks).
        face_id_weights: InsightFace_Pytorch's `model_mobilefacenet.pth` for the Face-ID loss.
        allow_no_face_id: train with the Face-ID term off (and a warning) when its weight is non-zero but
            `face_id_weights` is not given, instead of stopping with an error.
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    logging: LoggingConfig = dataclasses.field(default_factory=LoggingConfig)
    precision: str = "float32"
    strategy: str = "auto"
    output_dir: str = "runs/photo2cartoon"
    init_from: typing.Optional[str] = None
    face_id_weights: typing.Optional[str] = None
    allow_no_face_id: bool = False

    def to_dict(self):
        """The config as plain nested dicts (what `write_config` writes)."""
        return dataclasses.asdict(self)
