"""Shadow scoring: every note the API serves is scored again by a candidate model, off the request path.

``notecheck serve --shadow models/NEW`` (``NOTECHECK_SHADOW_MODEL``) builds one :class:`ShadowScorer`.
The request path only calls :meth:`ShadowScorer.offer`, which puts the notes and the verdicts
returned into a bounded queue without waiting (``put_nowait``): the answer is never changed and
never waits for the candidate. When the queue is full the notes are dropped from the comparison and
counted. A daemon thread loads the candidate (its own ``policy.json``, the served lexicon), scores
the queued notes in batches and compares labels; each disagreement is handed to ``record`` (the
store, as a queue item for review, when the API has one), and everything is counted in
``/metrics``::

    notecheck_shadow_scored_total                              notes scored by the candidate
    notecheck_shadow_disagreements_total{served,shadow}        labels that differ
    notecheck_shadow_dropped_total                             notes not compared (queue full)
    notecheck_shadow_record_failures_total                     disagreements the sink refused
    notecheck_shadow_pending                                   notes waiting for the candidate
    notecheck_shadow_ready                                     1 when the candidate is loaded
    notecheck_shadow_info{model_version,policy_version}        the candidate in use

The candidate shares the machine's cores with the served model: the cost to a caller is the
``offer`` call plus the CPU the shadow thread takes, which the bounded queue caps (at most
``max_pending`` notes are ever waiting).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict

__all__ = ["Disagreement", "ShadowScorer", "store_recorder"]

log = logging.getLogger("notecheck.serving")


@dataclass(frozen=True)
class Disagreement:
    """A note on which the candidate's label differs from the label served."""

    note: Note
    served: Verdict
    shadow: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {"note_id": self.note.id, "served": self.served.to_dict(), "shadow": self.shadow.to_dict()}


Record = Callable[[list[Disagreement]], None]


