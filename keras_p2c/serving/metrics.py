"""Prometheus metrics of `p2c serve`, at TF Serving's path `/monitoring/prometheus/metrics`.

Each metric maps onto one of TF Serving's (which count in microseconds and name with colons); label
values come only from served models, versions and signatures, so hostile URLs cannot grow them.

| metric | labels | TF Serving's |
|---|---|---|
| `p2c_serving_request_count_total` (predict requests) | model_name, model_version, signature_name, status | `:tensorflow:serving:request_count` |
| `p2c_serving_request_latency_seconds` (histogram) | model_name, model_version, signature_name, API | `:tensorflow:serving:request_latency` |
| `p2c_serving_requests_in_flight` (gauge) | model_name | — |
| `p2c_serving_model_state` (1 for the current state) | model_name, model_version, state | the model status API |
| `p2c_serving_model_load_attempt_count_total` | model_name, status | `:tensorflow:cc:saved_model:load_attempt_count` |
| `p2c_serving_model_load_latency_seconds` | model_name, model_version | `:tensorflow:cc:saved_model:load_latency` |
| `p2c_serving_model_warmup_latency_seconds` | model_name, model_version | `:tensorflow:serving:model_warmup_latency` |
| `p2c_serving_batch_size` (histogram, rows per model call) | model_name, signature_name | `/tensorflow/serving/batching_session/processed_batch_size` |
| `p2c_serving_batch_queuing_latency_seconds` (histogram) | model_name, signature_name | `/tensorflow/serving/batching_session/queuing_latency` |

`status` is TF Serving's status code name: OK, INVALID_ARGUMENT (400), NOT_FOUND (404),
RESOURCE_EXHAUSTED (413), UNAVAILABLE (503), INTERNAL (500).
"""

METRICS_PATH = "/monitoring/prometheus/metrics"
STATUS_NAMES = {200: "OK", 400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 413: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
# From a fast 64² call to a large batch on a loaded CPU.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024)


def status_name(http_status):
    return STATUS_NAMES.get(http_status, "INTERNAL" if http_status >= 500 else "UNKNOWN")


class _ModelCollector:
    """Model state, load and warm-up figures, read from the registries at each scrape."""

    def __init__(self, registries):
        self.registries = registries

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = GaugeMetricFamily(
            "p2c_serving_model_state", "1 for each model version's state (LOADING, AVAILABLE, END)",
            labels=["model_name", "model_version", "state"],
        )  # fmt: skip
        attempts = CounterMetricFamily(
            "p2c_serving_model_load_attempt_count", "Version loads by outcome", labels=["model_name", "status"]
        )
        load = GaugeMetricFamily(
            "p2c_serving_model_load_latency_seconds", "Seconds to load each served version",
            labels=["model_name", "model_version"],
        )  # fmt: skip
        warmup = GaugeMetricFamily(
            "p2c_serving_model_warmup_latency_seconds", "Seconds of warm-up requests for each served version",
            labels=["model_name", "model_version"],
        )  # fmt: skip
        for registry in self.registries:
            for version, name in sorted(registry.states.items()):
                state.add_metric([registry.name, str(version), name], 1)
            for status, count in registry.load_attempts.items():
                attempts.add_metric([registry.name, status], count)
            for served in registry.served():
                load.add_metric([registry.name, str(served.version)], served.load_seconds)
                if served.warmup is not None:
                    warmup.add_metric([registry.name, str(served.version)], served.warmup.seconds)
        yield from (state, attempts, load, warmup)


class ServingMetrics:
    """The metrics of one app; their own `CollectorRegistry`, so several apps in one process stay apart.

    Args:
        registries: the `ModelRegistry`s served, read at each scrape for model state.
    """

    def __init__(self, registries):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        request_labels = ["model_name", "model_version", "signature_name"]
        self.requests = Counter(
            "p2c_serving_request_count", "Predict requests by outcome", [*request_labels, "status"], registry=self.registry
        )
        self.latency = Histogram(
            "p2c_serving_request_latency_seconds", "Predict request latency (body read to response)",
            [*request_labels, "API"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "p2c_serving_requests_in_flight", "Predict requests received and not yet answered", ["model_name"],
            registry=self.registry,
        )  # fmt: skip
        batch_labels = ["model_name", "signature_name"]
        self.batch_size = Histogram(
            "p2c_serving_batch_size", "Rows per batched model call (before padding)", batch_labels,
            buckets=BATCH_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.queuing = Histogram(
            "p2c_serving_batch_queuing_latency_seconds", "Seconds the oldest request of a batch waited in the queue",
            batch_labels, buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_ModelCollector(list(registries)))

    def observe_request(self, model_name, model_version, signature_name, http_status, seconds, api="predict"):
        labels = (model_name, model_version, signature_name)
        self.requests.labels(*labels, status_name(http_status)).inc()
        self.latency.labels(*labels, api).observe(seconds)

    def observe_batch(self, served, signature_name, rows, requests, queued_seconds):
        """A `batching.Batcher` `on_batch` hook."""
        self.batch_size.labels(served.model_name or "", signature_name).observe(rows)
        self.queuing.labels(served.model_name or "", signature_name).observe(queued_seconds)

    def exposition(self):
        """(body bytes, content type) in Prometheus' text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
