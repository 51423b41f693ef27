"""TF Serving's REST JSON codec: hostile values are refused as client errors (400), never crash the server."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.serving.codec import MAX_NESTING_DEPTH, RequestError, decode_request, encode_response
from keras_p2c.serving.registry import ModelRegistry
from tests.helpers.serving import http_json, running_server

IMAGES = {"images": tf.TensorSpec([None, 2, 2, 3], tf.float32)}
COUNTS = {"counts": tf.TensorSpec([None], tf.int32)}


def _nested(depth):
    return "[" * depth + "1.0" + "]" * depth


@pytest.mark.parametrize(
    "body, specs, fragment",
    [
        ({"inputs": json.loads(_nested(MAX_NESTING_DEPTH + 1))}, IMAGES, "nested"),
        ({"inputs": [[[[float("nan")] * 3] * 2] * 2]}, IMAGES, "finite"),
        ({"inputs": [[[[float("inf")] * 3] * 2] * 2]}, IMAGES, "finite"),
        ({"inputs": [[[[1e39] * 3] * 2] * 2]}, IMAGES, "out of range"),  # beyond float32
        ({"inputs": [10**400]}, COUNTS, "out of range"),  # beyond float64
        ({"inputs": [2**40]}, COUNTS, "out of range"),  # beyond int32
        ({"inputs": [1.5]}, COUNTS, "integers"),
    ],
)
def test_bad_values_are_request_errors(body, specs, fragment):
    with pytest.raises(RequestError, match=fragment) as caught:
        decode_request(body, specs)
    assert caught.value.status == 400


def test_deep_nesting_is_refused_without_recursion():
    # Far past Python's recursion limit: must be refused by the depth bound, not by a RecursionError.
    deep = []
    node = deep
    for _ in range(10_000):
        child = []
        node.append(child)
        node = child
    with pytest.raises(RequestError, match="nested"):
        decode_request({"inputs": deep}, IMAGES)


def test_values_in_range_decode():
    arrays, row_format = decode_request({"instances": [[[[0.5] * 3] * 2] * 2]}, IMAGES)
    assert row_format and arrays["images"].shape == (1, 2, 2, 3)
    assert arrays["images"].dtype == np.float32 and np.all(arrays["images"] == 0.5)


def test_non_finite_outputs_are_request_errors():
    outputs = {"image": np.array([[np.nan, 1.0]], np.float32), "cam_logit": np.zeros((1, 2), np.float32)}
    for row_format in (True, False):
        with pytest.raises(RequestError, match="'image' is not finite"):
            encode_response(outputs, row_format)
    assert encode_response({"x": np.array([1.0], np.float32)}, False) == {"outputs": [1.0]}


def _post(url, data):
    return http_json(url, data, "POST")


def test_server_answers_400_for_huge_values_and_deep_nesting(exported):
    _, model_dir = exported
    with running_server(ModelRegistry(model_dir, poll_seconds=60)) as url:
        predict = f"{url}/v1/models/photo2cartoon:predict"
        huge = np.full((1, 256, 256, 3), 1e38, np.float32).tolist()
        code, answer = _post(predict, json.dumps({"inputs": huge, "signature_name": "predict_images"}).encode())
        assert code == 400 and set(answer) == {"error"} and "not finite" in answer["error"]
        deep = '{"signature_name": "predict_images", "inputs": ' + _nested(5000) + "}"
        code, answer = _post(predict, deep.encode())
        assert code == 400 and set(answer) == {"error"}
        nan_token = '{"signature_name": "predict_images", "inputs": [NaN]}'
        code, answer = _post(predict, nan_token.encode())
        assert code == 400 and "finite" in answer["error"]
