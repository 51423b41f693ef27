"""Serving test helpers: PNG round trips, what an export must reproduce, `p2c serve`'s app on a loopback port."""

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np


def encode_png(pixels):
    import tensorflow as tf

    return tf.io.encode_png(pixels).numpy()


def face_like_png(height=256, width=256, seed=0):
    """A smooth gradient with noise: PNG bytes and the uint8 pixels they hold."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype("uint8")
    return encode_png(pixels), pixels


def keras_cartoon(generator, pixels):
    """What the export must reproduce: the Keras generator on [-1, 1] input, truncated to uint8."""
    x = pixels[None].astype("float32") / 127.5 - 1.0
    image = np.asarray(generator(x, training=False)[0])[0]
    return np.clip((image + 1.0) * 127.5, 0, 255).astype("uint8")


def decode_png(data):
    import tensorflow as tf

    return tf.io.decode_png(data, channels=3).numpy()


@contextlib.contextmanager
def running_server(registry, **app_options):
    """`p2c serve`'s app for `registry` on a loopback port (uvicorn in a thread, polling on); yields its URL."""
    import uvicorn

    from keras_p2c.benchmarks.serve import free_port
    from keras_p2c.serving.server import create_app

    registry.start_polling()
    port = free_port()
    config = uvicorn.Config(create_app(registry, **app_options), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        registry.stop_polling()


def http_json(url, data=None, method=None, headers=None, timeout=120):
    """`(status, JSON body)` of one HTTP request, error statuses included (the server answers JSON for both)."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
