"""The versions of one exported model on disk: load those the version policy asks for, notice new ones.

As in TF Serving, the version policy picks the version folders to serve (default: the newest one;
`latest { num_versions: N }`, `all`, `specific { versions: ... }` from a model config file), and
version labels (`stable` → 1) name served versions. A polling thread notices new folders; a new
version is loaded and warmed up (`warmup.py`) next to the served ones, then swapped in, so requests
never wait for a load, never see a half-written export (exports are renamed into place) and never
pay for a signature's first call.
"""

import threading
import time
from pathlib import Path

from keras_p2c.serving.codec import NotFoundError
from keras_p2c.serving.config_files import VersionPolicy
from keras_p2c.serving.accelerated import RuntimeSignatures, wants_runtime
from keras_p2c.serving.export import FLOAT_SIGNATURE, list_versions
from keras_p2c.serving.warmup import warm_up

# Signatures that are SavedModel plumbing, not something a client can call.
_HIDDEN_SIGNATURES = ("__saved_model_init_op",)


class ServedVersion:
    """One loaded SavedModel version: callable signatures and their SignatureDefs as JSON.

    `extensions` maps extra signature names to objects computed by the server around this version
    (`input_specs`, `signature_def`, `predict(served, arrays)`), e.g. `photo.PhotoSignature`.
    """

    def __init__(self, path, version, extensions=None, model_name=None, runtime=None, log=None):
        import tensorflow as tf

        self.path = Path(path)
        self.version = version
        self.model_name = model_name
        start = time.perf_counter()
        self.module = tf.saved_model.load(str(self.path))
        self.load_seconds = time.perf_counter() - start
        self.warmup = None  # the `warmup.WarmupResult` once the registry has warmed it up
        self.signatures = {k: v for k, v in self.module.signatures.items() if k not in _HIDDEN_SIGNATURES}
        self.signature_defs = _signature_defs(self.path / "saved_model.pb")
        self.extensions = dict(extensions or {})
        self.signature_defs.update({name: ext.signature_def for name, ext in self.extensions.items()})
        self.warming = False  # set while warm-up requests run: they compile, the runtime is chosen later
        self.accelerated = None
        runtime = dict(runtime or {})  # runtime, precision, cache_dir: see serving.accelerated
        if FLOAT_SIGNATURE in self.signatures and wants_runtime(runtime.get("runtime"), runtime.get("precision")):
            label = f"{model_name or self.path.parent.name} version {version}"
            self.accelerated = RuntimeSignatures(self.path, self.signatures, log=log or _print, label=label, **runtime)

    def input_specs(self, signature_name):
        if signature_name in self.extensions:
            return dict(self.extensions[signature_name].input_specs)
        _, specs = self.signature(signature_name).structured_input_signature
        return dict(specs)

    def signature(self, signature_name):
        try:
            return self.signatures[signature_name]
        except KeyError:
            available = sorted([*self.signatures, *self.extensions])
            raise NotFoundError(
                f"Serving signature name: \"{signature_name}\" not found in signature def "
                f"(available: {', '.join(available)})"
            ) from None

    def predict(self, signature_name, arrays):
        """Runs a signature on dict input name → array; returns dict output name → array."""
        import tensorflow as tf

        if signature_name in self.extensions:
            return self.extensions[signature_name].predict(self, arrays)
        function = self.signature(signature_name)
        if self.accelerated is not None and self.accelerated.handles(signature_name):
            return self.accelerated.predict(signature_name, arrays, warming=self.warming)
        outputs = function(**{name: tf.constant(value) for name, value in arrays.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}


def client_input_errors():
    """Errors a signature raises because of what the client sent (TF Serving answers these with 400).

    ValueError/TypeError come from the signature's argument checks (dtype or shape the codec let
    through); the op errors from decoding and validating the data (e.g. bytes that are not an image).
    """
    import tensorflow as tf

    return (
        tf.errors.InvalidArgumentError,
        tf.errors.OutOfRangeError,
        tf.errors.FailedPreconditionError,
        tf.errors.DataLossError,
        ValueError,
        TypeError,
    )


def _signature_defs(saved_model_pb):
    """The SignatureDefs of a saved_model.pb in the protobuf-JSON shape TF Serving's metadata API uses."""
    from google.protobuf.json_format import MessageToDict
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(Path(saved_model_pb).read_bytes())
    signature_defs = saved_model.meta_graphs[0].signature_def
    return {
        name: MessageToDict(signature_defs[name], preserving_proto_field_name=True)
        for name in signature_defs
        if name not in _HIDDEN_SIGNATURES
    }


def _print(message):
    print(message, flush=True)


class ModelLoadError(RuntimeError):
    """A version folder that could not be loaded or warmed up; the message names the folder."""


class ModelRegistry:
    """Serves the versions of the SavedModel folders under `model_dir` that `version_policy` selects.

    Args:
        model_dir: `saved_models/<name>`, holding numeric version folders.
        name: the model name in URLs (default: the folder's name).
        poll_seconds: how often the polling thread looks for new versions.
        extensions: extra signatures computed by the server around each version (see `ServedVersion`).
        version_policy: a `config_files.VersionPolicy` (default: the newest version only).
        version_labels: dict label → version number; each must be a served version.
        warmup: run warm-up requests on each version before it serves.
        runtime: `{"runtime", "precision", "cache_dir"}` where the generator signatures run (see
            `serving.accelerated`; default: $KERAS_P2C_RUNTIME, else auto).
        log: where notes go (a skipped synthetic warm-up request, a failed load while polling).
    """

    def __init__(
        self, model_dir, name=None, poll_seconds=2.0, extensions=None, version_policy=None, version_labels=None,
        warmup=True, log=None, runtime=None,
    ):  # fmt: skip
        self.model_dir = Path(model_dir)
        self.name = name or self.model_dir.resolve().name
        self.poll_seconds = poll_seconds
        self.extensions = dict(extensions or {})
        self.version_policy = version_policy or VersionPolicy()
        self.version_labels = dict(version_labels or {})
        self.warmup = warmup
        self.runtime = dict(runtime or {})
        self.log = log or _print
        # Replaced, never changed in place, so request threads read it without the lock.
        self._served = {}
        self.states = {}  # version → TF Serving's state name (LOADING, AVAILABLE, END), for the metrics
        self.load_attempts = {"success": 0, "error": 0}
        self._failed = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if not list_versions(self.model_dir):
            raise FileNotFoundError(
                f"{self.model_dir}: no numeric version folder (e.g. {self.model_dir}/1/saved_model.pb); "
                "export one with `p2c export`."
            )
        # Labels checked before loading anything (a wrong label fails fast), and again after (a load can fail).
        self._check_labels(self.version_policy.select(self._on_disk()))
        self.refresh()
        if not self._served:
            raise FileNotFoundError(
                f"{self.model_dir}: no version folder matches the version policy ({self.version_policy.describe()}); "
                f"on disk: {list_versions(self.model_dir)}"
            )
        self._check_labels(sorted(self._served))

    def _check_labels(self, served):
        unserved = {label: v for label, v in self.version_labels.items() if v not in served}
        if unserved:
            raise ValueError(
                f"model {self.name!r}: version labels {unserved} name versions that are not served "
                f"(served: {served}, version policy: {self.version_policy.describe()})"
            )

    def _on_disk(self):
        """The complete version folders (a saved_model.pb inside) not known to fail, ascending."""
        return [
            v
            for v in list_versions(self.model_dir)
            if v not in self._failed and (self.model_dir / str(v) / "saved_model.pb").is_file()
        ]

    @classmethod
    def from_config(cls, entry, **options):
        """The registry for one `config_files.ModelEntry` of a model config file."""
        return cls(
            entry.base_path, name=entry.name, version_policy=entry.version_policy, version_labels=entry.version_labels,
            **options,
        )  # fmt: skip

    def _load(self, version):
        served = ServedVersion(
            self.model_dir / str(version), version, self.extensions, model_name=self.name, runtime=self.runtime,
            log=self.log,
        )  # fmt: skip
        if self.warmup:
            served.warming = True
            try:
                served.warmup = warm_up(served)
            finally:
                served.warming = False
            for note in served.warmup.skipped:
                self.log(f"p2c serve: {self.name} version {version}: synthetic warm-up request skipped: {note}")
        return served

    def refresh(self):
        """Loads the versions the policy selects that are not served yet, drops those it no longer selects.

        Returns the newest served version number. A version that fails to load is reported once (raised
        here, after the others are swapped in) and not tried again.
        """
        with self._lock:  # one loader at a time; readers never take this lock
            on_disk = self._on_disk()
            served, errors = dict(self._served), []
            # Load first, unload after, and choose again without the versions that failed (TF Serving's
            # availability-preserving policy): a broken new export must not cost a served version.
            while True:
                wanted = self.version_policy.select([v for v in on_disk if v not in self._failed])
                missing = [v for v in wanted if v not in served]
                if not missing:
                    break
                for version in missing:
                    self.states[version] = "LOADING"
                    try:
                        served[version] = self._load(version)
                    except Exception as error:  # reported below with the folder's name; the others still load
                        self._failed.add(version)
                        self.states[version] = "END"
                        self.load_attempts["error"] += 1
                        errors.append(f"{self.model_dir / str(version)}: {type(error).__name__}: {error}")
                    else:
                        self.states[version] = "AVAILABLE"
                        self.load_attempts["success"] += 1
            for version in [v for v in served if v not in wanted]:
                del served[version]
                self.states[version] = "END"
            self._served = served
            if errors:
                raise ModelLoadError("could not load " + "; ".join(errors))
            return max(served, default=None)

    def served(self):
        """The served `ServedVersion`s, newest first."""
        served = self._served
        return [served[v] for v in sorted(served, reverse=True)]

    def get(self, version=None, label=None):
        """The served version for a request (the newest without `version` or `label`); 404 for others."""
        served = self._served
        if label is not None:
            if label not in self.version_labels:
                raise NotFoundError(f"Unrecognized servable version label: {label}")
            version = self.version_labels[label]
        if version is None:
            if not served:
                raise NotFoundError(f"Servable not found for request: Latest({self.name})")
            return served[max(served)]
        current = served.get(int(version))
        if current is None:
            raise NotFoundError(f"Servable not found for request: Specific({self.name}, {version})")
        return current

    def start_polling(self):
        def poll():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.refresh()
                except Exception as error:  # a broken export must not stop the server; log and retry
                    self.log(f"p2c serve: could not load a new version from {self.model_dir}: {error}")

        self._thread = threading.Thread(target=poll, name=f"poll-{self.name}", daemon=True)
        self._thread.start()

    def stop_polling(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
