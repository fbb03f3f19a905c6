"""Micro-batching: many requests, one scoring thread, bounded waiting.

Requests from the event loop are queued as jobs (a job = the notes of one request). One worker
thread loads the pipeline, warms it, then repeatedly takes the oldest job and, for up to
``max_wait_s``, the jobs behind it while their notes fit in ``max_batch_size``; it scores them in
one ``score_batch`` call and hands each job its own verdicts back on the event loop. Scoring never
runs on the event loop.

Back-pressure and failure, as exceptions of :meth:`MicroBatcher.submit`::

    BatcherError
    ├── NotReady        the model is still loading, or failed to load          (HTTP 503)
    ├── ShuttingDown    close() was called; queued work still finishes          (HTTP 503)
    ├── QueueFull       ``max_queue`` requests are already waiting              (HTTP 429)
    └── DeadlineExceeded  no verdict within the request's timeout               (HTTP 504)

A job whose deadline passes while it waits is dropped before scoring (its caller already got
``DeadlineExceeded``). ``close()`` refuses new jobs, lets the worker finish every queued one and
joins the thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict

__all__ = [
    "WARMUP_NOTE",
    "BatcherError",
    "DeadlineExceeded",
    "MicroBatcher",
    "NotReady",
    "QueueFull",
    "ShuttingDown",
]

log = logging.getLogger("notecheck.serving")

State = Literal["created", "loading", "ready", "failed", "closing", "closed"]
WARMUP_NOTE = Note(id="warmup", title="预热", text="周末探店记录，到手价99，加薇了解 #品牌合作 @某品牌")
"""Scored once after loading so that lazy parts (jieba, regex caches) are warm before /readyz."""


class BatcherError(Exception):
    """Why a job was not scored."""


class NotReady(BatcherError):
    pass


class ShuttingDown(BatcherError):
    pass


class QueueFull(BatcherError):
    def __init__(self, depth: int) -> None:
        super().__init__(f"{depth} requests are already waiting for the model")
        self.depth = depth


class DeadlineExceeded(BatcherError):
    def __init__(self, timeout_s: float, *, what: str = "no verdict") -> None:
        super().__init__(f"{what} within the request deadline of {timeout_s:g} s")
        self.timeout_s = timeout_s


@dataclass(eq=False)
class _Job:
    notes: Sequence[Note]
    future: asyncio.Future[list[Verdict]]
    loop: asyncio.AbstractEventLoop
    deadline: float
    queued_at: float = field(default_factory=time.monotonic)

    def deliver(self, result: list[Verdict] | BaseException) -> None:
        """Resolve the caller's future on its own loop (safe from any thread)."""
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future, result)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _resolve(future: asyncio.Future[list[Verdict]], result: list[Verdict] | BaseException) -> None:
    if future.done():  # cancelled by the caller's deadline
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class MicroBatcher:
    """Queues requests and scores them in batches on one worker thread.

    ``load`` builds the pipeline on the worker thread (so the event loop keeps answering
    ``/healthz`` meanwhile); ``on_batch(n_notes, seconds)`` is called after each model call."""

    def __init__(
        self,
        load: Callable[[], Pipeline],
        *,
        max_batch_size: int = 32,
        max_wait_s: float = 0.002,
        max_queue: int = 256,
        warmup: bool = True,
        on_batch: Callable[[int, float], None] | None = None,
        on_ready: Callable[[Pipeline], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1 and max_wait_s >= 0, got "
                             f"{max_batch_size}, {max_queue}, {max_wait_s}")
        self._load = load
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._warmup = warmup
        self._on_batch = on_batch
        self._on_ready = on_ready
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._state: State = "created"
        self._pipeline: Pipeline | None = None
        self.error: str | None = None
        self.in_flight = 0

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> State:
        return self._state

    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def pipeline(self) -> Pipeline | None:
        """The loaded pipeline (``None`` until loading finished)."""
        return self._pipeline

    def depth(self) -> int:
        """Requests waiting for the worker (not counting the batch being scored)."""
        return len(self._queue)

    def start(self) -> None:
        """Start the worker thread: load, warm up, then serve the queue."""
        with self._cond:
            if self._thread is not None:
                raise RuntimeError("the batcher was already started")
            self._state = "loading"
            self._thread = threading.Thread(target=self._run, name="notecheck-batcher", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Refuse new jobs, finish the queued ones, stop the worker. True if it stopped in time."""
        with self._cond:
            if self._state in ("closing", "closed"):
                pass
            elif self._thread is None:
                self._state = "closed"
            else:
                self._state = "closing"
            self._cond.notify_all()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        stopped = not thread.is_alive()
        if not stopped:
            log.warning("the scoring thread did not stop within %.1f s; %d requests still queued",
                        timeout_s, len(self._queue))
        return stopped

    # ------------------------------------------------------------------ the caller's side
    async def submit(self, notes: Sequence[Note], timeout_s: float) -> list[Verdict]:
        """Queue ``notes`` as one job and wait for their verdicts (same order)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Verdict]] = loop.create_future()
        job = _Job(notes, future, loop, time.monotonic() + timeout_s)
        with self._cond:
            if self._state in ("closing", "closed"):
                raise ShuttingDown("the server is shutting down; retry on another instance")
            if self._state != "ready":
                raise NotReady(self._not_ready_reason())
            if len(self._queue) >= self.max_queue:
                raise QueueFull(len(self._queue))
            self._queue.append(job)
            self._cond.notify()
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise DeadlineExceeded(timeout_s) from None

    def _not_ready_reason(self) -> str:
        if self._state == "failed":
            return f"the model failed to load: {self.error}"
        return "the model is still loading; retry shortly"

    # ------------------------------------------------------------------ the worker
    def _run(self) -> None:
        try:
            pipeline = self._load()
            if self._warmup:
                pipeline.score_batch([WARMUP_NOTE])
        except Exception as exc:
            log.exception("loading the model failed")
            with self._cond:
                self.error = f"{type(exc).__name__}: {exc}"
                self._state = "failed" if self._state == "loading" else "closed"
            return
        self._pipeline = pipeline
        with self._cond:
            if self._state == "loading":
                self._state = "ready"
        if self._on_ready is not None:
            self._on_ready(pipeline)
        while (batch := self._next_batch()) is not None:
            self._score(pipeline, batch)
        with self._cond:
            self._state = "closed"

    def _next_batch(self) -> list[_Job] | None:
        """The next jobs to score together, or ``None`` when closing and the queue is empty."""
        with self._cond:
            while not self._queue:
                if self._state in ("closing", "closed"):
                    return None
                self._cond.wait()
            batch = [self._queue.popleft()]
            n = len(batch[0].notes)
            until = time.monotonic() + self.max_wait_s
            while n < self.max_batch_size:
                if self._queue:
                    if n + len(self._queue[0].notes) > self.max_batch_size:
                        break
                    job = self._queue.popleft()
                    batch.append(job)
                    n += len(job.notes)
                    continue
                left = until - time.monotonic()
                if left <= 0 or self._state == "closing":
                    break
                self._cond.wait(left)
            self.in_flight = n
            return batch

    def _score(self, pipeline: Pipeline, batch: list[_Job]) -> None:
        now = time.monotonic()
        live = [job for job in batch if not job.future.done() and job.deadline > now]
        for job in batch:
            if job not in live and not job.future.done():
                job.deliver(DeadlineExceeded(job.deadline - job.queued_at))
        if not live:
            self.in_flight = 0
            return
        notes = [note for job in live for note in job.notes]
        started = time.perf_counter()
        try:
            verdicts = self._score_notes(pipeline, notes)
        except Exception as exc:
            if len(live) == 1:  # nothing to separate: scoring it again would fail the same way
                live[0].deliver(exc)
                self.in_flight = 0
                return
            log.exception("scoring a batch of %d notes failed; retrying request by request",
                          len(notes))
            for job in live:
                try:
                    job.deliver(self._score_notes(pipeline, job.notes))
                except Exception as exc:  # noqa: BLE001
                    job.deliver(exc)
            self.in_flight = 0
            return
        if self._on_batch is not None:
            self._on_batch(len(notes), time.perf_counter() - started)
        start = 0
        for job in live:
            job.deliver(verdicts[start:start + len(job.notes)])
            start += len(job.notes)
        self.in_flight = 0

    def _score_notes(self, pipeline: Pipeline, notes: Sequence[Note]) -> list[Verdict]:
        out: list[Verdict] = []
        for i in range(0, len(notes), self.max_batch_size):
            out.extend(pipeline.score_batch(notes[i:i + self.max_batch_size]))
        return out
