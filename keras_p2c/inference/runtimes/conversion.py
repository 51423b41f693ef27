"""Converting a source into OpenVINO IR or ONNX, once per weights: `<cache>/runtimes/<digest>/`.

`make(name, source, precision, cache)` gives the runtime `name` of a source, converting it only when
the cache has no model for these weights and this library version; `require(name, precision)` says,
before anything is converted, why that runtime cannot run here (`RuntimeUnavailable`).
"""

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from keras_p2c import cpu
from keras_p2c.atomic import atomic_path, write_text_atomic
from keras_p2c.cache import cache_dir as resolve_cache_dir
from keras_p2c.inference.runtimes.checks import RuntimeCheck, RuntimeUnavailable
from keras_p2c.inference.runtimes.engines import OnnxRuntimeRuntime, OpenVINORuntime, output_order


def convert_openvino(function, path):
    """A `tf.function` of the generator → OpenVINO IR at `path` (`.xml` + `.bin`), atomically."""
    openvino = _import("openvino", "openvino")
    model = openvino.convert_model(function)
    # The traced graph also exposes dangling shape reads as outputs; keep the three the generator returns.
    order = output_order([tuple(output.get_partial_shape().get_min_shape()) for output in model.outputs])
    model = openvino.Model([model.outputs[i] for i in order], model.get_parameters(), "photo2cartoon_generator")
    path = Path(path)
    staging = Path(tempfile.mkdtemp(prefix=".openvino-", dir=path.parent))
    try:
        openvino.save_model(model, str(staging / path.name), compress_to_fp16=False)
        # The .bin first: a reader that finds the .xml finds its weights.
        staging.joinpath(path.name).with_suffix(".bin").replace(path.with_suffix(".bin"))
        staging.joinpath(path.name).replace(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def convert_onnx(function, path):
    """A `tf.function` of the generator → ONNX at `path` through tf2onnx (minutes on 2 cores), atomically."""
    import tf2onnx

    with atomic_path(path) as temporary:
        tf2onnx.convert.from_function(function, input_signature=function.input_signature, output_path=str(temporary))
    return Path(path)


class ConversionCache:
    """`<cache>/runtimes/<weights digest>/`: converted models and their checks, written atomically."""

    def __init__(self, source, cache_dir=None):
        self.folder = resolve_cache_dir(cache_dir) / "runtimes" / source.digest()
        self.checks_file = self.folder / "checks.json"

    def path(self, name):
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / name

    def checks(self):
        try:
            return json.loads(self.checks_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def check(self, key):
        entry = self.checks().get(key)
        try:
            return None if entry is None else RuntimeCheck(**entry)
        except TypeError:  # written by another version
            return None

    def save_check(self, key, check):
        checks = self.checks()
        checks[key] = dataclasses.asdict(check)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.checks_file, json.dumps(checks, indent=1, sort_keys=True))


def library_version(module):
    return getattr(__import__(module), "__version__", "unknown").split("-")[0]


def _require_tensorflow_backend(what):
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeUnavailable(f"{what} converts the generator through TensorFlow (KERAS_BACKEND=tensorflow)")


def _import(module, extra):
    try:
        return __import__(module)
    except ImportError as error:
        raise RuntimeUnavailable(f"{module} is not installed ({error}; pip install {extra})") from error


def _openvino_available(precision):
    _require_tensorflow_backend("OpenVINO")
    _import("openvino", "openvino")
    if precision == "bf16" and not cpu.has_bf16_units():
        raise RuntimeUnavailable("the CPU has no bf16 units (AVX512_BF16 / AMX): bf16 would be emulated, and slower")


def _onnxruntime_available(precision):
    del precision
    _require_tensorflow_backend("onnxruntime")
    _import("onnxruntime", "onnxruntime")
    _import("tf2onnx", "'keras-p2c[onnx]'")


def _openvino_for(source, precision, cache):
    _openvino_available(precision)
    path = cache.path(f"openvino-{library_version('openvino')}.xml")
    if not (path.is_file() and path.with_suffix(".bin").is_file()):
        convert_openvino(source.function(), path)
    return OpenVINORuntime(path, precision)


def _onnxruntime_for(source, precision, cache):
    _onnxruntime_available(precision)
    path = cache.path("generator.onnx")
    if not path.is_file():
        convert_onnx(source.function(), path)
    return OnnxRuntimeRuntime(path)


_MAKERS = {"openvino": _openvino_for, "onnxruntime": _onnxruntime_for}
_REQUIREMENTS = {"openvino": _openvino_available, "onnxruntime": _onnxruntime_available}
CONVERTED = tuple(_MAKERS)  # the runtimes made by conversion (Keras' own is the source's reference)


def require(name, precision):
    """Raises `RuntimeUnavailable`, saying why, where the converted runtime `name` cannot run here."""
    _REQUIREMENTS[name](precision)


def make(name, source, precision, cache):
    """The converted runtime `name` of `source` at `precision`, from `cache` or converted into it."""
    return _MAKERS[name](source, precision, cache)
