"""The runtimes: callables `(N, S, S, 3) float32 -> (image, cam_logit, heatmap)` as NumPy arrays."""

from pathlib import Path

import numpy as np

_COMPILED_SHAPES = 4  # OpenVINO models compiled for this many batch sizes at most (a few seconds each)


class KerasRuntime:
    """Keras' compiled predict function (`tf.function`, or `jax.jit` on JAX), traced once per batch shape."""

    name, precision = "tensorflow", "float32"

    def __init__(self, generator):
        self.generator = generator

    def __call__(self, inputs):
        return tuple(np.asarray(output, np.float32) for output in self.generator.predict_on_batch(inputs))


class SignatureRuntime:
    """A SavedModel's float signature (`predict_images`) as a runtime: what `p2c serve` runs by default."""

    name, precision = "tensorflow", "float32"

    def __init__(self, signature, input_name, output_names):
        self.signature, self.input_name, self.output_names = signature, input_name, output_names

    def __call__(self, inputs):
        import tensorflow as tf

        outputs = self.signature(**{self.input_name: tf.constant(inputs)})
        return tuple(outputs[name].numpy() for name in self.output_names)


def output_order(shapes):
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
            order = output_order([tuple(output.shape) for output in compiled.outputs])
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
        self.order = output_order([tuple(output.shape) for output in self.session.get_outputs()])

    def __call__(self, inputs):
        outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(inputs, dtype=np.float32)})
        return tuple(np.asarray(outputs[i], np.float32) for i in self.order)
