"""The API's side of the review store: one :class:`ReviewService` per app (``service.review``).

It opens the store (``NOTECHECK_DB_URL``, else the SQLite file in ``NOTECHECK_DATA_DIR``) in a
background thread at start, retrying while the database is down, so that the API starts and
``/v1/moderate`` answers whatever the database does. Verdicts are handed to a
:class:`serving.store.buffer.VerdictBuffer` (never waited on; kept in memory, bounded, while the
database is down); the queue routes call :meth:`ReviewService.store`, which raises
:class:`serving.store.StoreUnavailable` (503) until the store is open. Decisions go to the webhook
(:mod:`serving.http.webhook`) when one is configured.

Exposed in ``/metrics``::

    notecheck_store_up                          1 while the last database call succeeded
    notecheck_store_buffer_depth                verdicts waiting in memory for the database
    notecheck_store_buffer_dropped_total        verdicts dropped because the buffer was full
    notecheck_store_verdicts_written_total      verdicts written to the database
    notecheck_store_verdicts_failed_total       verdicts the database refused (logged)
    notecheck_webhook_deliveries_total{outcome} delivered, failed, dropped, retried
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from classifier.types import Note, Verdict
from serving.http.settings import Settings
from serving.http.webhook import Transport, WebhookSender, urllib_transport
from serving.store import (
    DecisionRecord,
    QueueItem,
    Store,
    StoreError,
    StoreUnavailable,
    default_url,
)
from serving.store.buffer import VerdictBuffer

__all__ = ["ReviewService", "decision_payload"]

log = logging.getLogger("notecheck.serving")


class ReviewService:
    """The store, its verdict buffer and the webhook, for one app (see the module docstring)."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None, *,
                 transport: Transport = urllib_transport, retry_s: float = 1.0) -> None:
        self.settings = settings
        self.enabled = settings.store
        self.url = settings.db_url or default_url(settings.data_dir)
        self.retry_s = retry_s
        self._store: Store | None = None
        self._error: str = "the review store is opening"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._opener: threading.Thread | None = None
        self.buffer = VerdictBuffer(self.store, max_items=settings.store_buffer, retry_s=retry_s)
        self.webhook = (WebhookSender(settings.webhook_url, secret=settings.webhook_secret,
                                      retries=settings.webhook_retries, transport=transport)
                        if settings.webhook_url else None)
        if registry is not None:
            registry.register(_StoreCollector(self))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open the store in the background (retrying), start the writer and the webhook."""
        if not self.enabled:
            return
        self.buffer.start()
        if self.webhook is not None:
            self.webhook.start()
        self._opener = threading.Thread(target=self._open_loop, name="notecheck-store-open",
                                        daemon=True)
        self._opener.start()

    def _open_loop(self) -> None:
        s = self.settings
        decisions = ("review", "block") if s.queue_block else ("review",)
        warned = False
        while not self._stop.is_set():
            try:
                store = Store.open(self.url, queue_decisions=decisions,
                                   reviews_required=s.reviews_required, lease_s=s.lease_s)
            except StoreError as exc:
                self._error = f"the review store cannot be opened: {exc}"
                if not warned:
                    log.warning("%s; retrying every %g s", self._error, self.retry_s)
                    warned = True
                self._stop.wait(self.retry_s)
                continue
            with self._lock:
                if self._stop.is_set():  # closed while opening: do not leak it
                    store.close()
                    return
                self._store = store
            log.info("review store open (%s)", store.engine.url.render_as_string(
                hide_password=True))
            return

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if not self.enabled:
            return
        self.buffer.close(timeout)
        if self.webhook is not None:
            self.webhook.close(min(timeout, 2.0))
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    # ------------------------------------------------------------------ use
    def store(self) -> Store:
        """The open store; :class:`StoreUnavailable` while there is none (off, or opening)."""
        if not self.enabled:
            raise StoreUnavailable("the review store is off (NOTECHECK_STORE=false); set it to "
                                   "true, with NOTECHECK_DB_URL or the default SQLite file")
        store = self._store
        if store is None:
            raise StoreUnavailable(self._error + "; retry later")
        return store

    def now(self) -> datetime:
        """The store's clock (UTC now while none is open)."""
        store = self._store
        return store.clock() if store is not None else datetime.now(UTC)

    @property
    def up(self) -> bool:
        return self.enabled and self._store is not None and self.buffer.available

    def offer(self, notes: Sequence[Note], verdicts: Sequence[Verdict], source: str) -> None:
        """Hand verdicts to the writer (never waits on the database)."""
        if self.enabled:
            self.buffer.put(list(zip(notes, verdicts, strict=True)), source)

    def notify(self, decision: DecisionRecord, item: QueueItem | None) -> None:
        """Send the decision to the webhook, when one is configured."""
        if self.webhook is not None:
            self.webhook.send("decision", decision_payload(decision, item))


def decision_payload(decision: DecisionRecord, item: QueueItem | None) -> dict[str, Any]:
    body: dict[str, Any] = {"decision": {
        "id": decision.id, "item_id": decision.item_id, "note_id": decision.note_id,
        "note_version": decision.note_version, "label": decision.label,
        "reviewer": decision.reviewer, "comment": decision.comment,
        "predicted_label": decision.predicted_label,
        "predicted_decision": decision.predicted_decision,
        "decided_at": decision.decided_at.isoformat(), "undone": decision.undone}}
    if item is not None:
        body["item"] = {"id": item.id, "state": item.state, "label": item.label,
                        "decision": item.decision, "rules": list(item.rules),
                        "model_version": item.verdict.get("model_version"),
                        "policy_version": item.verdict.get("policy_version")}
    return body


class _StoreCollector(Collector):
    def __init__(self, review: ReviewService) -> None:
        self.review = review

    def collect(self) -> Iterator[Metric]:
        r = self.review
        up = GaugeMetricFamily("notecheck_store_up", "1 while the review store answers.")
        up.add_metric([], 1.0 if r.up else 0.0)
        depth = GaugeMetricFamily("notecheck_store_buffer_depth",
                                  "Verdicts waiting in memory for the database.")
        depth.add_metric([], float(r.buffer.depth()))
        yield up
        yield depth
        for name, doc, value in (
                ("notecheck_store_buffer_dropped", "Verdicts dropped: the buffer was full.",
                 r.buffer.dropped),
                ("notecheck_store_verdicts_written", "Verdicts written to the database.",
                 r.buffer.written),
                ("notecheck_store_verdicts_failed", "Verdicts the database refused.",
                 r.buffer.failed)):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], float(value))
            yield family
        hooks = CounterMetricFamily("notecheck_webhook_deliveries",
                                    "Decision webhook deliveries by outcome.", labels=["outcome"])
        if r.webhook is not None:
            for outcome, n in sorted(r.webhook.outcomes.items()):
                hooks.add_metric([outcome], float(n))
        yield hooks
