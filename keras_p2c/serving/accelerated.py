"""`p2c serve --runtime`: an exported version's generator signatures run on OpenVINO or onnxruntime.

The SavedModel stays what is served and described (metadata, SignatureDefs, input checks); only the
generator inside its two signatures moves to the runtime `keras_p2c.inference.runtimes` picks:

- `predict_images`: the float batch goes straight to the runtime;
- `serving_default`: the bytes are decoded and resized by the same TensorFlow ops as in the export,
  the runtime runs the generator, and the same ops encode the PNGs.

The runtime is converted from the version's own `predict_images` signature when the version loads
(cached per SavedModel under `<cache>/runtimes/`). Warm-up requests have made-up inputs, so they only
compile the candidates; the choice, with its check against the SavedModel's own float32 signature, is
made on the first real request's first image, and logged.
"""

import threading

import numpy as np

from keras_p2c.inference.runtimes import GeneratorRuntime, SavedModelSource, check_runtime
from keras_p2c.serving.export import (
    BYTES_INPUT,
    BYTES_OUTPUT,
    BYTES_SIGNATURE,
    FLOAT_INPUT,
    FLOAT_OUTPUTS,
    FLOAT_SIGNATURE,
    decode_and_resize,
    to_uint8,
)


def wants_runtime(runtime, precision=None):
    """Whether `runtime` (None: $KERAS_P2C_RUNTIME or auto) moves the generator off the SavedModel."""
    return check_runtime(runtime, precision)[0] != "tensorflow"


class RuntimeSignatures:
    """The generator signatures of one loaded version, on a `GeneratorRuntime`.

    Args:
        path: the version folder. signatures: its loaded signatures (the loaded module must stay alive).
        runtime, precision, cache_dir: as `keras_p2c.inference.runtimes.select_runtime`'s.
        log: where the one line naming the chosen runtime goes.
        label: the version's name in that line.
    """

    def __init__(self, path, signatures, runtime=None, precision=None, cache_dir=None, log=print, label="model"):
        import tensorflow as tf

        float_signature = signatures[FLOAT_SIGNATURE]
        self.spec = float_signature.structured_input_signature[1][FLOAT_INPUT]
        source = SavedModelSource(path, float_signature, FLOAT_INPUT, FLOAT_OUTPUTS)
        self.runtime = GeneratorRuntime(source, runtime, precision, cache_dir=cache_dir)
        size = source.size
        self.handled = {FLOAT_SIGNATURE} | ({BYTES_SIGNATURE} if BYTES_SIGNATURE in signatures else set())
        self.log, self.label = log, label
        self._lock = threading.Lock()  # the choice is made once, by the first request

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def decode(images):
            spec = tf.TensorSpec([size, size, 3], tf.float32)
            return tf.map_fn(decode_and_resize, images, fn_output_signature=spec)

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def encode(images):
            return tf.map_fn(tf.io.encode_png, to_uint8(images), fn_output_signature=tf.TensorSpec([], tf.string))

        self._decode, self._encode = decode, encode
        self.runtime.prepare()  # converted now, while the version loads

    def handles(self, signature_name):
        return signature_name in self.handled

    def _generate(self, images, warming):
        if warming:
            return self.runtime.warm(images)
        if self.runtime.chosen is None:
            with self._lock:
                if self.runtime.chosen is None:
                    outputs = self.runtime(images, checked_on="the first request's first image")
                    self.log(f"p2c serve: {self.label}: generator on {self.runtime.describe()}")
                    for reason in self.runtime.passed_over:
                        self.log(f"p2c serve: {self.label}:   passed over {reason}")
                    return outputs
        return self.runtime(images)

    def predict(self, signature_name, arrays, warming=False):
        """Dict input name → array, as `ServedVersion.predict`; raises ValueError for inputs of the wrong shape."""
        import tensorflow as tf

        if signature_name == FLOAT_SIGNATURE:
            images = tf.constant(arrays[FLOAT_INPUT])
            if not self.spec.is_compatible_with(images):
                raise ValueError(
                    f"{FLOAT_SIGNATURE}: input {FLOAT_INPUT!r} must be {self.spec.dtype.name} of shape "
                    f"{self.spec.shape.as_list()}; received {images.dtype.name} of shape {images.shape.as_list()}"
                )
            outputs = self._generate(images.numpy(), warming)
            return dict(zip(FLOAT_OUTPUTS, outputs))
        images = self._decode(tf.constant(arrays[BYTES_INPUT]))
        image = self._generate(images.numpy(), warming)[0]
        return {BYTES_OUTPUT: self._encode(tf.constant(np.asarray(image, np.float32))).numpy()}
