"""The runtime choices, and how a runtime's image is judged against Keras' float32 image."""

import dataclasses
import math
import os

import numpy as np

RUNTIMES = ("auto", "tensorflow", "openvino", "onnxruntime")
RUNTIME_ENV = "KERAS_P2C_RUNTIME"  # the default runtime of this machine, where `runtime` is not given
PRECISIONS = ("auto", "float32", "bf16")
FLOAT32_ATOL = 1e-4  # on the image in [-1, 1]
PSNR_FLOOR_DB = 40.0  # reduced precision against float32


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
