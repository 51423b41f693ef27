"""Choosing the runtime: the candidates in order, each checked on the first real image, the first that passes kept."""

import warnings

import numpy as np

from keras_p2c import cpu
from keras_p2c.inference.runtimes import conversion
from keras_p2c.inference.runtimes.checks import RuntimeUnavailable, check_runtime, compare
from keras_p2c.inference.runtimes.sources import KerasSource


def candidates(runtime="auto", precision="auto"):
    """`(runtime, precision)` pairs in the order they are tried; Keras' float32 last under `auto`."""
    check_runtime(runtime, precision)
    if runtime == "tensorflow":
        return [("tensorflow", "float32")]
    if runtime == "onnxruntime":
        return [("onnxruntime", "float32")]
    precisions = {"auto": ("bf16", "float32") if cpu.has_bf16_units() else ("float32",)}.get(precision, (precision,))
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
        if self.requested[0] in conversion.CONVERTED:
            # Asked for by name: say now, not on the first photo, that it cannot run here.
            conversion.require(self.requested[0], self.candidates[-1][1])
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
                self._cache = self._cache or conversion.ConversionCache(self.source, self.cache_dir)
                try:
                    self._made[key] = conversion.make(name, self.source, precision, self._cache)
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
            key = f"{name}-{conversion.library_version(name)}-{precision}"
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
