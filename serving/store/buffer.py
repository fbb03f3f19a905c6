"""A writer thread between the API and the store: verdicts are handed over in memory (the request
never waits on the database) and written in batches; while the database is down they wait in a
bounded buffer, and are flushed when it answers again.

``VerdictBuffer(store, max_items=10_000, batch_size=256, retry_s=1.0)`` (``store``: a
:class:`Store`, or a function returning the one open now, raising :class:`StoreUnavailable`
while there is none); ``start()``;
``put(pairs, source)`` (never blocks, never raises for a database outage); ``depth()``,
``dropped`` (verdicts thrown away because the buffer was full: the oldest go first),
``failed`` (verdicts the store refused for another reason, logged), ``written``,
``available`` (False from a failed write until the next successful one); ``flush(timeout)``
waits until the buffer is empty; ``close(timeout)`` flushes what it can and stops the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from classifier.types import Note, Verdict
from serving.store.errors import StoreError, StoreUnavailable
from serving.store.store import Store

__all__ = ["VerdictBuffer"]

log = logging.getLogger("notecheck.store")

Entry = tuple[Note, Verdict, str]


class VerdictBuffer:
    def __init__(self, store: Store | Callable[[], Store], *, max_items: int = 10_000, batch_size: int = 256,
                 retry_s: float = 1.0) -> None:
        if max_items < 1 or batch_size < 1 or retry_s <= 0:
            raise ValueError(f"max_items and batch_size must be >= 1 and retry_s > 0, got "
                             f"{max_items}, {batch_size}, {retry_s}")
        self.store = store
        self.max_items = max_items
        self.batch_size = batch_size
        self.retry_s = retry_s
        self.dropped = 0
        self.failed = 0
        self.written = 0
        self.available = True
        self._items: deque[Entry] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._inflight = 0  # entries at the head of the deque being written now
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notecheck-store-writer",
                                            daemon=True)
            self._thread.start()

    def put(self, pairs: Sequence[tuple[Note, Verdict]], source: str) -> None:
        """Queue verdicts for the store; when the buffer is full the oldest are dropped."""
        with self._cond:
            for note, verdict in pairs:
                if len(self._items) >= self.max_items:
                    self._items.popleft()
                    self.dropped += 1
                    if self._inflight:  # that one was being written: do not pop it twice
                        self._inflight -= 1
                self._items.append((note, verdict, source))
            self._cond.notify()

    def depth(self) -> int:
        return len(self._items)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every verdict handed over is written (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush (up to ``timeout``) and stop; True when nothing was left behind."""
        flushed = self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, self.retry_s * 2))
        if not flushed:
            log.warning("store: %d verdicts were not written at shutdown (database "
                        "unavailable)", self.depth())
        return flushed

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stop:
                    self._cond.wait()
                if self._stop and (not self._items or not self.available):
                    return
                batch = [self._items[i] for i in range(min(self.batch_size, len(self._items)))]
                self._busy = True
                self._inflight = len(batch)
            try:
                ok = self._write(batch)
            finally:
                with self._cond:
                    if ok is not None:  # written, or refused for good: take them off
                        for _ in range(min(self._inflight, len(self._items))):
                            self._items.popleft()
                    self._inflight = 0
                    self._busy = False
                    self._cond.notify_all()
            if ok is None:
                with self._cond:
                    self._cond.wait(self.retry_s)

    def _write(self, batch: list[Entry]) -> bool | None:
        """True: written; False: refused for good (counted in ``failed``); None: retry later."""
        by_source: dict[str, list[tuple[Note, Verdict]]] = {}
        for note, verdict, source in batch:
            by_source.setdefault(source, []).append((note, verdict))
        try:
            for source, pairs in by_source.items():
                store = self.store if isinstance(self.store, Store) else self.store()
                store.record_verdicts(pairs, source=source)
        except StoreUnavailable as exc:
            if self.available:
                log.warning("store: %s; %d verdicts wait in memory (at most %d)", exc,
                            self.depth(), self.max_items)
            self.available = False
            return None
        except StoreError as exc:
            if len(batch) > 1:  # find the culprit: write them one at a time
                results = [self._write([entry]) for entry in batch]
                return None if None in results else all(results)
            log.error("store: a verdict for note %r was refused: %s", batch[0][0].id, exc)
            self.failed += 1
            return False
        if not self.available:
            log.info("store: the database answers again; writing the buffered verdicts")
        self.available = True
        self.written += len(batch)
        return True
