"""Where the generator runs on a CPU: Keras' compiled predict, OpenVINO or onnxruntime, checked against Keras.

    runtime = select_runtime(generator)              # "auto": the fastest measured that is installed
    image, cam_logit, heatmap = runtime(faces)       # (N, S, S, 3) float32 in [-1, 1]
    runtime.describe()                               # 'openvino bf16 (PSNR 42.7 dB against float32 ...)'

Measured side by side (`p2c benchmark --what peers`, benchmarks/README.md), seconds per 256² image on
a 2-core CPU: OpenVINO is the fastest in float32 (1.3x the reference's best runtime where TensorFlow's
graph is 0.9x), and in bfloat16 on CPUs with bf16 units (AVX512_BF16 / AMX) 3x; without those units
bf16 is emulated and slower, so it is never picked there. `auto` therefore tries OpenVINO bf16 (bf16
CPUs only), then OpenVINO float32, then Keras' own compiled predict function (TensorFlow graph, or
`jax.jit` on the JAX backend), which always works. onnxruntime (1.0x) is there on request only: its
conversion (tf2onnx) takes minutes.

Every runtime other than Keras' is checked once, on the first image it is given, against Keras'
float32 generator: a float32 runtime must agree within 1e-4 on the image in [-1, 1], bfloat16 must
reach a PSNR of 40 dB. Under `auto` a runtime that fails its check gives way to the next one; one asked
for by name is kept, with a warning. Converted models and their checks are cached per weights
(`<cache>/runtimes/<weights digest>/`), so only the first run of new weights pays the conversion
(OpenVINO ~10 s) and the check.
"""

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from keras_p2c.atomic import atomic_path, write_text_atomic
from keras_p2c.cache import cache_dir as resolve_cache_dir
from keras_p2c.cpu import has_bf16_units

RUNTIMES = ("auto", "tensorflow", "openvino", "onnxruntime")
RUNTIME_ENV = "KERAS_P2C_RUNTIME"  # the default runtime of this machine, where `runtime` is not given
PRECISIONS = ("auto", "float32", "bf16")
FLOAT32_ATOL = 1e-4  # on the image in [-1, 1]
PSNR_FLOOR_DB = 40.0  # reduced precision against float32
_COMPILED_SHAPES = 4  # OpenVINO models compiled for this many batch sizes at most (a few seconds each)


class RuntimeUnavailable(RuntimeError):
    """A runtime that cannot run here (not installed, wrong backend, no bf16 units); the message says why."""


def check_runtime(runtime=None, precision=None):
    """`(runtime, precision)` validated; `None` runtime: `$KERAS_P2C_RUNTIME`, else "auto"; `None` precision: "auto"."""
    runtime = (os.environ.get(RUNTIME_ENV) or "auto") if runtime is None else runtime
    precision = "auto" if precision is None else precision
    if runtime not in RUNTIMES:
        raise ValueError(f"`runtime` must be one of {', '.join(RUNTIMES)}. Received: runtime={runtime!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {', '.join(PRECISIONS)}. Received: precision={precision!r}")
    if runtime in ("tensorflow", "onnxruntime") and precision == "bf16":
        raise ValueError(f"runtime={runtime!r} runs float32 only; bf16 is OpenVINO's (runtime='openvino').")
    return runtime, precision


