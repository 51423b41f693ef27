"""`p2c serve` under load, over loopback: throughput, first-request latency, batching.

Exports an untrained generator (or uses `model_dir`), starts `p2c serve` in subprocesses and measures:

* `load`: N concurrent clients × M requests of the bytes signature: requests/s, p50/p99, errors;
* `warmup`: the first request after start-up against the steady ones, with and without warm-up;
* `batching`: requests/s and latency with and without `--enable-batching` at a few concurrency levels,
  with the mean batch size the server saw (from its metrics).

Every figure carries the load average of the machine while it was taken (the CPUs may be shared).
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
from keras_p2c.serving.metrics import METRICS_PATH


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir=None, port=None, extra_args=(), startup_s=180, name=None):
    """Starts `p2c serve [model_dir] extra_args` on loopback; returns (process, URL) once `name` answers.

    Args:
        model_dir: the model folder, or None when `extra_args` hold `--model-config-file`.
        name: the model whose status means "ready" (default: `model_dir`'s folder name).
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "keras_p2c.cli", "serve", "--port", str(port), "--log-level", "warning"]
    command += [str(model_dir)] if model_dir is not None else []
    # Output to a file, not a pipe: a pipe nobody reads fills up and blocks the server.
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([*command, *extra_args], stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log = log
    name = name or Path(model_dir).name
    deadline = time.time() + startup_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"p2c serve exited with {process.returncode}:\n{server_output(process)}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models/{name}", timeout=5):
                    return process, url
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline:
                    raise TimeoutError(f"p2c serve did not answer on {url} within {startup_s} s") from None
                time.sleep(0.2)
    except BaseException:
        stop_server(process)
        raise


def server_output(process):
    """What a `start_server` process has printed so far."""
    process.log.flush()
    process.log.seek(0)
    return process.log.read()


def stop_server(process, timeout=30):
    """SIGTERM (a graceful stop), then SIGKILL after `timeout` seconds; returns the exit status."""
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@contextlib.contextmanager
def serve_subprocess(model_dir, port=None, extra_args=(), startup_s=180):
    """Runs `p2c serve model_dir` on loopback; yields its URL once the model answers."""
    process, url = start_server(model_dir, port=port, extra_args=extra_args, startup_s=startup_s)
    try:
        yield url
    finally:
        stop_server(process)


def scrape(url):
    """The server's Prometheus metrics as {(name, frozenset of label items): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + METRICS_PATH, timeout=30) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_sum(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, items), value in samples.items() if sample == name and wanted <= items)


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def load_run(url, model, image_bytes, clients=16, requests=50, warm=True):
    """`clients` threads each send `requests` cartoonize calls; returns latency and error figures."""
    def worker(_):
        client = Client(url, model, timeout=300)
        latencies, errors = [], 0
        for _ in range(requests):
            start = time.perf_counter()
            try:
                client.cartoonize(image_bytes)
                latencies.append(time.perf_counter() - start)
            except (OSError, ServingError, ValueError, KeyError):
                errors += 1
        return latencies, errors

    if warm:
        Client(url, model, timeout=300).cartoonize(image_bytes)  # untimed: the figures are of a warm server
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
        "loadavg_1min": os.getloadavg()[0],
    }


def first_and_steady(model_dir, image_bytes, warmup=True, steady=10):
    """A fresh server: the first request's latency, then `steady` more one at a time."""
    name = Path(model_dir).name
    process, url = start_server(model_dir, extra_args=[] if warmup else ["--no-warmup"])
    try:
        client = Client(url, name, timeout=300)
        seconds = []
        for _ in range(steady + 1):
            start = time.perf_counter()
            client.cartoonize(image_bytes)
            seconds.append(time.perf_counter() - start)
        samples = scrape(url)
    finally:
        stop_server(process)
    return {
        "warmup": warmup,
        "first_s": seconds[0],
        "steady_median_s": statistics.median(seconds[1:]),
        "steady_min_s": min(seconds[1:]),
        "first_over_steady": seconds[0] / statistics.median(seconds[1:]),
        "server_warmup_s": metric_sum(samples, "p2c_serving_model_warmup_latency_seconds", model_name=name),
        "server_load_s": metric_sum(samples, "p2c_serving_model_load_latency_seconds", model_name=name),
        "loadavg_1min": os.getloadavg()[0],
    }


def batching_sweep(model_dir, image_bytes, concurrency=(1, 4, 8), requests=40, batching_args=()):
    """Requests/s and latency at each concurrency level, without and with `--enable-batching`.

    Each level sends about `requests` requests in all (`requests // clients` per client, at least 2).
    """
    name = Path(model_dir).name
    rows = []
    for batching in (False, True):
        extra = ["--enable-batching", *batching_args] if batching else []
        process, url = start_server(model_dir, extra_args=extra)
        try:
            for clients in concurrency:
                before = scrape(url)
                figures = load_run(url, name, image_bytes, clients=clients, requests=max(2, requests // clients))
                after = scrape(url)
                batches = metric_sum(after, "p2c_serving_batch_size_count") - metric_sum(before, "p2c_serving_batch_size_count")
                rows_total = metric_sum(after, "p2c_serving_batch_size_sum") - metric_sum(before, "p2c_serving_batch_size_sum")
                figures.update(batching=batching, mean_batch_size=rows_total / batches if batches else None)
                rows.append(figures)
        finally:
            stop_server(process)
    return rows


def run(
    batch=1, size=256, precision="float32", repeats=50, jit_compile=False, ngf=32, clients=16, model_dir=None,
    parts=("load", "warmup", "batching"), concurrency=(1, 4, 8), batching_args=("--batch-timeout-micros", "5000"),
):  # fmt: skip
    """The `serve` workload of scripts/benchmark.py; `repeats` is the requests per client of `load`.

    Args:
        ngf: width of the untrained generator exported when `model_dir` is None.
        clients: concurrent client threads of `load`.
        model_dir: an existing `saved_models/<name>` to serve instead of a fresh export.
        parts: which of "load", "warmup", "batching" to measure.
        concurrency: the client counts of `batching`.
        batching_args: `p2c serve` options for the batching runs (besides --enable-batching).
    """
    import tensorflow as tf

    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    image_bytes = tf.io.encode_jpeg(pixels).numpy()
    result = {"figure": "serve_load", "input_size": size, "ngf": ngf, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        if model_dir is None:
            generator = Generator(ngf=ngf)
            generator.build((None, 256, 256, 3))
            model_dir = export_generator(generator, base_dir=tmp, name="photo2cartoon").parent
        if "load" in parts:
            with serve_subprocess(model_dir) as url:
                result.update(load_run(url, Path(model_dir).name, image_bytes, clients=clients, requests=repeats))
        if "warmup" in parts:
            result["warmup"] = [first_and_steady(model_dir, image_bytes, warmup=w) for w in (False, True)]
        if "batching" in parts:
            result["batching"] = batching_sweep(
                model_dir, image_bytes, concurrency=concurrency, batching_args=list(batching_args)
            )
    return result


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="load,warmup,batching")
    parser.add_argument("--repeats", type=int, default=20, help="requests per client of the load part")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--model-dir")
    parser.add_argument("--batching-args", default="--batch-timeout-micros 5000", help="p2c serve options, one string")
    options = parser.parse_args()
    print(json.dumps(run(
        repeats=options.repeats, ngf=options.ngf, model_dir=options.model_dir, parts=options.parts.split(","),
        concurrency=tuple(int(c) for c in options.concurrency.split(",")), batching_args=options.batching_args.split(),
    ), indent=1))  # fmt: skip
