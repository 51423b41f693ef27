"""The versions of one exported model on disk: load the newest, notice new ones.

Like TF Serving's default version policy ("latest"), only the newest numeric
version folder is loaded and served; a new folder is picked up by a polling
thread, loaded next to the old one, then swapped in, so requests never wait
for a load and never see a half-written export (exports are renamed into place).
"""

import threading
from pathlib import Path

from keras_p2c.serving.export import list_versions
from keras_p2c.serving.codec import NotFoundError

# Signatures that are SavedModel plumbing, not something a client can call.
_HIDDEN_SIGNATURES = ("__saved_model_init_op",)


class ServedVersion:
    """One loaded SavedModel version: callable signatures and their SignatureDefs as JSON.

    `extensions` maps extra signature names to objects computed by the server around this version
    (`input_specs`, `signature_def`, `predict(served, arrays)`), e.g. `photo.PhotoSignature`.
    """

    def __init__(self, path, version, extensions=None):
        import tensorflow as tf

        self.path = Path(path)
        self.version = version
        self.module = tf.saved_model.load(str(self.path))
        self.signatures = {k: v for k, v in self.module.signatures.items() if k not in _HIDDEN_SIGNATURES}
        self.signature_defs = _signature_defs(self.path / "saved_model.pb")
        self.extensions = dict(extensions or {})
        self.signature_defs.update({name: ext.signature_def for name, ext in self.extensions.items()})

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
        outputs = function(**{name: tf.constant(value) for name, value in arrays.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}


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


class ModelRegistry:
    """Serves the newest version of the SavedModel folders under `model_dir`.

    Args:
        model_dir: `saved_models/<name>`, holding numeric version folders.
        name: the model name in URLs (default: the folder's name).
        poll_seconds: how often the polling thread looks for a new version.
        extensions: extra signatures computed by the server around each version (see `ServedVersion`).
    """

    def __init__(self, model_dir, name=None, poll_seconds=2.0, extensions=None):
        self.model_dir = Path(model_dir)
        self.name = name or self.model_dir.resolve().name
        self.poll_seconds = poll_seconds
        self.extensions = dict(extensions or {})
        self._current = None
        self._failed = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if not list_versions(self.model_dir):
            raise FileNotFoundError(
                f"{self.model_dir}: no numeric version folder (e.g. {self.model_dir}/1/saved_model.pb); "
                "export one with `p2c export`."
            )
        self.refresh()

    def refresh(self):
        """Loads the newest version if it is newer than the served one; returns the served version number."""
        with self._lock:  # one loader at a time; readers never take this lock
            versions = [
                v
                for v in list_versions(self.model_dir)
                if v not in self._failed and (self.model_dir / str(v) / "saved_model.pb").is_file()
            ]
            newest = max(versions, default=None)
            if newest is not None and (self._current is None or newest > self._current.version):
                try:
                    self._current = ServedVersion(self.model_dir / str(newest), newest, self.extensions)
                except Exception:
                    self._failed.add(newest)  # report a broken version once, not on every poll
                    raise
            return None if self._current is None else self._current.version

    def get(self, version=None, label=None):
        """The served version for a request; 404 for another model version or any label."""
        current = self._current
        if label is not None:
            raise NotFoundError(f"Unrecognized servable version label: {label}")
        if version is not None and str(version) != str(current.version):
            raise NotFoundError(f"Servable not found for request: Specific({self.name}, {version})")
        return current

    def start_polling(self):
        def poll():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.refresh()
                except Exception as error:  # a broken export must not stop the server; log and retry
                    print(f"p2c serve: could not load a new version from {self.model_dir}: {error}", flush=True)

        self._thread = threading.Thread(target=poll, name=f"poll-{self.name}", daemon=True)
        self._thread.start()

    def stop_polling(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
