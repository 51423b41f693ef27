"""Full-photo mode of `p2c serve --full-photo`: a `cartoonize_photo` signature computed by the server.

The SavedModel holds the generator on aligned faces. Detection (MTCNN), eye levelling, the
reference's crop and the portrait mask are not TensorFlow graph work, so TF Serving cannot run
them; in this mode `p2c serve` does them itself around the export's `predict_images` signature,
and a client can send a raw photo:

| signature | inputs | outputs |
|---|---|---|
| `cartoonize_photo` | `images`: string [N], photo bytes (JPEG, PNG, ...) | `cartoon_bytes`: string [N], the largest face's cartoon on white (256×256 PNG); `pasted_bytes`: string [N], the whole photo with that face cartoonized (PNG) |

It is listed in the model's metadata next to the export's own signatures. A photo with no face, or
bytes that are not an image, get a 400 naming the instance.
"""

import numpy as np

from keras_p2c.faces.prepare import prepare_faces
from keras_p2c.faces.segment import resolve_segmenter
from keras_p2c.images import DEFAULT_MAX_PIXELS, encode_image, read_image
from keras_p2c.serving.codec import RequestError

PHOTO_SIGNATURE = "cartoonize_photo"
_INPUT = "images"
_OUTPUTS = ("cartoon_bytes", "pasted_bytes")


def _string_tensor_def(name):
    """A string [N] tensor as TF Serving's metadata API writes a SignatureDef entry."""
    return {"name": name, "dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}}


class PhotoSignature:
    """The `cartoonize_photo` signature: photos in, PNG cartoons out, over a served version's generator.

    Args:
        segmenter: portrait mask, as `keras_p2c.Photo2Cartoon`'s (`"auto"`, `None`, a `.tflite` path
            or a callable).
        max_pixels: photos with more pixels are refused (decompression-bomb guard).
        generator_signature: the export's float signature the prepared faces go through.
    """

    def __init__(self, segmenter="auto", max_pixels=DEFAULT_MAX_PIXELS, generator_signature="predict_images"):
        self.segmenter = resolve_segmenter(segmenter)
        self.max_pixels = max_pixels
        self.generator_signature = generator_signature

    @property
    def input_specs(self):
        import tensorflow as tf

        return {_INPUT: tf.TensorSpec([None], tf.string, name=_INPUT)}

    @property
    def signature_def(self):
        return {
            "inputs": {_INPUT: _string_tensor_def(_INPUT)},
            "outputs": {name: _string_tensor_def(name) for name in _OUTPUTS},
            "method_name": "tensorflow/serving/predict",
        }

    def _prepare(self, index, data):
        name = f"instance {index}"
        try:
            photo = read_image(bytes(data), max_pixels=self.max_pixels)
            (face,) = prepare_faces(photo, segmenter=self.segmenter, name=name)
        except ValueError as error:  # ImageReadError and NoFaceError: what the client sent
            raise RequestError(str(error).replace("<image bytes>", name)) from None
        return photo, face

    def predict(self, served, arrays):
        """`{"images": [N] photo bytes}` → `{"cartoon_bytes": [N], "pasted_bytes": [N]}` (object arrays of PNG bytes)."""
        prepared = [self._prepare(index, data) for index, data in enumerate(np.asarray(arrays[_INPUT]).reshape(-1))]
        faces = np.stack([face.input_256 for _, face in prepared]).astype(np.float32)
        images = served.predict(self.generator_signature, {"images": faces})["image"]
        cartoons = np.empty(len(prepared), dtype=object)
        pasted = np.empty(len(prepared), dtype=object)
        for row, ((photo, face), image) in enumerate(zip(prepared, images)):
            cartoons[row] = encode_image(face.composite(image))
            pasted[row] = encode_image(face.paste(photo, image))
        return {"cartoon_bytes": cartoons, "pasted_bytes": pasted}