def psnr_db(image, reference):
    """PSNR of two images in [-1, 1] on the [0, 1] scale; `inf` when they are identical."""
    mse = float(np.mean(((np.asarray(image, np.float64) - reference) / 2.0) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


@dataclasses.dataclass
class RuntimeCheck:
    """How one runtime's image compared with Keras' float32 image on the same input."""

    max_abs_difference: float
    psnr_db: float
    accepted: bool
    checked_on: str

    def describe(self, precision):
        if precision == "float32":
            return f"max |difference| {self.max_abs_difference:.1e} from Keras float32, bound {FLOAT32_ATOL:.0e}"
        return f"PSNR {self.psnr_db:.1f} dB against Keras float32, floor {PSNR_FLOOR_DB:.0f} dB"


def compare(image, reference, precision, checked_on):
    image, reference = np.asarray(image, np.float32), np.asarray(reference, np.float32)
    difference = float(np.max(np.abs(image - reference)))
    psnr = psnr_db(image, reference)
    accepted = difference <= FLOAT32_ATOL if precision == "float32" else psnr >= PSNR_FLOOR_DB
    return RuntimeCheck(difference, psnr, bool(accepted), checked_on)


# -- the runtimes: callables (N, S, S, 3) float32 -> (image, cam_logit, heatmap) as NumPy ----------------


class KerasRuntime:
    """Keras' compiled predict function (`tf.function`, or `jax.jit` on JAX), traced once per batch shape."""

    name, precision = "tensorflow", "float32"

    def __init__(self, generator):
        self.generator = generator

    def __call__(self, inputs):
        return tuple(np.asarray(output, np.float32) for output in self.generator.predict_on_batch(inputs))


def _output_order(shapes):
    """Indices of (image, cam_logit, heatmap) among a converted model's outputs, read off their shapes."""

    def find(test, what):
        found = [index for index, shape in enumerate(shapes) if test(shape)]
        if len(found) != 1:
            raise RuntimeError(f"cannot tell the generator's {what} among the converted outputs {shapes}")
        return found[0]

    return (
        find(lambda s: len(s) == 4 and s[-1] == 3, "image"),
        find(lambda s: len(s) == 2 and s[-1] == 2, "cam_logit"),
        find(lambda s: len(s) == 4 and s[-1] == 1, "heatmap"),
    )


class OpenVINORuntime:
    """An OpenVINO IR of the generator on the CPU plugin, compiled per batch size (static shapes plan faster kernels)."""

    name = "openvino"

    def __init__(self, model_path, precision):
        import openvino

        self.precision = precision
        self.core = openvino.Core()
        self.model_path = Path(model_path)
        self.compiled = {}

    def _compiled(self, shape):
        if shape not in self.compiled:
            if len(self.compiled) >= _COMPILED_SHAPES:
                self.compiled.pop(next(iter(self.compiled)))
            model = self.core.read_model(str(self.model_path))
            model.reshape(list(shape))
            # On a CPU with bf16 units the plugin computes in bf16 unless told f32.
            hint = {"float32": "f32", "bf16": "bf16"}[self.precision]
            compiled = self.core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
            order = _output_order([tuple(output.shape) for output in compiled.outputs])
            self.compiled[shape] = (compiled.create_infer_request(), [compiled.outputs[i] for i in order])
        return self.compiled[shape]

    def __call__(self, inputs):
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        request, outputs = self._compiled(inputs.shape)
        results = request.infer([inputs])
        return tuple(np.array(results[output], dtype=np.float32) for output in outputs)


class OnnxRuntimeRuntime:
    """Our ONNX export (free batch axis) on onnxruntime's CPU provider."""

    name, precision = "onnxruntime", "float32"

    def __init__(self, model_path):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.order = _output_order([tuple(output.shape) for output in self.session.get_outputs()])

    def __call__(self, inputs):
        outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(inputs, dtype=np.float32)})
        return tuple(np.asarray(outputs[i], np.float32) for i in self.order)


# -- conversion, cached per weights -----------------------------------------------------------------


def _require_tensorflow_backend(what):
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeUnavailable(f"{what} converts the generator through TensorFlow (KERAS_BACKEND=tensorflow)")


def _import(module, extra):
    try:
        return __import__(module)
    except ImportError as error:
        raise RuntimeUnavailable(f"{module} is not installed ({error}; pip install {extra})") from error


def _input_spec(size):
    import tensorflow as tf

    return tf.TensorSpec([None, size, size, 3], tf.float32, name="images")


