"""TF Serving's text-format config files, read for `p2c serve`: the model config and the batching parameters.

* `--model-config-file` holds a `ModelServerConfig` (TF Serving's own proto, from `tensorflow-serving-api`):

      model_config_list {
        config {
          name: "photo2cartoon"
          base_path: "/models/photo2cartoon"     # relative paths are relative to the current folder, as in TF Serving
          model_platform: "tensorflow"
          model_version_policy { specific { versions: 1 versions: 2 } }   # or latest { num_versions: 2 }, or all {}
          version_labels { key: "stable" value: 1 }
          version_labels { key: "canary" value: 2 }
        }
        config { name: "other" base_path: "/models/other" }
      }

* `--batching-parameters-file` holds a `BatchingParameters` (`max_batch_size { value: 8 }`,
  `batch_timeout_micros { value: 5000 }`, `max_enqueued_batches`, `num_batch_threads`, `thread_pool_name`,
  `allowed_batch_sizes: 4`, `pad_variable_length_inputs`). That proto is not in `tensorflow-serving-api`,
  so its fields are declared here, with TF Serving's names, numbers and wrapper types.

Both parse with protobuf's `text_format`, so the syntax is exactly TF Serving's (comments, any field order,
`:` optional before `{`), and every error names the file and line.
"""

import dataclasses
import re
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PROTOS_MISSING = "TF Serving's protos are not installed: pip install --no-deps tensorflow-serving-api"


