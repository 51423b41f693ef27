"""The training configuration: one typed object read from YAML, with command-line overrides.

A config file is a mapping with the sections of `TrainConfig` (`model`, `data`, `optimizer`, `loss`,
`training`, `logging`) and the top-level keys `precision`, `strategy`, `output_dir`, `init_from` and
`face_id_weights`. Every key is optional (the defaults are the reference's hyper-parameters); an unknown key
or a value of the wrong type is an error naming the key and the file. The resolved config is written into the
run folder (`write_config`) so every run records exactly what it trained with.

    config = load_config("configs/photo2cartoon.yaml", overrides=["training.batch_size=4"])
"""

import dataclasses
import math
import os
import types
import typing
from pathlib import Path

import yaml

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the source, the key and what to do."""


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
class LossConfig:
    """Loss weights (`keras_p2c.losses.LossWeights`); a weight of 0 turns its term off.

    Args:
        adv: least-squares adversarial terms (1).
        cycle: cycle consistency L1 (50).
        identity: identity L1 (10).
        cam: generator CAM classification (1000).
        face_id: Face-ID (1 − cosine similarity of MobileFaceNet embeddings; 1). Needs the MobileFaceNet
            weights (`face_id_weights`).
    """

    adv: float = 1.0
    cycle: float = 50.0
    identity: float = 10.0
    cam: float = 1000.0
    face_id: float = 1.0


@dataclasses.dataclass
class TrainingConfig:
    """Length and batching.

    Args:
        iterations: training steps in all (the reference: 1,000,000); a multiple of
            `logging.checkpoint_every`, which is the length of one Keras epoch.
        batch_size: global batch (images of each domain per step, over all replicas; the reference: 1).
        steps_per_execution: steps run per compiled call (Keras `steps_per_execution`); logging and export
            periods should be multiples of it.
        jit_compile: XLA compilation of the training step (measure first: slower on CPU).
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
        verbose: Keras progress output (1: progress bar, 2: one line per epoch, 0: silent).
    """

    log_every: int = 10
    sample_every: int = 1000
    checkpoint_every: int = 1000
    export_every: int = 10_000
    sample_images: int = 4
    verbose: int = 1


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs.

    Args:
        model, data, optimizer, loss, training, logging: the sections above.
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
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
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


def load_config(path=None, overrides=()):
    """Reads a YAML config into a `TrainConfig`, applies `section.key=value` overrides and validates it.

    Args:
        path: YAML file; `None` starts from the defaults (the reference hyper-parameters).
        overrides: strings `dotted.key=value`, the value read as YAML (`training.batch_size=4`,
            `optimizer.decay_start=null`, `data.root=/data/p2c`).

    Returns:
        A validated `TrainConfig`.

    Raises:
        ConfigError: the file is missing or not a mapping, a key is unknown, a value has the wrong type or is
            out of range; the message names the file (or the override) and the key.
    """
    data = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            with open(path, encoding="utf-8") as stream:
                data = yaml.safe_load(stream)
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found.") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if data is None:
            data = {}
    config = from_dict(data, source)
    for override in overrides:
        apply_override(config, override)
    validate(config, source)
    return config


def from_dict(data, source="<dict>"):
    """Builds a `TrainConfig` from nested dicts, refusing unknown keys and mistyped values (not range-checked)."""
    return _build(TrainConfig, data, source, prefix="")


def apply_override(config, override):
    """Sets one `dotted.key=value` on `config` in place; the value is parsed as YAML and type-checked."""
    source = f"override '{override}'"
    key, separator, text = override.partition("=")
    key = key.strip()
    if not separator or not key:
        raise ConfigError(f"{source}: expected `section.key=value`, e.g. `training.batch_size=4`.")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: the value is not valid YAML: {error}") from None
    *sections, name = key.split(".")
    target = config
    for depth, section in enumerate(sections):
        child = getattr(target, section, None) if _has_field(target, section) else None
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"{source}: unknown section '{'.'.join(sections[: depth + 1])}'. {_known(target)}")
        target = child
    if not _has_field(target, name):
        raise ConfigError(f"{source}: unknown key '{key}'. {_known(target)}")
    field = next(f for f in dataclasses.fields(target) if f.name == name)
    hint = typing.get_type_hints(type(target))[name]
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"{source}: '{key}' is a section; set its keys one by one ('{key}.<key>=...').")
    setattr(target, field.name, _coerce(value, hint, key, source))


def validate(config, source="<config>"):
    """Range and consistency checks of a whole config; raises `ConfigError` naming `source` and the key."""

    def fail(key, message):
        raise ConfigError(f"{source}: {key}: {message}")

    model, data, optimizer, training, log = config.model, config.data, config.optimizer, config.training, config.logging
    for section, names in (
        ("model", ("img_size", "ngf", "ndf", "n_blocks", "global_layers", "local_layers")),
        ("data", ("load_size", "synthetic_images")),
        ("training", ("iterations", "batch_size", "steps_per_execution")),
        ("logging", ("log_every", "sample_every", "checkpoint_every", "sample_images")),
    ):
        for name in names:
            value = getattr(getattr(config, section), name)
            if value < 1:
                fail(f"{section}.{name}", f"must be a positive integer. Received: {value}")
    if model.img_size % 16:
        fail("model.img_size", f"must be a multiple of 16 (the hourglass pools). Received: {model.img_size}")
    if model.ngf % 4:
        fail("model.ngf", f"must be a multiple of 4. Received: {model.ngf}")
    from keras_p2c.models.discriminator import minimum_input_size

    for name in ("global_layers", "local_layers"):
        depth = getattr(model, name)
        if depth < 3:
            fail(f"model.{name}", f"must be at least 3. Received: {depth}")
        if model.img_size < minimum_input_size(depth):
            fail(
                f"model.{name}",
                f"a discriminator of depth {depth} needs images of at least {minimum_input_size(depth)} px; "
                f"model.img_size is {model.img_size}. Use a smaller depth or larger images.",
            )
    if data.load_size < model.img_size:
        fail("data.load_size", f"({data.load_size}) must be at least model.img_size ({model.img_size}), the crop.")
    if data.synthetic and data.root:
        fail("data.root", "leave it empty with data.synthetic: true (the synthetic set goes into the run folder).")
    if data.seed is not None and data.seed < 0:
        fail("data.seed", f"must be a non-negative integer or null. Received: {data.seed}")
    for name in ("learning_rate", "epsilon"):
        if not getattr(optimizer, name) > 0:
            fail(f"optimizer.{name}", f"must be positive. Received: {getattr(optimizer, name)}")
    for name in ("beta_1", "beta_2"):
        if not 0 <= getattr(optimizer, name) < 1:
            fail(f"optimizer.{name}", f"must be in [0, 1). Received: {getattr(optimizer, name)}")
    if optimizer.weight_decay < 0:
        fail("optimizer.weight_decay", f"must be non-negative. Received: {optimizer.weight_decay}")
    if optimizer.decay_start is not None and not 0 <= optimizer.decay_start < training.iterations:
        fail(
            "optimizer.decay_start",
            f"must be in [0, training.iterations={training.iterations}) or null for a constant learning rate. "
            f"Received: {optimizer.decay_start}",
        )
    for field in dataclasses.fields(config.loss):
        value = getattr(config.loss, field.name)
        if not (value >= 0 and math.isfinite(value)):
            fail(f"loss.{field.name}", f"must be a finite non-negative number. Received: {value}")
    if training.iterations % log.checkpoint_every:
        fail(
            "training.iterations",
            f"({training.iterations}) must be a multiple of logging.checkpoint_every ({log.checkpoint_every}): "
            "one Keras epoch is one checkpoint period, so that a resumed run starts exactly at a saved step.",
        )
    if log.export_every < 0:
        fail("logging.export_every", f"must be non-negative (0: export only at the end). Received: {log.export_every}")
    if log.verbose not in (0, 1, 2):
        fail("logging.verbose", f"must be 0, 1 or 2. Received: {log.verbose}")
    if config.precision not in PRECISIONS:
        fail("precision", f"must be one of {', '.join(PRECISIONS)}. Received: {config.precision!r}")
    if config.strategy not in STRATEGIES:
        fail("strategy", f"must be one of {', '.join(STRATEGIES)}. Received: {config.strategy!r}")
    if not config.output_dir:
        fail("output_dir", "must name the run folder.")


def write_config(config, path):
    """Writes the resolved config as YAML to `path` atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Resolved training config of this run (defaults, file and overrides applied).\n"
    text += yaml.safe_dump(config.to_dict(), sort_keys=False)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def config_differences(first, second):
    """Dotted keys whose values differ between two configs, e.g. `['training.batch_size']`."""
    return sorted(_differences(first.to_dict(), second.to_dict(), ""))


