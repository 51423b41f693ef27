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

The parts, one job each: `checks` (the choices, the bounds, comparing an image with Keras'),
`engines` (the runtimes as callables), `sources` (what is converted: a Keras generator or an exported
SavedModel), `conversion` (OpenVINO and ONNX conversion, cached per weights), `selection` (trying the
candidates in order and keeping the first that passes its check).
"""

from keras_p2c.inference.runtimes.checks import (
    FLOAT32_ATOL,
    PRECISIONS,
    PSNR_FLOOR_DB,
    RUNTIME_ENV,
    RUNTIMES,
    RuntimeCheck,
    RuntimeUnavailable,
    check_runtime,
    compare,
    psnr_db,
)
from keras_p2c.inference.runtimes.conversion import ConversionCache, convert_onnx, convert_openvino
from keras_p2c.inference.runtimes.engines import KerasRuntime, OnnxRuntimeRuntime, OpenVINORuntime, SignatureRuntime
from keras_p2c.inference.runtimes.selection import GeneratorRuntime, candidates, select_runtime
from keras_p2c.inference.runtimes.sources import KerasSource, SavedModelSource

__all__ = [
    "FLOAT32_ATOL",
    "PRECISIONS",
    "PSNR_FLOOR_DB",
    "RUNTIMES",
    "RUNTIME_ENV",
    "ConversionCache",
    "GeneratorRuntime",
    "KerasRuntime",
    "KerasSource",
    "OnnxRuntimeRuntime",
    "OpenVINORuntime",
    "RuntimeCheck",
    "RuntimeUnavailable",
    "SavedModelSource",
    "SignatureRuntime",
    "candidates",
    "check_runtime",
    "compare",
    "convert_onnx",
    "convert_openvino",
    "psnr_db",
    "select_runtime",
]
