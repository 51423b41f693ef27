"""`p2c serve saved_models/<name>`: TF Serving's REST API over an exported SavedModel."""

import sys


def add_arguments(parser):
    from keras_p2c.serving.server import DEFAULT_MAX_REQUEST_BYTES  # FastAPI: only for this command

    parser.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR", help="saved_models/<name> (numeric version folders inside)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=8501, help="port (TF Serving's REST default is 8501)")
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES, help="larger bodies get 413")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for a new version")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument(
        "--full-photo",
        action="store_true",
        help="add a 'cartoonize_photo' signature: raw photos in, the server detects, aligns and masks the face "
        "(p2c serve only; real TF Serving has no such signature)",
    )


def run(args):
    from keras_p2c.serving.photo import PHOTO_SIGNATURE, PhotoSignature
    from keras_p2c.serving.registry import ModelRegistry
    from keras_p2c.serving.server import serve

    try:
        extensions = {}
        if args.full_photo:
            extensions[PHOTO_SIGNATURE] = PhotoSignature()
        registries = [ModelRegistry(d, poll_seconds=args.poll_seconds, extensions=extensions) for d in args.model_dirs]
    except (OSError, ValueError) as error:
        print(f"p2c serve: {error}", file=sys.stderr)
        return 1
    names = [r.name for r in registries]
    if len(set(names)) != len(names):
        print(f"p2c serve: two model folders share a name: {names}", file=sys.stderr)
        return 1
    for registry in registries:
        print(f"serving {registry.name} version {registry.refresh()} from {registry.model_dir}", flush=True)
    serve(registries, host=args.host, port=args.port, max_request_bytes=args.max_request_bytes, log_level=args.log_level)
    return 0