class ShadowScorer:
    """Scores served notes with a second pipeline in a background thread; see the module docstring.

    ``loader`` builds the candidate pipeline (called once, on the shadow thread); ``record``
    receives each batch's disagreements (its exceptions are logged and counted, never raised)."""

    def __init__(self, loader: Callable[[], Pipeline], *, registry: CollectorRegistry,
                 record: Record | None = None, max_pending: int = 1024, batch_size: int = 32) -> None:
        if max_pending < 1 or batch_size < 1:
            raise ValueError(f"max_pending and batch_size must be >= 1, got {max_pending}, {batch_size}")
        self._loader = loader
        self._record = record
        self._batch_size = batch_size
        self._queue: queue.Queue[tuple[Note, Verdict] | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._busy = 0
        self.pipeline: Pipeline | None = None
        self.error: str | None = None
        r = registry
        self.scored = Counter("notecheck_shadow_scored", "Notes scored by the shadow model.", registry=r)
        self.disagreements = Counter("notecheck_shadow_disagreements", "Notes whose shadow label differs "
                                     "from the label served.", ("served", "shadow"), registry=r)
        self.dropped = Counter("notecheck_shadow_dropped", "Notes not compared: the shadow queue was full.",
                               registry=r)
        self.record_failures = Counter("notecheck_shadow_record_failures", "Disagreements the store "
                                       "could not record.", registry=r)
        self.pending = Gauge("notecheck_shadow_pending", "Notes waiting for the shadow model.", registry=r)
        self.pending.set_function(lambda: float(self._queue.qsize()))
        self.ready = Gauge("notecheck_shadow_ready", "1 when the shadow model is loaded.", registry=r)
        self.info = Gauge("notecheck_shadow_info", "The shadow model in use.",
                          ("model_version", "policy_version"), registry=r)

    @classmethod
    def for_model(cls, model_dir: Path, *, lexicon: Path | None, exact: bool, registry: CollectorRegistry,
                  record: Record | None = None, max_pending: int = 1024) -> ShadowScorer:
        """The candidate folder with its own policy, the lexicon in service, on the served path."""
        return cls(lambda: Pipeline.load(model_dir, None, lexicon, exact=exact), registry=registry,
                   record=record, max_pending=max_pending)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notecheck-shadow", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop after the notes already queued (up to ``timeout_s``); True when the thread ended."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._queue.put(None, timeout=0.05)
                break
            except queue.Full:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ the request path
    def offer(self, notes: Sequence[Note], verdicts: Sequence[Verdict]) -> None:
        """Queue served notes for comparison without waiting; when full, drop and count."""
        for pair in zip(notes, verdicts, strict=True):
            try:
                self._queue.put_nowait(pair)
            except queue.Full:
                self.dropped.inc()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every queued note was compared (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    # ------------------------------------------------------------------ the shadow thread
    def _run(self) -> None:
        try:
            self.pipeline = self._loader()
        except Exception as exc:  # noqa: BLE001 - a broken candidate must never stop the API
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("shadow model failed to load, shadow scoring is off: %s", self.error)
            self._drain_forever()
            return
        self.ready.set(1)
        self.info.labels(self.pipeline.model_version, self.pipeline.policy.version).set(1)
        log.info("shadow model %s ready (policy %s)", self.pipeline.model_version,
                 self.pipeline.policy.version)
        while True:
            first = self._queue.get()
            batch = [first]
            while first is not None and len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pairs = [p for p in batch if p is not None]
            try:
                if pairs:
                    self._compare(pairs)
            finally:
                for _ in batch:
                    self._queue.task_done()
                with self._idle:
                    self._idle.notify_all()
            if len(pairs) < len(batch):  # the stop sentinel
                return

    def _drain_forever(self) -> None:
        while True:
            item = self._queue.get()
            if item is not None:
                self.dropped.inc()
            self._queue.task_done()
            with self._idle:
                self._idle.notify_all()
            if item is None:
                return

    def _compare(self, pairs: list[tuple[Note, Verdict]]) -> None:
        assert self.pipeline is not None
        try:
            shadow = list(self.pipeline.pipe([n for n, _ in pairs], batch_size=self._batch_size))
        except Exception:  # counted as dropped, logged; the API goes on
            log.exception("shadow scoring failed on %d notes", len(pairs))
            self.dropped.inc(len(pairs))
            return
        self.scored.inc(len(pairs))
        found = [Disagreement(n, v, s) for (n, v), s in zip(pairs, shadow, strict=True) if v.label != s.label]
        for d in found:
            self.disagreements.labels(d.served.label, d.shadow.label).inc()
        if found and self._record is not None:
            try:
                self._record(found)
            except Exception:  # a store outage must not stop shadow scoring
                log.exception("could not record %d shadow disagreements", len(found))
                self.record_failures.inc(len(found))


def store_recorder(get_store: Callable[[], Any]) -> Record:
    """Disagreements into the review store, for review; ``get_store()`` returns the open
    :class:`serving.store.Store` (or raises while there is none: the batch is then counted in
    ``notecheck_shadow_record_failures_total``).

    Each note gets a queue item whatever the served decision (a second ``Store`` over the same
    engine that queues every decision): the candidate's verdict is stored first (its own model
    version: a second verdict row of the note), then the served one, which the item then shows;
    an item already decided is left alone. An audit entry ``shadow_disagreement`` (actor
    ``shadow``) names the item, both labels and both model versions, so the queue can tell these
    items from the ones the served decision put there. Scoring the served verdict again counts one
    more ``times_seen`` on its row."""
    from serving.store import Store

    def record(found: list[Disagreement]) -> None:
        store = get_store()
        every = Store(store.engine, queue_decisions=("pass", "review", "block"),
                      reviews_required=store.reviews_required, lease_s=store.lease_s,
                      clock=store.clock)
        every.record_verdicts([(d.note, d.shadow) for d in found], source="api")
        recorded = every.record_verdicts([(d.note, d.served) for d in found], source="api")
        for d, r in zip(found, recorded, strict=True):
            every.audit("shadow", "shadow_disagreement", {
                "item_id": r.item_id, "note_id": d.note.id, "note_version": r.version,
                "served": {"label": d.served.label, "decision": d.served.decision,
                           "model_version": d.served.model_version,
                           "policy_version": d.served.policy_version},
                "shadow": {"label": d.shadow.label, "decision": d.shadow.decision,
                           "model_version": d.shadow.model_version,
                           "policy_version": d.shadow.policy_version}})

    return record
