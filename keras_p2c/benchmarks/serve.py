"""Load on `p2c serve`: N concurrent clients × M requests of the bytes signature, over loopback.

Exports an untrained generator (or uses `model_dir`), starts `p2c serve` in a
subprocess, and reports requests/s, p50/p99 latency and the error count.
"""

import concurrent.futures
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from keras_p2c.models import Generator
from keras_p2c.serving.client import Client, ServingError
from keras_p2c.serving.export import export_generator


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_subprocess(model_dir, port=None, extra_args=(), startup_s=180):
    """Runs `p2c serve model_dir` on loopback; yields its URL once the model answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "keras_p2c.cli", "serve", str(model_dir), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen([*command, *extra_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + startup_s
        name = Path(model_dir).name
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"p2c serve exited with {process.returncode}:\n{process.stdout.read()}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models/{name}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline:
                    raise TimeoutError(f"p2c serve did not answer on {url} within {startup_s} s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def load_run(url, model, image_bytes, clients=16, requests=50):
    """`clients` threads each send `requests` cartoonize calls; returns latency and error figures."""
    def worker(_):
        client = Client(url, model, timeout=120)
        latencies, errors = [], 0
        for _ in range(requests):
            start = time.perf_counter()
            try:
                client.cartoonize(image_bytes)
                latencies.append(time.perf_counter() - start)
            except (OSError, ServingError, ValueError, KeyError):
                errors += 1
        return latencies, errors

    Client(url, model).cartoonize(image_bytes)  # warm-up (first call traces nothing, but loads caches)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - start
    latencies = [s for r in results for s in r[0]]
    errors = sum(r[1] for r in results)
    return {
        "clients": clients,
        "requests_per_client": requests,
        "requests": clients * requests,
        "errors": errors,
        "wall_s": wall,
        "requests_per_s": len(latencies) / wall,
        "p50_s": statistics.median(latencies) if latencies else None,
        "p99_s": _percentile(latencies, 99) if latencies else None,
    }


def run(batch=1, size=256, precision="float32", repeats=50, jit_compile=False, ngf=32, clients=16, model_dir=None):
    """The `serve` workload of scripts/benchmark.py; `repeats` is the requests per client.

    Args:
        ngf: width of the untrained generator exported when `model_dir` is None.
        clients: concurrent client threads.
        model_dir: an existing `saved_models/<name>` to serve instead of a fresh export.
    """
    import tensorflow as tf

    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    image_bytes = tf.io.encode_jpeg(pixels).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            generator = Generator(ngf=ngf)
            generator.build((None, 256, 256, 3))
            model_dir = export_generator(generator, base_dir=tmp, name="photo2cartoon").parent
        with serve_subprocess(model_dir) as url:
            figures = load_run(url, Path(model_dir).name, image_bytes, clients=clients, requests=repeats)
    return {"figure": "serve_load", "input_size": size, "ngf": ngf, "cpu_count": os.cpu_count(), **figures}


if __name__ == "__main__":
    import json

    print(json.dumps(run(repeats=int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