def _differences(first, second, prefix):
    for key in first:
        if isinstance(first[key], dict):
            yield from _differences(first[key], second[key], f"{prefix}{key}.")
        elif first[key] != second[key]:
            yield f"{prefix}{key}"


def _has_field(instance, name):
    return dataclasses.is_dataclass(instance) and name in {f.name for f in dataclasses.fields(instance)}


def _known(instance):
    names = ", ".join(f.name for f in dataclasses.fields(instance))
    return f"Known keys here: {names}."


def _build(cls, data, source, prefix):
    where = f"section '{prefix[:-1]}'" if prefix else "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where} must be a mapping of keys to values. Received: {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{source}: unknown key '{prefix}{key}' in {where}. {_known(cls())}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, {} if value is None else value, source, f"{prefix}{key}.")
        else:
            values[key] = _coerce(value, hint, f"{prefix}{key}", source)
    return cls(**values)


def _coerce(value, hint, key, source):
    """`value` as the field type `hint` (int, float, bool, str or Optional of one), else a `ConfigError`."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    if optional:
        if value is None:
            return None
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)  # `1e6` written for a step count
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        # YAML 1.1 (PyYAML) reads `1e-4` (no dot) as a string; accept it as the number it means.
        try:
            return float(value)
        except ValueError:
            pass
    if hint is str and isinstance(value, (str, os.PathLike)):
        return str(value)
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]
    if optional:
        expected += " or null"
    raise ConfigError(f"{source}: '{key}' must be {expected}. Received: {value!r} ({type(value).__name__})")