class KerasSource:
    """A Keras generator as the thing converted: its weights are the cache key, its float32 predict the reference."""

    def __init__(self, generator):
        self.generator = generator
        self.size = generator.img_size
        self.reference = KerasRuntime(generator)

    def function(self):
        """The generator as a `tf.function` with a free batch axis: what OpenVINO and tf2onnx convert."""
        import tensorflow as tf

        return tf.function(lambda images: self.generator(images, training=False), input_signature=[_input_spec(self.size)])

    def digest(self):
        """The generator's configuration and weights."""
        import keras

        digest = hashlib.sha256(json.dumps(self.generator.get_config(), sort_keys=True, default=str).encode())
        for weight in self.generator.weights:
            value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
            digest.update(f"{weight.path}:{value.dtype}:{value.shape};".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()[:24]


class SignatureRuntime:
    """A SavedModel's float signature (`predict_images`) as a runtime: what `p2c serve` runs by default."""

    name, precision = "tensorflow", "float32"

    def __init__(self, signature, input_name, output_names):
        self.signature, self.input_name, self.output_names = signature, input_name, output_names

    def __call__(self, inputs):
        import tensorflow as tf

        outputs = self.signature(**{self.input_name: tf.constant(inputs)})
        return tuple(outputs[name].numpy() for name in self.output_names)


class SavedModelSource:
    """An exported SavedModel's float signature as the thing converted: its files are the cache key.

    Args:
        path: the version folder. signature: its loaded signature (the loaded module must stay alive).
        input_name, output_names: the signature's input and its (image, cam_logit, heatmap) outputs.
    """

    def __init__(self, path, signature, input_name, output_names):
        self.path = Path(path)
        self.signature = signature
        self.size = int(signature.structured_input_signature[1][input_name].shape[1])
        self.input_name = input_name
        self.reference = SignatureRuntime(signature, input_name, output_names)

    def function(self):
        import tensorflow as tf

        return tf.function(lambda images: self.signature(**{self.input_name: images}), input_signature=[_input_spec(self.size)])

    def digest(self):
        """The graph and the variables' files."""
        digest = hashlib.sha256()
        files = [self.path / "saved_model.pb", *sorted((self.path / "variables").glob("*"))]
        for file in files:
            digest.update(f"{file.relative_to(self.path)};".encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return "savedmodel-" + digest.hexdigest()[:24]


def convert_openvino(function, path):
    """A `tf.function` of the generator → OpenVINO IR at `path` (`.xml` + `.bin`), atomically."""
    openvino = _import("openvino", "openvino")
    model = openvino.convert_model(function)
    # The traced graph also exposes dangling shape reads as outputs; keep the three the generator returns.
    order = _output_order([tuple(output.get_partial_shape().get_min_shape()) for output in model.outputs])
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


def _library_version(module):
    return getattr(__import__(module), "__version__", "unknown").split("-")[0]


def _openvino_available(precision):
    _require_tensorflow_backend("OpenVINO")
    _import("openvino", "openvino")
    if precision == "bf16" and not has_bf16_units():
        raise RuntimeUnavailable("the CPU has no bf16 units (AVX512_BF16 / AMX): bf16 would be emulated, and slower")


def _onnxruntime_available(precision):
    del precision
    _require_tensorflow_backend("onnxruntime")
    _import("onnxruntime", "onnxruntime")
    _import("tf2onnx", "'keras-p2c[onnx]'")


def _openvino_for(source, precision, cache):
    _openvino_available(precision)
    path = cache.path(f"openvino-{_library_version('openvino')}.xml")
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
_AVAILABLE = {"openvino": _openvino_available, "onnxruntime": _onnxruntime_available}


def candidates(runtime="auto", precision="auto"):
    """`(runtime, precision)` pairs in the order they are tried; Keras' float32 last under `auto`."""
    check_runtime(runtime, precision)
    if runtime == "tensorflow":
        return [("tensorflow", "float32")]
    if runtime == "onnxruntime":
        return [("onnxruntime", "float32")]
    precisions = {"auto": ("bf16", "float32") if has_bf16_units() else ("float32",)}.get(precision, (precision,))
    chosen = [("openvino", p) for p in precisions]
    return chosen + [("tensorflow", "float32")] if runtime == "auto" else chosen


class GeneratorRuntime:
    """The generator on the runtime `select_runtime` settles on: a callable, chosen on its first call.

    The choice waits for the first input because that input is what the check compares: a real face
    when the predictor or the server calls it.
    """

    def __init__(self, source, runtime=None, precision=None, cache_dir=None):
        self.source = source  # a KerasSource or a SavedModelSource
        self.requested = check_runtime(runtime, precision)
        self.candidates = candidates(*self.requested)
        if self.requested[0] in _AVAILABLE:
            # Asked for by name: say now, not on the first photo, that it cannot run here.
            _AVAILABLE[self.requested[0]](self.candidates[-1][1])
        self.cache_dir = cache_dir
        self.reference = source.reference  # float32, what every other runtime is checked against
        self.chosen = None
        self.check = None
        self.passed_over = []  # "name precision: why", for the runtimes tried before the chosen one
        self._made = {}  # (name, precision) -> runtime, or the RuntimeUnavailable saying why not
        self._cache = None

    @property
    def name(self):
        return None if self.chosen is None else self.chosen.name

    @property
    def precision(self):
        return None if self.chosen is None else self.chosen.precision

    def describe(self):
        if self.chosen is None:
            return f"{self.requested[0]} (chosen on the first image)"
        line = f"{self.chosen.name} {self.chosen.precision}"
        if self.check is not None:
            line += f" ({self.check.describe(self.chosen.precision)}, checked on {self.check.checked_on})"
        return line

    def _make(self, name, precision):
        """The runtime `(name, precision)` of this source, converted (or read from the cache) once."""
        key = (name, precision)
        if key not in self._made:
            if name == "tensorflow":
                self._made[key] = self.reference
            else:
                self._cache = self._cache or ConversionCache(self.source, self.cache_dir)
                try:
                    self._made[key] = _MAKERS[name](self.source, precision, self._cache)
                except RuntimeUnavailable as error:
                    self._made[key] = error
        return self._made[key]

    def _choose(self, first, checked_on):
        explicit = self.requested[0] != "auto"
        reference_image = None
        for index, (name, precision) in enumerate(self.candidates):
            last = index == len(self.candidates) - 1
            runtime = self._make(name, precision)
            if runtime is self.reference:
                return runtime, None
            if isinstance(runtime, RuntimeUnavailable):
                if explicit and last:
                    raise runtime
                self.passed_over.append(f"{name} {precision}: {runtime}")
                continue
            key = f"{name}-{_library_version(name)}-{precision}"
            check = self._cache.check(key)
            if check is None:
                if reference_image is None:
                    reference_image = self.reference(first)[0]
                check = compare(runtime(first)[0], reference_image, precision, checked_on)
                self._cache.save_check(key, check)
            if check.accepted or (explicit and last):
                if not check.accepted:
                    warnings.warn(f"{name} {precision} is outside its bound: {check.describe(precision)}", stacklevel=3)
                return runtime, check
            self.passed_over.append(f"{name} {precision}: {check.describe(precision)}")
        raise AssertionError("the candidate list ends with a runtime that is always accepted")  # pragma: no cover

    def prepare(self):
        """Converts (or reads from the cache) every candidate now rather than on the first call."""
        for name, precision in self.candidates:
            self._make(name, precision)

    def warm(self, inputs):
        """Converts every candidate and runs each once on `inputs` (compiling that shape), without choosing.

        For a server's warm-up requests: made-up inputs are no fair check, so the choice still waits for
        the first real request, but it then finds everything converted and compiled. Returns the
        reference's outputs.
        """
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        if self.chosen is not None or len(inputs) == 0:
            return (self.chosen or self.reference)(inputs)
        for name, precision in self.candidates:
            runtime = self._make(name, precision)
            if not isinstance(runtime, RuntimeUnavailable) and runtime is not self.reference:
                runtime(inputs)
        return self.reference(inputs)

    def __call__(self, inputs, checked_on="the first image given"):
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        if len(inputs) == 0:  # nothing to check on, and a batch of 0 is no shape to compile for
            return self.reference(inputs)
        if self.chosen is None:
            self.chosen, self.check = self._choose(inputs[:1], checked_on)
        return self.chosen(inputs)


def select_runtime(generator, runtime=None, precision=None, cache_dir=None):
    """The generator on `runtime` (`auto`, `tensorflow`, `openvino`, `onnxruntime`; `None`: `$KERAS_P2C_RUNTIME`
    or `auto`) at `precision` (`auto`, `float32`, `bf16`).

    Raises:
        ValueError: an unknown runtime or precision, or bf16 asked of a float32-only runtime.
        RuntimeUnavailable: a runtime asked for by name cannot run here (not installed, another
            backend, bf16 without bf16 units).
    """
    return GeneratorRuntime(KerasSource(generator), runtime, precision, cache_dir=cache_dir)
