"""`p2c serve saved_models/<name>` (or `--model-config-file`): TF Serving's REST API over exported SavedModels."""

import signal
import sys

from keras_p2c.cli.runtime_options import add_runtime_arguments


def add_arguments(parser):
    from keras_p2c.images.io import DEFAULT_MAX_PIXELS  # FastAPI and friends: only for this command
    from keras_p2c.serving.server import DEFAULT_GRACEFUL_SHUTDOWN_SECONDS, DEFAULT_MAX_REQUEST_BYTES

    parser.add_argument(
        "model_dirs", nargs="*", metavar="MODEL_DIR",
        help="saved_models/<name> (numeric version folders inside); or use --model-config-file",
    )  # fmt: skip
    parser.add_argument(
        "--model-config-file", "--model_config_file", metavar="FILE",
        help="TF Serving's model config (ModelServerConfig text format): several models, version policies, "
        'version labels (version_labels { key: "stable" value: 1 } → /labels/stable)',
    )  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=8501, help="port (TF Serving's REST default is 8501)")
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES, help="larger bodies get 413")
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
        help="images whose header claims more pixels get 400 before decoding (a decompression-bomb guard)",
    )  # fmt: skip
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for a new version")
    parser.add_argument(
        "--no-warmup", action="store_true",
        help="serve without warm-up (by default each version first runs its assets.extra/tf_serving_warmup_requests, "
        "else one synthetic request per signature, so the first user request is not the slow one)",
    )  # fmt: skip
    parser.add_argument(
        "--enable-batching", "--enable_batching", action="store_true",
        help="group concurrent requests to one signature into one model call",
    )  # fmt: skip
    parser.add_argument(
        "--batching-parameters-file", "--batching_parameters_file", metavar="FILE",
        help="TF Serving's BatchingParameters (text format: max_batch_size { value: 8 } ...); implies --enable-batching",
    )  # fmt: skip
    # The file's field names; defaults (when neither the file nor the option sets one) are in the help.
    parser.add_argument("--max-batch-size", type=int, help="rows per model call (default 8)")
    parser.add_argument("--batch-timeout-micros", type=int, help="how long a request waits for others (default 5000)")
    parser.add_argument("--num-batch-threads", type=int, help="batches run at the same time (default 2)")
    parser.add_argument("--max-enqueued-batches", type=int, help="queue length in batches before 503 (default 100)")
    parser.add_argument(
        "--graceful-shutdown-seconds", type=float, default=DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
        help="on SIGTERM, how long requests in flight may take to finish",
    )  # fmt: skip
    add_runtime_arguments(parser)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument(
        "--full-photo",
        action="store_true",
        help="add a 'cartoonize_photo' signature: raw photos in, the server detects, aligns and masks the face "
        "(p2c serve only; real TF Serving has no such signature)",
    )


def _registries(args, options):
    from keras_p2c.serving.config_files import read_model_config
    from keras_p2c.serving.registry import ModelRegistry

    if args.model_config_file is None:
        return [ModelRegistry(d, **options) for d in args.model_dirs]
    registries = []
    for entry in read_model_config(args.model_config_file):
        for field in entry.ignored:
            print(f"p2c serve: {entry.source}: model {entry.name!r}: {field} is ignored by p2c serve", file=sys.stderr)
        try:
            registries.append(ModelRegistry.from_config(entry, **options))
        except (OSError, ValueError) as error:
            raise type(error)(f"{entry.source}: {error}") from None
    return registries


def _batching(args):
    from keras_p2c.serving.config_files import read_batching_parameters

    overrides = {
        "max_batch_size": args.max_batch_size,
        "batch_timeout_micros": args.batch_timeout_micros,
        "num_batch_threads": args.num_batch_threads,
        "max_enqueued_batches": args.max_enqueued_batches,
    }
    if not (args.enable_batching or args.batching_parameters_file):
        given = [name for name, value in overrides.items() if value is not None]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} needs --enable-batching")
        return None
    return read_batching_parameters(args.batching_parameters_file, **overrides)


def run(args):
    from keras_p2c.serving.photo import PHOTO_SIGNATURE, PhotoSignature
    from keras_p2c.serving.registry import ModelLoadError
    from keras_p2c.serving.server import serve

    if bool(args.model_dirs) == bool(args.model_config_file):
        print("p2c serve: give model folders or --model-config-file (one of the two)", file=sys.stderr)
        return 2
    try:
        batching = _batching(args)
        extensions = {PHOTO_SIGNATURE: PhotoSignature()} if args.full_photo else {}
        options = {
            "poll_seconds": args.poll_seconds, "extensions": extensions, "warmup": not args.no_warmup,
            "runtime": {"runtime": args.runtime, "precision": args.precision},
        }  # fmt: skip
        registries = _registries(args, options)
    except (OSError, ValueError, ModelLoadError) as error:
        print(f"p2c serve: {error}", file=sys.stderr)
        return 1
    names = [r.name for r in registries]
    if len(set(names)) != len(names):
        print(f"p2c serve: two model folders share a name: {names}", file=sys.stderr)
        return 1
    for registry in registries:
        for served in reversed(registry.served()):
            warmup = served.warmup
            warmed = "no warm-up" if warmup is None else f"warm-up: {warmup.requests} request(s), {warmup.seconds:.2f} s"
            if served.accelerated is not None:
                warmed += f"; generator on {served.accelerated.runtime.requested[0]}, chosen on the first request"
            print(f"serving {registry.name} version {served.version} from {served.path} ({warmed})", flush=True)
        for label, version in sorted(registry.version_labels.items()):
            print(f"  label {label} → version {version}", flush=True)
    if batching is not None:
        print(
            f"batching: max_batch_size {batching.max_batch_size}, batch_timeout_micros {batching.batch_timeout_micros}, "
            f"num_batch_threads {batching.num_batch_threads}, max_enqueued_batches {batching.max_enqueued_batches}",
            flush=True,
        )
    stopped_by = serve(
        registries, host=args.host, port=args.port, max_request_bytes=args.max_request_bytes,
        log_level=args.log_level, batching=batching, max_pixels=args.max_pixels,
        graceful_shutdown_seconds=args.graceful_shutdown_seconds,
    )  # fmt: skip
    # SIGTERM is how a service manager stops a server: a clean stop. Ctrl-C gets the shell's usual 130.
    return 130 if stopped_by == signal.SIGINT else 0
