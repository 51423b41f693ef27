"""`p2c serve --full-photo`: raw photos in, the server prepares the face around the export's generator."""

import base64

import numpy as np
import pytest

from keras_p2c.images.io import encode_image
from keras_p2c.serving import Client, ServingError
from keras_p2c.serving.photo import PHOTO_SIGNATURE, PhotoSignature
from keras_p2c.serving.registry import ModelRegistry
from tests.helpers.serving import decode_png, running_server


@pytest.fixture(scope="module")
def photo_server(exported, segmenter):
    generator, model_dir = exported
    registry = ModelRegistry(model_dir, poll_seconds=5, extensions={PHOTO_SIGNATURE: PhotoSignature(segmenter)})
    with running_server(registry) as url:
        yield url, generator


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def test_a_raw_photo_gives_the_predictors_cartoon_and_the_pasted_photo(photo_server, astronaut, segmenter):
    from keras_p2c.faces.prepare import prepare_faces

    url, generator = photo_server
    response = Client(url, "photo2cartoon").predict([_b64(encode_image(astronaut))], signature_name=PHOTO_SIGNATURE)
    (prediction,) = response["predictions"]
    assert sorted(prediction) == ["cartoon_bytes", "pasted_bytes"]
    cartoon = decode_png(base64.b64decode(prediction["cartoon_bytes"]["b64"]))
    pasted = decode_png(base64.b64decode(prediction["pasted_bytes"]["b64"]))

    # What the Keras side gives for the same photo: same preparation, the generator, the same composite.
    (face,) = prepare_faces(astronaut, segmenter=segmenter)
    output = np.asarray(generator(face.input_256[None], training=False)[0])[0]
    expected = face.composite(output)
    assert cartoon.shape == (256, 256, 3)
    assert np.abs(cartoon.astype(int) - expected.astype(int)).max() <= 1  # SavedModel vs Keras round-off
    assert pasted.shape == astronaut.shape
    changed = np.abs(pasted.astype(int) - astronaut.astype(int)).max(axis=2) > 0
    assert changed.any() and not changed[:, :5].any()  # the face changed, the image's left edge did not


def test_metadata_lists_the_photo_signature(photo_server):
    url, _ = photo_server
    defs = Client(url, "photo2cartoon").metadata()["metadata"]["signature_def"]["signature_def"]
    assert sorted(defs) == ["cartoonize_photo", "predict_images", "serving_default"]
    assert defs["cartoonize_photo"]["inputs"]["images"]["dtype"] == "DT_STRING"
    assert sorted(defs["cartoonize_photo"]["outputs"]) == ["cartoon_bytes", "pasted_bytes"]


@pytest.mark.parametrize(
    "data, fragment",
    [
        (encode_image(np.full((200, 300, 3), 255, np.uint8)), "instance 0: no face found"),
        (b"definitely not an image", "instance 0: cannot decode"),
    ],
)
def test_photos_that_cannot_be_used_get_400_naming_the_instance(photo_server, data, fragment):
    url, _ = photo_server
    with pytest.raises(ServingError) as error:
        Client(url, "photo2cartoon").predict([_b64(data)], signature_name=PHOTO_SIGNATURE)
    assert error.value.status == 400 and fragment in str(error.value)
