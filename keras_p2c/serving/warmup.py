"""Warm-up on load: requests run through a new version before it serves, so no user waits for the first call.

A loaded SavedModel's first call of a signature instantiates and optimises its graph: measured ~2 s
against 0.17 s for the next calls (the small test generator, 2-core CPU). As TF Serving does, the
requests come from `<version>/assets.extra/tf_serving_warmup_requests` when the export has that file:
a TFRecord file of `PredictionLog` protos (at most 1000), each record's `predict_log.request` run once.
Without the file, one synthetic request per signature: zeros for number inputs, a small grey PNG for
string inputs (what this project's bytes signature takes).

A bad warm-up file fails the version's load, as in TF Serving. A synthetic request that fails is
reported and skipped: the signature may need real data the server cannot invent.
"""

import dataclasses
import time
from pathlib import Path

from keras_p2c.atomic import atomic_path

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving's limit on warm-up records
_PROTOS_MISSING = "TF Serving's protos are not installed: pip install --no-deps tensorflow-serving-api"


class WarmupError(ValueError):
    """A warm-up file that cannot be read or run; the message names the file and the record."""


@dataclasses.dataclass
class WarmupResult:
    """What a warm-up did: `source` is the file or "synthetic"; `skipped` holds one message per failed
    synthetic request."""

    source: str
    requests: int = 0
    seconds: float = 0.0
    skipped: list = dataclasses.field(default_factory=list)


def _protos(path):
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError:
        raise WarmupError(f"{path}: reading warm-up requests needs {_PROTOS_MISSING}") from None
    return predict_pb2, prediction_log_pb2


def read_warmup_file(path):
    """A `tf_serving_warmup_requests` file → list of (signature name, dict input name → array)."""
    import tensorflow as tf

    _, prediction_log_pb2 = _protos(path)
    requests = []
    try:
        for index, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
            if index >= MAX_RECORDS:
                raise WarmupError(f"{path}: more than {MAX_RECORDS} warm-up records (TF Serving's limit)")
            log = prediction_log_pb2.PredictionLog()
            try:
                log.ParseFromString(record)
            except Exception as error:  # protobuf's DecodeError has no stable public home across versions
                raise WarmupError(f"{path}: record {index} is not a PredictionLog ({error})") from None
            kind = log.WhichOneof("log_type")
            if kind != "predict_log":
                raise WarmupError(f"{path}: record {index} is a {kind or 'empty log'}; p2c serve runs only predict_log")
            request = log.predict_log.request
            try:
                arrays = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
            except (TypeError, ValueError) as error:
                raise WarmupError(f"{path}: record {index} has an unreadable input tensor ({error})") from None
            requests.append((request.model_spec.signature_name or "serving_default", arrays))
    except tf.errors.OpError as error:  # not a TFRecord file, or a truncated one
        raise WarmupError(f"{path}: not a TFRecord file of PredictionLogs ({error.message.splitlines()[0]})") from None
    if not requests:
        raise WarmupError(f"{path}: the warm-up file holds no records")
    return requests


def write_warmup_file(version_dir, requests, model_name=""):
    """Writes `<version_dir>/assets.extra/tf_serving_warmup_requests` (TF Serving reads it too); returns its path.

    Args:
        version_dir: an exported version folder, e.g. `saved_models/photo2cartoon/1`.
        requests: list of (signature name, dict input name → array-like).
        model_name: written into each request's model spec (TF Serving ignores it during warm-up).
    """
    import tensorflow as tf

    path = Path(version_dir) / WARMUP_FILE
    predict_pb2, prediction_log_pb2 = _protos(path)
    with atomic_path(path) as temporary:
        with tf.io.TFRecordWriter(str(temporary)) as writer:
            for signature_name, arrays in requests:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = model_name
                request.model_spec.signature_name = signature_name
                for name, value in arrays.items():
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
                log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
    return path


def _synthetic_value(spec):
    import numpy as np
    import tensorflow as tf

    shape = [1 if dim is None else dim for dim in spec.shape.as_list()]
    if spec.dtype == tf.string:
        grey = tf.io.encode_png(np.full((64, 64, 3), 128, np.uint8)).numpy()
        value = np.empty(int(np.prod(shape)), dtype=object)
        value[:] = [grey] * value.size
        return value.reshape(shape)
    return np.zeros(shape, spec.dtype.as_numpy_dtype)


def _made_up_requests(input_specs):
    """`[(signature name, {input name: made-up value})]` from `{signature name: {input name: TensorSpec}}`."""
    return [
        (name, {input_name: _synthetic_value(spec) for input_name, spec in specs.items()})
        for name, specs in sorted(input_specs.items())
    ]


def synthetic_requests(served):
    """One request per signature of the SavedModel (not the server's extensions), with made-up inputs."""
    return _made_up_requests({name: served.input_specs(name) for name in served.signatures})


def export_warmup_file(version_dir, signatures, model_name=""):
    """Writes one made-up request per signature of an export into its warm-up file; returns the path.

    TF Serving (and `p2c serve`) run that file before the version serves, so the first user request does
    not pay for instantiating each signature's graph (~2 s against 0.17 s a call, measured above).

    Args:
        signatures: `{name: concrete function}`, as given to `tf.saved_model.save`.

    Raises:
        WarmupError: TF Serving's protos (tensorflow-serving-api) are not installed.
    """
    return write_warmup_file(version_dir, _made_up_requests(_input_specs(signatures)), model_name)


def _input_specs(signatures):
    """`{signature name: {input name: TensorSpec}}` of concrete functions (positional inputs by their spec's name,
    the name a SavedModel signature gives them)."""
    specs = {}
    for name, function in signatures.items():
        positional, keyword = function.structured_input_signature
        specs[name] = {**{spec.name: spec for spec in positional}, **keyword}
    return specs


def warm_up(served):
    """Runs a `registry.ServedVersion`'s warm-up requests (its file's, else synthetic ones); returns a `WarmupResult`."""
    path = served.path / WARMUP_FILE
    start = time.perf_counter()
    if path.is_file():
        result = WarmupResult(str(path))
        for index, (signature_name, arrays) in enumerate(read_warmup_file(path)):
            try:
                served.predict(signature_name, arrays)
            except Exception as error:
                raise WarmupError(f"{path}: record {index} ({signature_name!r}) failed: {error}") from None
            result.requests += 1
    else:
        result = WarmupResult("synthetic")
        for signature_name, arrays in synthetic_requests(served):
            try:
                served.predict(signature_name, arrays)
                result.requests += 1
            except Exception as error:  # made-up input may not suit the signature: report it, serve anyway
                result.skipped.append(f"signature {signature_name!r}: {type(error).__name__}: {error}")
    result.seconds = time.perf_counter() - start
    return result