class ConfigFileError(ValueError):
    """A config file that cannot be used; the message starts with `file:line:`."""


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which version folders of a model are served (TF Serving's `model_version_policy`).

    `kind` is "latest" (the `num_versions` newest), "all", or "specific" (`versions`).
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    def select(self, available):
        """The versions to serve among `available` (ints), ascending."""
        available = sorted(available)
        if self.kind == "all":
            return available
        if self.kind == "specific":
            return [v for v in available if v in self.versions]
        return available[-self.num_versions :]

    def describe(self):
        if self.kind == "latest":
            return f"latest {self.num_versions}"
        return "all" if self.kind == "all" else f"specific {list(self.versions)}"


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One `config { ... }` of a model config file.

    `ignored` names fields TF Serving uses that `p2c serve` does not (e.g. `logging_config`).
    """

    name: str
    base_path: Path
    version_policy: VersionPolicy
    version_labels: dict
    source: str
    ignored: tuple = ()


def _parse_text(text, message, path):
    from google.protobuf import text_format

    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        # ParseError's text starts with "line:column : "; say the file first, like a compiler.
        where = f"{path}:{error.GetLine()}:{error.GetColumn()}" if error.GetLine() else str(path)
        detail = re.sub(r"^\d+:\d+ : ", "", str(error))
        raise ConfigFileError(f"{where}: {detail}") from None
    return message


def _read_text(path, what):
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such {what} file") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not a text file (a {what} file is protobuf text format)") from None


def _line_of(text, name):
    """The line of `name: "<name>"` in the file, for errors found after parsing (1 when not found)."""
    match = re.search(r"\bname\s*:\s*[\"']" + re.escape(name) + r"[\"']", text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def read_model_config(path):
    """A `ModelServerConfig` text file → one `ModelEntry` per model, in file order."""
    try:
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError:
        raise ConfigFileError(f"{path}: reading a model config file needs {_PROTOS_MISSING}") from None

    text = _read_text(path, "model config")
    config = _parse_text(text, model_server_config_pb2.ModelServerConfig(), path)
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigFileError(
            f"{path}:1: expected `model_config_list {{ config {{ name: ... base_path: ... }} }}`"
            + (" (custom_model_config is not supported)" if config.HasField("custom_model_config") else "")
        )
    entries, seen = [], set()
    for model in config.model_config_list.config:
        where = f"{path}:{_line_of(text, model.name)}"
        if not _NAME.match(model.name):
            raise ConfigFileError(f"{where}: a model needs a plain `name` (letters, digits, _ . -); got {model.name!r}")
        if model.name in seen:
            raise ConfigFileError(f"{where}: model {model.name!r} is configured twice")
        seen.add(model.name)
        if not model.base_path:
            raise ConfigFileError(f"{where}: model {model.name!r} has no `base_path` (the folder holding its versions)")
        if model.model_platform not in ("", "tensorflow"):
            raise ConfigFileError(
                f"{where}: model {model.name!r}: model_platform {model.model_platform!r} is not served here "
                "(p2c serve loads TensorFlow SavedModels: use \"tensorflow\")"
            )
        policy = _version_policy(model.model_version_policy, f"{where}: model {model.name!r}")
        labels = dict(model.version_labels)
        bad = {label: v for label, v in labels.items() if v <= 0 or not label}
        if bad:
            raise ConfigFileError(f"{where}: model {model.name!r}: version labels must name positive versions: {bad}")
        ignored = tuple(field.name for field, _ in model.ListFields() if field.name in ("logging_config",))
        entries.append(
            ModelEntry(model.name, Path(model.base_path), policy, labels, source=where, ignored=ignored)
        )
    if not entries:
        raise ConfigFileError(f"{path}:1: the model_config_list has no `config {{ ... }}` entry")
    return entries


def _version_policy(policy, where):
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return VersionPolicy("all")
    if kind == "specific":
        versions = tuple(sorted(set(policy.specific.versions)))
        if not versions or min(versions) <= 0:
            raise ConfigFileError(f"{where}: `specific {{ versions: N }}` needs positive version numbers")
        return VersionPolicy("specific", versions=versions)
    num = policy.latest.num_versions if kind == "latest" else 0
    return VersionPolicy("latest", num_versions=num or 1)  # TF Serving: num_versions 0 or unset means 1


# --- batching parameters -----------------------------------------------------------------------------

# (name, number, type): TF Serving's BatchingParameters (session_bundle_config.proto).
_BATCHING_FIELDS = (
    ("max_batch_size", 1, "Int64Value"),
    ("batch_timeout_micros", 2, "Int64Value"),
    ("max_enqueued_batches", 3, "Int64Value"),
    ("num_batch_threads", 4, "Int64Value"),
    ("thread_pool_name", 5, "StringValue"),
    ("allowed_batch_sizes", 6, "repeated int64"),
    ("pad_variable_length_inputs", 7, "bool"),
)


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """Request batching for `p2c serve --enable-batching`, with TF Serving's parameter names.

    Args:
        max_batch_size: the most rows (instances) one model call takes.
        batch_timeout_micros: how long the oldest queued request waits for others before its batch runs.
        max_enqueued_batches: queued rows beyond `max_enqueued_batches × max_batch_size` get 503.
        num_batch_threads: batches run at the same time.
        allowed_batch_sizes: if set, batches are padded up to the next of these sizes (the last must be
            `max_batch_size`), so the model sees only these shapes.
    """

    max_batch_size: int = 8
    batch_timeout_micros: int = 5000
    max_enqueued_batches: int = 100
    # Two: while one batch runs, the next forms and starts (one thread serialised them and lost throughput
    # against unbatched serving on the 2-core CPU; see the README's serving section).
    num_batch_threads: int = 2
    allowed_batch_sizes: tuple = ()

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1. Received: {name}={getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"`batch_timeout_micros` must be >= 0. Received: batch_timeout_micros={self.batch_timeout_micros}")
        sizes = tuple(self.allowed_batch_sizes)
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[0] < 1 or sizes[-1] != self.max_batch_size):
            raise ValueError(
                "`allowed_batch_sizes` must increase and end at max_batch_size "
                f"({self.max_batch_size}). Received: allowed_batch_sizes={list(sizes)}"
            )


def _batching_parameters_message():
    """A message class for TF Serving's BatchingParameters, built from `_BATCHING_FIELDS` in a private pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(wrappers_pb2.DESCRIPTOR.serialized_pb))
    file = descriptor_pb2.FileDescriptorProto(
        name="keras_p2c/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file.message_type.add(name="BatchingParameters")
    field_type = descriptor_pb2.FieldDescriptorProto
    for name, number, kind in _BATCHING_FIELDS:
        field = message.field.add(name=name, number=number, label=field_type.LABEL_OPTIONAL)
        if kind == "repeated int64":
            field.type, field.label = field_type.TYPE_INT64, field_type.LABEL_REPEATED
        elif kind == "bool":
            field.type = field_type.TYPE_BOOL
        else:
            field.type, field.type_name = field_type.TYPE_MESSAGE, f".google.protobuf.{kind}"
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def read_batching_parameters(path, **overrides):
    """A `BatchingParameters` text file → `BatchingParameters`; fields it does not set keep our defaults.

    Args:
        path: the file, or None for the defaults alone.
        **overrides: values (not None) that replace the file's, e.g. from command-line options.
    """
    values = {}
    if path is not None:
        text = _read_text(path, "batching parameters")
        try:
            proto = _parse_text(text, _batching_parameters_message()(), path)
        except ConfigFileError as error:
            known = ", ".join(name for name, _, _ in _BATCHING_FIELDS)
            raise ConfigFileError(f"{error} (p2c serve reads: {known})") from None
        for name, _, kind in _BATCHING_FIELDS:
            if kind.endswith("Value") and proto.HasField(name) and name != "thread_pool_name":
                values[name] = getattr(proto, name).value
        if proto.allowed_batch_sizes:
            values["allowed_batch_sizes"] = tuple(proto.allowed_batch_sizes)
        if proto.pad_variable_length_inputs:
            raise ConfigFileError(
                f"{path}: pad_variable_length_inputs is not supported by p2c serve (requests are batched "
                "only with others of the same shape); remove it"
            )
    values.update({name: value for name, value in overrides.items() if value is not None})
    try:
        return BatchingParameters(**values)
    except ValueError as error:
        raise ConfigFileError(f"{path or 'batching options'}: {error}") from None
