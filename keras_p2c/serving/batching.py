"""Request batching for `p2c serve --enable-batching`: concurrent requests to one signature, one model call.

As TF Serving's batching session does: a request's rows join a queue per (model version, signature,
input dtypes and inner shapes); a batch runs when it holds `max_batch_size` rows, or when its oldest
request has waited `batch_timeout_micros`, on one of `num_batch_threads` threads; the outputs are split
back by rows. While a batch runs, new requests queue up, so a busy server forms larger batches.

Where TF Serving fails a whole batch when one request's input is bad, here a batch whose call fails on
client input is re-run request by request, so only the bad request gets the 400. A request with more
rows than `max_batch_size`, or inputs without a common batch dimension, runs on its own.
"""

import collections
import threading
import time

import numpy as np

from keras_p2c.serving.codec import RequestError
from keras_p2c.serving.registry import client_input_errors


class Unavailable(RequestError):
    """The batch queue is full or the server is shutting down (TF Serving's UNAVAILABLE)."""

    status = 503


class _Unsplittable(Exception):
    """A signature's outputs have no batch dimension to split by."""


class _Task:
    __slots__ = ("arrays", "rows", "enqueued", "done", "result", "error")

    def __init__(self, arrays, rows):
        self.arrays, self.rows = arrays, rows
        self.enqueued = time.monotonic()
        self.done = threading.Event()
        self.result = self.error = None


def batch_rows(arrays):
    """The common leading dimension of a request's input arrays, or None when they have none."""
    sizes = {array.shape[0] if array.ndim else None for array in arrays.values()}
    return sizes.pop() if len(sizes) == 1 and None not in sizes else None


class Batcher:
    """Groups concurrent `predict` calls into batches.

    Args:
        parameters: a `config_files.BatchingParameters`.
        on_batch: called after each model call as `on_batch(served, signature_name, rows, requests,
            queued_seconds)` (rows without padding; the oldest request's wait), e.g. for metrics.
    """

    def __init__(self, parameters, on_batch=None):
        self.parameters = parameters
        self.on_batch = on_batch
        self._client_errors = client_input_errors()
        self._queues = {}  # key → deque of _Task; a key leaves when its queue empties (no stale versions held)
        self._queued_rows = collections.Counter()
        self._condition = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(parameters.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def predict(self, served, signature_name, arrays):
        """Like `served.predict(signature_name, arrays)`, batched with other calls; blocks until done."""
        rows = batch_rows(arrays)
        if rows is None or rows == 0 or rows > self.parameters.max_batch_size:
            return served.predict(signature_name, arrays)
        shapes = tuple(sorted((name, array.dtype.str, array.shape[1:]) for name, array in arrays.items()))
        key = (served, signature_name, shapes)
        task = _Task(arrays, rows)
        limit = self.parameters.max_enqueued_batches * self.parameters.max_batch_size
        with self._condition:
            if self._stopping:
                raise Unavailable("the server is shutting down")
            if self._queued_rows[key] + rows > limit:
                raise Unavailable(
                    f"the batch queue for signature {signature_name!r} is full ({limit} rows); retry later"
                )
            self._queues.setdefault(key, collections.deque()).append(task)
            self._queued_rows[key] += rows
            self._condition.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result

    def stop(self):
        """Runs what is queued, then ends the batch threads; later calls get 503."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()

    # -- the batch threads ---------------------------------------------------------------------------

    def _next_batch(self, now):
        """(key, tasks) of the ready queue whose oldest request waited longest, or None; takes the lock's caller."""
        timeout = self.parameters.batch_timeout_micros / 1e6
        ready = [
            (queue[0].enqueued, key)
            for key, queue in self._queues.items()
            if self._queued_rows[key] >= self.parameters.max_batch_size
            or now - queue[0].enqueued >= timeout
            or self._stopping
        ]
        if not ready:
            return None
        _, key = min(ready, key=lambda item: item[0])
        queue, tasks, rows = self._queues[key], [], 0
        while queue and rows + queue[0].rows <= self.parameters.max_batch_size:
            rows += queue[0].rows
            tasks.append(queue.popleft())
        self._queued_rows[key] -= rows
        if not queue:
            del self._queues[key], self._queued_rows[key]
        return key, tasks

    def _wait_seconds(self, now):
        timeout = self.parameters.batch_timeout_micros / 1e6
        waits = [queue[0].enqueued + timeout - now for queue in self._queues.values()]
        return max(0.0, min(waits)) if waits else None

    def _work(self):
        while True:
            with self._condition:
                while (batch := self._next_batch(time.monotonic())) is None:
                    if self._stopping and not self._queues:
                        return
                    self._condition.wait(self._wait_seconds(time.monotonic()))
            self._run(*batch)

    def _run(self, key, tasks):
        served, signature_name, _ = key
        try:
            results = self._call(served, signature_name, tasks)
        except (_Unsplittable, *self._client_errors) as error:
            if len(tasks) == 1 and not isinstance(error, _Unsplittable):
                tasks[0].error = error
            else:
                # One bad request must not fail the others, and outputs without a batch dimension cannot
                # be split: run each request alone.
                for task in tasks:
                    try:
                        (task.result,) = self._call(served, signature_name, [task])
                    except Exception as task_error:  # handed to the request's own thread
                        task.error = task_error
        except Exception as error:  # a server-side failure: every request of the batch gets it
            for task in tasks:
                task.error = error
        else:
            for task, result in zip(tasks, results):
                task.result = result
        for task in tasks:
            task.done.set()

    def _call(self, served, signature_name, tasks):
        """One model call on the tasks' rows (padded to an allowed batch size); outputs split per task."""
        rows = sum(task.rows for task in tasks)
        names = list(tasks[0].arrays)
        arrays = {name: np.concatenate([task.arrays[name] for task in tasks]) for name in names}
        padded = next((size for size in self.parameters.allowed_batch_sizes if size >= rows), rows)
        if padded > rows:  # repeat the first row: the model sees only the allowed shapes
            arrays = {name: np.concatenate([a, np.repeat(a[:1], padded - rows, axis=0)]) for name, a in arrays.items()}
        queued = time.monotonic() - tasks[0].enqueued
        try:
            outputs = served.predict(signature_name, arrays)
        finally:
            if self.on_batch is not None:
                self.on_batch(served, signature_name, rows, len(tasks), queued)
        if len(tasks) == 1 and padded == rows:
            return [outputs]
        if any(np.ndim(value) == 0 or len(value) != padded for value in outputs.values()):
            raise _Unsplittable(f"outputs of {signature_name!r} have no batch dimension of {padded}")
        results, start = [], 0
        for task in tasks:
            results.append({name: value[start : start + task.rows] for name, value in outputs.items()})
            start += task.rows
        return results
