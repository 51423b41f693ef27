"""SavedModel export of the generator in the layout TF Serving loads.

`export_generator` writes `<base_dir>/<name>/<version>/` (a numeric version
folder; each export adds `max + 1` and never touches an existing one) with two
signatures:

| signature         | inputs                                  | outputs                                          |
|-------------------|-----------------------------------------|--------------------------------------------------|
| `serving_default` | `images`: string [N], JPEG/PNG bytes    | `cartoon_bytes`: string [N], PNG bytes (256×256) |
| `predict_images`  | `images`: float32 [N, 256, 256, 3] in [-1, 1] | `image` [N,256,256,3], `cam_logit` [N,2], `heatmap` [N,64,64,1] |

The byte signature does all pre- and post-processing inside the graph, so a TF
Serving client only sends `{"instances": [{"b64": "..."}]}`. The output name
ends in `_bytes` because that is how TF Serving's REST layer knows to return a
string tensor as `{"b64": ...}` rather than as (invalid) UTF-8 text.

Each version also holds `assets.extra/tf_serving_warmup_requests`, one made-up request per signature,
which TF Serving (and `p2c serve`) run before the version serves (needs tensorflow-serving-api's protos,
the `serve` extra; without them the export has no such file).
"""

import logging
import os
import re
import tempfile
from pathlib import Path

from keras_p2c.atomic import atomic_path
from keras_p2c.serving.warmup import WarmupError, export_warmup_file

logger = logging.getLogger(__name__)

IMAGE_SIZE = 256
BYTES_SIGNATURE = "serving_default"
FLOAT_SIGNATURE = "predict_images"
BYTES_INPUT = "images"
BYTES_OUTPUT = "cartoon_bytes"
FLOAT_INPUT = "images"
FLOAT_OUTPUTS = ("image", "cam_logit", "heatmap")
_VERSION = re.compile(r"^[0-9]+$")


def list_versions(model_dir):
    """The numeric version folders of `model_dir` (ints, ascending); [] when it does not exist."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and _VERSION.match(p.name))


def decode_and_resize(encoded):
    """One encoded JPEG/PNG/BMP/GIF string → float32 [256, 256, 3] in [-1, 1].

    Resizing is bilinear with antialiasing: it averages like the reference's
    cv2.INTER_AREA when shrinking and is plain bilinear when enlarging.
    """
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.ensure_shape(image, [None, None, 3])
    image = tf.image.resize(tf.cast(image, tf.float32), [IMAGE_SIZE, IMAGE_SIZE], method="bilinear", antialias=True)
    return image / 127.5 - 1.0


def to_uint8(image):
    """Generator output in [-1, 1] → uint8, truncating like the reference's `uint8(...)` (no rounding)."""
    import tensorflow as tf

    return tf.cast(tf.clip_by_value((image + 1.0) * 127.5, 0.0, 255.0), tf.uint8)


def _serving_functions(generator):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT)])
    def cartoonize(images):
        batch = tf.map_fn(decode_and_resize, images, fn_output_signature=tf.TensorSpec([IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32))
        cartoons = to_uint8(generator(batch, training=False)[0])
        encoded = tf.map_fn(tf.io.encode_png, cartoons, fn_output_signature=tf.TensorSpec([], tf.string))
        return {BYTES_OUTPUT: encoded}

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, name=FLOAT_INPUT)])
    def predict_images(images):
        image, cam_logit, heatmap = generator(images, training=False)
        return dict(zip(FLOAT_OUTPUTS, (image, cam_logit, heatmap)))

    return cartoonize, predict_images


def export_generator(generator, base_dir="saved_models", name="photo2cartoon"):
    """Writes `generator` as a new numeric version under `<base_dir>/<name>/`; returns its path.

    Args:
        generator: a built `keras_p2c.models.Generator` (or any model with the
            same call contract: NHWC [-1, 1] in → (image, cam_logit, heatmap)).
        base_dir: the folder holding one sub-folder per model name.
        name: the model name TF Serving serves it under.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"SavedModel export needs KERAS_BACKEND=tensorflow (current backend: {keras.backend.backend()}); "
            "re-run with KERAS_BACKEND=tensorflow."
        )
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise ValueError(f"`name` must be a plain folder name (letters, digits, _ . -). Received: name={name!r}")
    if not generator.built:
        generator.build((None, IMAGE_SIZE, IMAGE_SIZE, 3))
    model_dir = Path(base_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)

    cartoonize, predict_images = _serving_functions(generator)
    # What the SavedModel holds: the two signatures and the variables they read, and nothing of the Keras
    # object graph (`keras.export.ExportArchive` tracks the model itself, whose layer tree the saver then
    # walks, and traces every function twice).
    root = tf.Module()
    root.generator_variables = [variable.value for variable in generator.variables]
    signatures = {
        BYTES_SIGNATURE: cartoonize.get_concrete_function(),
        FLOAT_SIGNATURE: predict_images.get_concrete_function(),
    }
    # A dot-named folder is invisible to TF Serving's version poller (and to
    # ours) until the finished export is renamed to its number.
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=model_dir))
    os.chmod(staging, 0o755)  # mkdtemp makes it owner-only; a TF Serving container may run as another user
    tf.saved_model.save(root, str(staging), signatures=signatures)
    try:
        export_warmup_file(staging, signatures, model_name=name)
    except WarmupError as error:  # an optional extra: the version serves without, warmed up on made-up inputs
        logger.info("No warm-up file in the export: %s", error)
    while True:
        version = max(list_versions(model_dir), default=0) + 1
        try:
            # rename() refuses a non-empty target, so a concurrent export of
            # the same number loses the race and takes the next one.
            os.rename(staging, model_dir / str(version))
            return model_dir / str(version)
        except OSError:
            if not (model_dir / str(version)).exists():
                raise


FILE_FORMATS = {"litert": ".tflite", "onnx": ".onnx"}


def export_file(generator, path, format="litert"):
    """Writes the generator's float graph (`[1, 256, 256, 3]` in [-1, 1] → image, cam_logit, heatmap) for another runtime.

    Uses Keras' own `model.export(path, format=...)`; the file is written under a
    temporary name and renamed. LiteRT orders the outputs by its own tensor
    names, so match them to (image, cam_logit, heatmap) by shape.

    Args:
        generator: a built generator.
        path: the output file (`.tflite` for litert, `.onnx` for onnx).
        format: "litert" or "onnx" (onnx needs `tf2onnx` and `onnx` installed).
    """
    import keras
    import numpy as np

    if format not in FILE_FORMATS:
        raise ValueError(f"`format` must be one of {', '.join(FILE_FORMATS)}. Received: format={format!r}")
    path = Path(path)
    # Keras' exporters read the input signature off a model that has been called once.
    generator(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), "float32"), training=False)
    spec = keras.InputSpec(shape=(1, IMAGE_SIZE, IMAGE_SIZE, 3), dtype="float32")
    with atomic_path(path) as temporary:
        generator.export(str(temporary), format=format, input_signature=[spec], verbose=False)
    return path
