"""A small ASGI server (Starlette via FastAPI, run by uvicorn) speaking TF Serving's REST API.

Routes (as TF Serving's):

* `GET  /v1/models/<name>[/versions/<v>|/labels/<l>]` → model version status;
* `GET  /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata` → signature defs;
* `POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict` → predictions;
* `GET  /monitoring/prometheus/metrics` → Prometheus metrics (`metrics.py`).

Every error is `{"error": "..."}`: 400 for bad input, 404 for an unknown model, version, label or
signature, 413 for a body over the size limit, 503 when the batch queue is full. Model calls run in
Starlette's thread pool (a SavedModel call releases the GIL, so concurrent requests overlap), or, with
batching, are grouped by `batching.Batcher`. On SIGTERM the server stops accepting connections, lets
the requests in flight finish (at most `graceful_shutdown_seconds`), then exits with status 0.
"""

import contextlib
import json
import re
import signal
import threading
import time

from keras_p2c.images.io import DEFAULT_MAX_PIXELS, header_size
from keras_p2c.serving.batching import Batcher
from keras_p2c.serving.codec import NotFoundError, RequestError, decode_request, encode_response, json_type
from keras_p2c.serving.metrics import METRICS_PATH, ServingMetrics
from keras_p2c.serving.registry import client_input_errors

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 30


_VERSION = re.compile(r"[0-9]{1,18}")


class PayloadTooLarge(RequestError):
    status = 413


def parse_model_path(path, method):
    """`<name>[/versions/<v>|/labels/<l>][/metadata][:verb]` → (name, version, label, action).

    Starlette path parameters stop at '/', and ':predict' is part of the last
    segment, so the route captures the whole rest of the path and splits here.
    """
    parts = path.split("/")
    verb = None
    if ":" in parts[-1]:
        parts[-1], verb = parts[-1].rsplit(":", 1)
    name, rest = parts[0], parts[1:]
    version = label = None
    if len(rest) >= 2 and rest[0] in ("versions", "labels"):
        if rest[0] == "versions":
            version = rest[1]
            # ASCII digits of an int64 only: str.isdigit() also takes "²" and "١", which int() refuses or reads.
            if not _VERSION.fullmatch(version):
                raise RequestError(f"Malformed request: version must be a number, got {version!r}")
        else:
            label = rest[1]
        rest = rest[2:]
    if not name or any(not part for part in parts):
        raise NotFoundError(f"Malformed request: {method} /v1/models/{path}")
    if method == "POST" and not rest and verb == "predict":
        return name, version, label, "predict"
    if method == "POST" and not rest and verb in ("classify", "regress"):
        raise RequestError(f"{verb} is not supported by this server; use :predict")
    if method == "GET" and verb is None and rest == ["metadata"]:
        return name, version, label, "metadata"
    if method == "GET" and verb is None and not rest:
        return name, version, label, "status"
    raise NotFoundError(f"Malformed request: {method} /v1/models/{path}")


