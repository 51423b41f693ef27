"""A small ASGI server (Starlette via FastAPI, run by uvicorn) speaking TF Serving's REST API.

Routes (as TF Serving's):

* `GET  /v1/models/<name>[/versions/<v>]` → model version status;
* `GET  /v1/models/<name>[/versions/<v>]/metadata` → signature defs;
* `POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict` → predictions.

Every error is `{"error": "..."}`: 400 for bad input, 404 for an unknown model,
version, label or signature, 413 for a body over the size limit. Model calls run
in Starlette's thread pool; a SavedModel call releases the GIL, so concurrent
requests overlap.
"""

import json
import re

from keras_p2c.serving.codec import NotFoundError, RequestError, decode_request, encode_response

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


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
            if not version.isdigit():
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


def _status_body(served):
    return {
        "model_version_status": [
            {"version": str(served.version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def _metadata_body(registry, served):
    return {
        "model_spec": {"name": registry.name, "signature_name": "", "version": str(served.version)},
        "metadata": {"signature_def": {"signature_def": served.signature_defs}},
    }


def _predict(served, body):
    """Runs in a worker thread: JSON body → JSON response body."""
    import tensorflow as tf

    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    signature_name = body.get("signature_name") or "serving_default"
    if not isinstance(signature_name, str):
        raise RequestError("'signature_name' must be a string")
    arrays, row_format = decode_request(body, served.input_specs(signature_name))
    try:
        outputs = served.predict(signature_name, arrays)
    except _client_input_errors(tf) as error:
        # e.g. bytes that are not an image, or a truncated one: the client's input, not a server fault.
        text = _op_error_text(error.message) if isinstance(error, tf.errors.OpError) else str(error)
        raise RequestError(f"invalid input for signature {signature_name!r}: {text}") from None
    return encode_response(outputs, row_format)


def _client_input_errors(tf):
    """Errors a signature raises because of what the client sent (TF Serving answers these with 400).

    ValueError/TypeError come from the signature's argument checks (dtype or shape
    the codec let through); the op errors from decoding and validating the data.
    """
    return (
        tf.errors.InvalidArgumentError,
        tf.errors.OutOfRangeError,
        tf.errors.FailedPreconditionError,
        tf.errors.DataLossError,
        ValueError,
        TypeError,
    )


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


def create_app(registries, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
    """The ASGI app serving `registries` (a `ModelRegistry` or a list of them).

    Args:
        registries: the models to serve, each under its `name`.
        max_request_bytes: larger request bodies are refused with 413.
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    if not isinstance(registries, (list, tuple)):
        registries = [registries]
    models = {registry.name: registry for registry in registries}
    app = FastAPI(title="keras-p2c serving (TF Serving REST API)", docs_url=None, redoc_url=None, openapi_url=None)

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

    @app.api_route("/v1/models/{path:path}", methods=["GET", "POST"])
    async def models_route(path: str, request: Request):
        name, version, label, action = parse_model_path(path, request.method)
        registry = models.get(name)
        if registry is None:
            raise NotFoundError(f"Servable not found for request: Latest({name})")
        if action == "status":
            return _status_body(registry.get(version, label))
        if action == "metadata":
            return _metadata_body(registry, registry.get(version, label))
        served = registry.get(version, label)
        raw = await _read_body(request, max_request_bytes)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as parse_error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise RequestError(f"JSON Parse error: {parse_error}") from None
        return JSONResponse(await run_in_threadpool(_predict, served, body))

    return app


def serve(registries, host="127.0.0.1", port=8501, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, log_level="info"):
    """Runs the server until interrupted, polling for new versions meanwhile."""
    import uvicorn

    if not isinstance(registries, (list, tuple)):
        registries = [registries]
    app = create_app(registries, max_request_bytes=max_request_bytes)
    for registry in registries:
        registry.start_polling()
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        for registry in registries:
            registry.stop_polling()
