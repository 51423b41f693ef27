"""What a runtime is converted from: a Keras generator, or an exported SavedModel's float signature.

A source gives the `tf.function` that OpenVINO and tf2onnx convert, the digest its conversions are
cached under, and its own float32 runtime, the reference every converted runtime is checked against.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from keras_p2c.inference.runtimes.engines import KerasRuntime, SignatureRuntime


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
        """The generator's configuration and weights (not its name: Keras numbers each new model of a process)."""
        import keras

        config = {key: value for key, value in self.generator.get_config().items() if key != "name"}
        digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
        for weight in self.generator.weights:
            value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
            # The path below the model ("generator_1/…" for the second generator made in a process).
            inside = weight.path.split("/", 1)[-1]
            digest.update(f"{inside}:{value.dtype}:{value.shape};".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()[:24]


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
