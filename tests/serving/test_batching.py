"""`batching.Batcher` over a stand-in model: batches form under concurrency and split back per request."""

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from keras_p2c.serving.batching import Batcher, Unavailable, batch_rows
from keras_p2c.serving.config_files import BatchingParameters


class FakeServed:
    """A signature doubling its float input; rows holding -1 are "bad client input" (ValueError).

    `gate` (when set) holds every call until released, so a test can pile requests up behind a busy batch.
    """

    extensions = {}
    model_name = "fake"

    def __init__(self, gate=None):
        self.calls, self.gate, self.lock = [], gate, threading.Lock()

    def predict(self, signature_name, arrays):
        x = arrays["x"]
        with self.lock:
            self.calls.append(len(x))
        if self.gate is not None:
            self.gate.wait(30)
        if np.any(x == -1):
            raise ValueError("-1 is not a valid input")
        return {"y": x * 2, "rows": np.arange(len(x))}


def _batcher(**options):
    """One batch thread unless told otherwise: the tests hold it busy to make requests queue up."""
    seen = []
    options.setdefault("num_batch_threads", 1)
    batcher = Batcher(BatchingParameters(**options), on_batch=lambda *args: seen.append(args))
    return batcher, seen


def _wait_until(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def _wait_for_queued(batcher, count, served=None):
    """Until `count` rows are queued, or (with `served`) queued or inside the model's held call."""
    def rows():
        return sum(task.rows for q in batcher._queues.values() for task in q) + (sum(served.calls) if served else 0)

    _wait_until(lambda: rows() >= count, f"{count} rows are queued")


def test_batch_rows():
    assert batch_rows({"a": np.zeros((3, 2)), "b": np.zeros(3)}) == 3
    assert batch_rows({"a": np.zeros((3, 2)), "b": np.zeros(2)}) is None
    assert batch_rows({"a": np.float32(1)}) is None


def test_concurrent_requests_share_model_calls_and_get_their_own_rows():
    gate = threading.Event()
    served = FakeServed(gate)
    batcher, seen = _batcher(max_batch_size=4, batch_timeout_micros=0)
    values = [np.full((1, 3), float(i)) for i in range(9)]
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        futures = [pool.submit(batcher.predict, served, "s", {"x": v}) for v in values]
        # The first call (1 row or more, as they arrive) holds the only batch thread; the rest queue behind it.
        _wait_for_queued(batcher, 9, served)
        gate.set()
        results = [f.result(30) for f in futures]
    for value, result in zip(values, results):
        np.testing.assert_array_equal(result["y"], value * 2)
        assert result["rows"].shape == (1,)
    assert sum(served.calls) == 9 and max(served.calls) == 4 and len(served.calls) < 9
    assert [args[2] for args in seen] == served.calls and all(args[0] is served and args[1] == "s" for args in seen)
    batcher.stop()


def test_a_bad_request_in_a_batch_fails_alone():
    gate = threading.Event()
    served = FakeServed(gate)
    batcher, _ = _batcher(max_batch_size=8, batch_timeout_micros=0)
    values = [np.full((1, 2), -1.0 if i == 3 else float(i)) for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.predict, served, "s", {"x": v}) for v in values]
        _wait_for_queued(batcher, 6, served)
        gate.set()
        outcomes = [f.exception(30) or f.result() for f in futures]
    assert isinstance(outcomes[3], ValueError)
    for i in (0, 1, 2, 4, 5):
        np.testing.assert_array_equal(outcomes[i]["y"], values[i] * 2)
    assert max(served.calls) > 1  # they did meet in one batch before the re-run
    batcher.stop()


def test_requests_of_other_signatures_or_shapes_are_not_mixed():
    gate = threading.Event()
    served = FakeServed(gate)
    batcher, seen = _batcher(max_batch_size=8, batch_timeout_micros=0)
    inputs = [("a", np.zeros((1, 2))), ("b", np.zeros((1, 2))), ("a", np.zeros((1, 3))), ("a", np.ones((1, 2)))]
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        blocker = pool.submit(batcher.predict, served, "z", {"x": np.zeros((1, 1))})
        _wait_until(lambda: served.calls, "the first call is in the model")
        futures = [pool.submit(batcher.predict, served, name, {"x": x}) for name, x in inputs]
        _wait_for_queued(batcher, 4)
        gate.set()
        results = [f.result(30) for f in futures]
        blocker.result(30)
    assert [r["y"].tolist() for r in results] == [(x * 2).tolist() for _, x in inputs]
    # Behind the blocker: one call for the two ("a", [1, 2]) requests, one each for the others.
    assert sorted((args[1], args[2]) for args in seen[1:]) == [("a", 1), ("a", 2), ("b", 1)]
    batcher.stop()


def test_large_requests_run_alone_and_padding_to_allowed_sizes():
    served = FakeServed()
    batcher, seen = _batcher(max_batch_size=4, batch_timeout_micros=0, allowed_batch_sizes=(2, 4))
    big = batcher.predict(served, "s", {"x": np.ones((6, 1))})  # over max_batch_size: one call of its own
    assert big["y"].shape == (6, 1) and served.calls == [6] and seen == []
    small = batcher.predict(served, "s", {"x": np.full((3, 1), 5.0)})
    np.testing.assert_array_equal(small["y"], np.full((3, 1), 10.0))
    assert small["rows"].tolist() == [0, 1, 2]  # padding rows cut off
    assert served.calls == [6, 4] and seen[-1][2:4] == (3, 1)  # padded to 4; the metrics see 3 rows, 1 request
    batcher.stop()


def test_full_queue_gets_503_and_stop_drains():
    gate = threading.Event()
    served = FakeServed(gate)
    batcher, _ = _batcher(max_batch_size=1, max_enqueued_batches=2, batch_timeout_micros=0)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        running = pool.submit(batcher.predict, served, "s", {"x": np.zeros((1, 1))})
        _wait_until(lambda: served.calls, "the first call is in the model")
        queued = [pool.submit(batcher.predict, served, "s", {"x": np.ones((1, 1))}) for _ in range(2)]
        _wait_for_queued(batcher, 2)
        with pytest.raises(Unavailable) as caught:
            batcher.predict(served, "s", {"x": np.ones((1, 1))})
        assert caught.value.status == 503 and "full" in str(caught.value)
        gate.set()
        stopper = pool.submit(batcher.stop)
        assert [f.result(30)["y"].tolist() for f in queued] == [[[2.0]], [[2.0]]]
        assert running.result(30)["y"].tolist() == [[0.0]]
        stopper.result(30)
    with pytest.raises(Unavailable, match="shutting down"):
        batcher.predict(served, "s", {"x": np.ones((1, 1))})


def test_a_lone_request_runs_after_the_timeout():
    served = FakeServed()
    batcher, seen = _batcher(max_batch_size=8, batch_timeout_micros=20_000)
    assert batcher.predict(served, "s", {"x": np.ones((2, 1))})["y"].shape == (2, 1)
    assert served.calls == [2] and seen[0][4] > 0  # it waited in the queue for company that never came
    batcher.stop()


def test_batch_threads_run_batches_at_the_same_time():
    gate = threading.Event()
    served = FakeServed(gate)
    batcher, _ = _batcher(num_batch_threads=2, max_batch_size=1, batch_timeout_micros=0)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(batcher.predict, served, "s", {"x": np.full((1, 1), float(i))}) for i in range(2)]
        _wait_until(lambda: len(served.calls) == 2, "both calls are in the model at once")
        gate.set()
        assert sorted(f.result(30)["y"].item() for f in futures) == [0.0, 2.0]
    batcher.stop()
