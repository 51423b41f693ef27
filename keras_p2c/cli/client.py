"""`p2c client`: send an aligned face to a TF Serving REST endpoint, write the cartoon PNG."""

import sys

from keras_p2c.atomic import write_bytes_atomic
from keras_p2c.serving.client import Client, ServingError


def add_arguments(parser):
    parser.add_argument("image", help="JPEG/PNG of an aligned face (resized to 256×256 by the model)")
    parser.add_argument("-o", "--output", required=True, help="where to write the cartoon PNG")
    parser.add_argument("--url", default="http://127.0.0.1:8501", help="server root")
    parser.add_argument("--model", default="photo2cartoon", help="model name")
    parser.add_argument("--version", type=int, help="pin a model version (default: newest served)")


def run(args):
    client = Client(args.url, args.model, version=args.version)
    try:
        png = client.cartoonize(args.image)
    except (OSError, ServingError) as error:
        print(f"p2c client: {error}", file=sys.stderr)
        return 1
    output = write_bytes_atomic(args.output, png)
    print(f"{args.image} → {output} ({len(png):,} bytes)")
    return 0
