"""Reading the training configuration from YAML, with command-line overrides, checking it, and writing it.

The sections and keys are those of `keras_p2c.training.schema.TrainConfig`. Every key is optional (the
defaults are the reference's hyper-parameters); an unknown key or a value of the wrong type is an error
naming the key and the file, found by a generic engine that reads the dataclasses' field types; `validate`
then checks ranges and consistency. The resolved config is written into the run folder (`write_config`) so
every run records exactly what it trained with.

    config = load_config("configs/photo2cartoon.yaml", overrides=["training.batch_size=4"])
"""

import dataclasses
import math
import os
import types
import typing

import yaml

from keras_p2c.atomic import write_text_atomic
from keras_p2c.models.discriminator import minimum_input_size
from keras_p2c.training.names import PRECISIONS, STRATEGIES
from keras_p2c.training.schema import TrainConfig


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the source, the key and what to do."""


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
    chain = [config]  # the config and each section down to the one holding `name`
    for depth, section in enumerate(sections):
        child = getattr(chain[-1], section, None) if _has_field(chain[-1], section) else None
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"{source}: unknown section '{'.'.join(sections[: depth + 1])}'. {_known(chain[-1])}")
        chain.append(child)
    if not _has_field(chain[-1], name):
        raise ConfigError(f"{source}: unknown key '{key}'. {_known(chain[-1])}")
    hint = typing.get_type_hints(type(chain[-1]))[name]
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"{source}: '{key}' is a section; set its keys one by one ('{key}.<key>=...').")
    value = _coerce(value, hint, key, source)
    # Set it bottom-up: a frozen section (`loss`, a `LossWeights`) is replaced by a copy in its parent.
    for target, field_name in zip(reversed(chain), [name, *reversed(sections)]):
        try:
            setattr(target, field_name, value)
            return
        except dataclasses.FrozenInstanceError:
            value = _construct(type(target), {**_values(target), field_name: value}, source, key)
    raise ConfigError(f"{source}: the config itself is frozen; cannot set '{key}'.")


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
    if log.eval_every < 0:
        fail("logging.eval_every", f"must be a non-negative integer (0: no evaluation). Received: {log.eval_every}")
    if log.eval_images < 2:
        fail("logging.eval_images", f"must be at least 2 (FID and KID need two images). Received: {log.eval_images}")
    if model.img_size % 16:
        fail("model.img_size", f"must be a multiple of 16 (the hourglass pools). Received: {model.img_size}")
    if model.ngf % 4:
        fail("model.ngf", f"must be a multiple of 4. Received: {model.ngf}")
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
    text = "# Resolved training config of this run (defaults, file and overrides applied).\n"
    text += yaml.safe_dump(config.to_dict(), sort_keys=False)
    return write_text_atomic(path, text)


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
    return _construct(cls, values, source, prefix[:-1] or "the top level")


def _values(instance):
    return {field.name: getattr(instance, field.name) for field in dataclasses.fields(instance)}


def _construct(cls, values, source, where):
    """`cls(**values)`, its own checks (e.g. `LossWeights`' non-negative weights) reported as a `ConfigError`."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{source}: {where}: {error}") from None


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