def _version_status(served):
    return {"version": str(served.version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


def _status_body(registry, version, label):
    served = registry.served() if version is None and label is None else [registry.get(version, label)]
    return {"model_version_status": [_version_status(s) for s in served]}


def _metadata_body(registry, served):
    return {
        "model_spec": {"name": registry.name, "signature_name": "", "version": str(served.version)},
        "metadata": {"signature_def": {"signature_def": served.signature_defs}},
    }


def _signature_name(body):
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    signature_name = body.get("signature_name")
    if signature_name is None:  # absent or null: protobuf's JSON mapping reads null as the default
        return "serving_default"
    if not isinstance(signature_name, str):
        raise RequestError(f"'signature_name' must be a string, got {json_type(signature_name)}")
    return signature_name or "serving_default"


def _check_image_sizes(arrays, max_pixels):
    """Refuses string inputs whose image header claims more than `max_pixels` pixels, before any decoding.

    The SavedModel decodes images in its graph without a limit: a 290 KB PNG of 10 000 × 10 000 zeros
    took 1.5 GB to decode and resize there, and a larger one would take the server down.
    """
    for name, array in arrays.items():
        if array.dtype != object:
            continue
        for index, value in enumerate(array.reshape(-1)):
            size = header_size(value) if isinstance(value, bytes) else None
            if size is not None and size[0] * size[1] > max_pixels:
                raise RequestError(
                    f"input {name!r}, value {index}: the image is {size[0]}x{size[1]} pixels, over the limit of "
                    f"{max_pixels:,} pixels (p2c serve --max-pixels)"
                )


def _predict(served, signature_name, body, run, max_pixels):
    """Runs in a worker thread: JSON body → JSON response body."""
    import tensorflow as tf

    arrays, row_format = decode_request(body, served.input_specs(signature_name))
    _check_image_sizes(arrays, max_pixels)
    try:
        outputs = run(served, signature_name, arrays)
    except client_input_errors() as error:
        # e.g. bytes that are not an image, or a truncated one: the client's input, not a server fault.
        text = _op_error_text(error.message) if isinstance(error, tf.errors.OpError) else str(error)
        raise RequestError(f"invalid input for signature {signature_name!r}: {text}") from None
    return encode_response(outputs, row_format)


def _op_error_text(message):
    """The human part of a TensorFlow op error (e.g. "Unknown image file format..."), without graph node noise."""
    # The message proper comes after any "Detected at node" stack and before the "[[node]]" trailer.
    noise = ("Graph execution error", "Detected at node", "[[", "<stack traces")
    lines = [re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]", "", line).strip() for line in message.splitlines()]
    lines = [line for line in lines if line and not line.startswith(noise)]
    return lines[-1] if lines else "the model could not process the input"


async def _read_body(request, max_bytes):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the limit of {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:  # a chunked body has no Content-Length: count as it arrives
            raise PayloadTooLarge(f"request body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(registries, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, batching=None, max_pixels=DEFAULT_MAX_PIXELS):
    """The ASGI app serving `registries` (a `ModelRegistry` or a list of them).

    Args:
        registries: the models to serve, each under its `name`.
        max_request_bytes: larger request bodies are refused with 413.
        batching: a `config_files.BatchingParameters` to batch concurrent requests, or None.
        max_pixels: string inputs whose image header claims more pixels are refused with 400.

    `app.state.metrics` is the app's `metrics.ServingMetrics`, `app.state.batcher` its batcher (or None).
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    if not isinstance(registries, (list, tuple)):
        registries = [registries]
    models = {registry.name: registry for registry in registries}
    metrics = ServingMetrics(registries)
    batcher = Batcher(batching, on_batch=metrics.observe_batch) if batching is not None else None

    def run_direct(served, signature_name, arrays):
        return served.predict(signature_name, arrays)

    def run_batched(served, signature_name, arrays):
        if signature_name in served.extensions:  # computed by the server around the model; not batched
            return served.predict(signature_name, arrays)
        return batcher.predict(served, signature_name, arrays)

    run = run_direct if batcher is None else run_batched

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if batcher is not None:  # after uvicorn has drained the connections: nothing is queued any more
            await run_in_threadpool(batcher.stop)

    app = FastAPI(
        title="keras-p2c serving (TF Serving REST API)", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.metrics, app.state.batcher = metrics, batcher

    def error(status, message):
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(request, exc):
        return error(exc.status, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request, exc):
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @app.get(METRICS_PATH)
    async def prometheus_metrics():
        content, media_type = metrics.exposition()
        return Response(content, media_type=media_type)

    async def predict(name, version, label, request):
        registry = models.get(name)
        # Label values only from served names: a hostile URL must not add series.
        labels, status, start = [registry.name if registry else "", "", ""], 500, time.perf_counter()
        in_flight = metrics.in_flight.labels(labels[0])
        in_flight.inc()
        try:
            if registry is None:
                raise NotFoundError(f"Servable not found for request: Latest({name})")
            served = registry.get(version, label)
            labels[1] = str(served.version)
            raw = await _read_body(request, max_request_bytes)
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError) as parse_error:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
                raise RequestError(f"JSON Parse error: {parse_error}") from None
            signature_name = _signature_name(body)
            if signature_name in served.signature_defs:
                labels[2] = signature_name
            response = await run_in_threadpool(_predict, served, signature_name, body, run, max_pixels)
            status = 200
            return JSONResponse(response)
        except RequestError as refused:
            status = refused.status
            raise
        finally:
            in_flight.dec()
            metrics.observe_request(*labels, status, time.perf_counter() - start)

    @app.api_route("/v1/models/{path:path}", methods=["GET", "POST"])
    async def models_route(path: str, request: Request):
        name, version, label, action = parse_model_path(path, request.method)
        if action == "predict":
            return await predict(name, version, label, request)
        registry = models.get(name)
        if registry is None:
            raise NotFoundError(f"Servable not found for request: Latest({name})")
        if action == "status":
            return _status_body(registry, version, label)
        return _metadata_body(registry, registry.get(version, label))

    return app


def serve(
    registries, host="127.0.0.1", port=8501, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, log_level="info",
    batching=None, max_pixels=DEFAULT_MAX_PIXELS, graceful_shutdown_seconds=DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
):  # fmt: skip
    """Runs the server until SIGTERM or SIGINT, polling for new versions meanwhile; returns that signal's number.

    On the signal, uvicorn stops accepting connections and waits up to `graceful_shutdown_seconds` for the
    requests in flight; then the batcher runs what is queued and the polling stops.
    """
    import uvicorn

    if not isinstance(registries, (list, tuple)):
        registries = [registries]
    app = create_app(registries, max_request_bytes=max_request_bytes, batching=batching, max_pixels=max_pixels)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=graceful_shutdown_seconds
    )
    server = uvicorn.Server(config)
    received = []
    # uvicorn re-raises the signal it stopped on after its clean shutdown; under the default SIGTERM action
    # that kills the process (status -15) after all. With handlers of ours the re-raise just records it.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda number, frame: received.append(number)) for sig in (signal.SIGTERM, signal.SIGINT)}
    for registry in registries:
        registry.start_polling()
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for registry in registries:
            registry.stop_polling()
    return received[0] if received else None
