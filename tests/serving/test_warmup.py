"""Warm-up requests: TF Serving's `assets.extra/tf_serving_warmup_requests` file, else synthetic ones."""

import numpy as np
import pytest

from keras_p2c.serving.warmup import WARMUP_FILE, WarmupError, read_warmup_file, warm_up, write_warmup_file


class RecordingServed:
    """A stand-in `ServedVersion`: records each call; a string input of b"bad" fails like a bad image."""

    def __init__(self, path):
        import tensorflow as tf

        self.path = path
        self.calls = []
        self.signatures = {"serving_default": None, "predict_images": None}
        self._specs = {
            "serving_default": {"images": tf.TensorSpec([None], tf.string)},
            "predict_images": {"images": tf.TensorSpec([None, 8, 8, 3], tf.float32)},
        }

    def input_specs(self, signature_name):
        return dict(self._specs[signature_name])

    def predict(self, signature_name, arrays):
        self.calls.append((signature_name, {k: np.asarray(v) for k, v in arrays.items()}))
        if any(v.dtype == object and b"bad" in v.reshape(-1).tolist() for v in arrays.values()):
            raise ValueError("Unknown image file format")
        return {}


def test_written_file_is_read_back_and_run(tmp_path):
    floats = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    path = write_warmup_file(tmp_path, [("serving_default", {"images": [b"\x89PNG..."]}), ("predict_images", {"images": floats})])
    assert path == tmp_path / WARMUP_FILE
    (first, second) = read_warmup_file(path)
    assert first[0] == "serving_default" and first[1]["images"].tolist() == [b"\x89PNG..."]
    assert second[0] == "predict_images"
    np.testing.assert_array_equal(second[1]["images"], floats)

    served = RecordingServed(tmp_path)
    result = warm_up(served)
    assert result.source == str(path) and result.requests == 2 and result.skipped == [] and result.seconds > 0
    assert [name for name, _ in served.calls] == ["serving_default", "predict_images"]


def test_without_a_file_one_synthetic_request_per_signature(tmp_path):
    served = RecordingServed(tmp_path)
    result = warm_up(served)
    assert result.source == "synthetic" and result.requests == 2
    calls = dict(served.calls)
    assert calls["predict_images"]["images"].shape == (1, 8, 8, 3)  # None dims become 1
    (png,) = calls["serving_default"]["images"].tolist()
    assert png.startswith(b"\x89PNG")  # a real image, what a bytes signature decodes


def test_a_failing_synthetic_request_is_reported_not_fatal(tmp_path):
    served = RecordingServed(tmp_path)
    served.predict = lambda name, arrays: (_ for _ in ()).throw(ValueError("needs real data"))
    result = warm_up(served)
    assert result.requests == 0 and len(result.skipped) == 2 and "needs real data" in result.skipped[0]


def test_a_failing_file_request_fails_the_warm_up_naming_the_record(tmp_path):
    write_warmup_file(tmp_path, [("serving_default", {"images": [b"ok"]}), ("serving_default", {"images": [b"bad"]})])
    with pytest.raises(WarmupError) as caught:
        warm_up(RecordingServed(tmp_path))
    assert str(tmp_path / WARMUP_FILE) in str(caught.value) and "record 1" in str(caught.value)


def test_bad_warmup_files(tmp_path):
    from tensorflow_serving.apis import prediction_log_pb2

    path = tmp_path / WARMUP_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a TFRecord file at all")
    with pytest.raises(WarmupError, match="not a TFRecord file"):
        read_warmup_file(path)

    import tensorflow as tf

    def write(records):
        with tf.io.TFRecordWriter(str(path)) as writer:
            for record in records:
                writer.write(record)

    write([prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog()).SerializeToString()])
    with pytest.raises(WarmupError, match="record 0 is a classify_log"):
        read_warmup_file(path)
    write([b"\xff\xff\xff"])
    with pytest.raises(WarmupError, match="record 0 is not a PredictionLog"):
        read_warmup_file(path)
    write([])
    with pytest.raises(WarmupError, match="no records"):
        read_warmup_file(path)
    request = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog()).SerializeToString()
    write([request] * 1001)
    with pytest.raises(WarmupError, match="more than 1000"):
        read_warmup_file(path)
