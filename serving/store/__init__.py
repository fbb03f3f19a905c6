"""The review store: notes, verdicts, the review queue, decisions and the audit log on SQLite
(a file, the default: nothing to set up) or PostgreSQL (several API replicas share one queue).

Open it::

    from serving.store import Store, QueueFilter
    store = Store.open("sqlite:///.notecheck/notecheck.db")     # or postgresql+psycopg://u@h/db
    # migrates to the newest revision (Alembic, shipped in serving/store/migrations)

``Store.open(url, *, migrate=True, queue_decisions=("review",), reviews_required=1,
lease_s=300.0, clock=...)``. ``queue_decisions``: which verdict decisions enter the queue
(``("review", "block")`` to review blocks too); ``reviews_required``: decisions by different
reviewers before an item leaves the queue (2 gives the agreement figure); ``lease_s``: how long
a claim lasts. ``default_url(data_dir)`` is the SQLite file ``<data_dir>/notecheck.db``.

Verdicts in
    ``record_verdicts([(note, verdict), ...], source="api"|"batch"|"upload") -> [Recorded]``:
    idempotent. The same note id and content is one ``notes`` row (a changed content is a new
    version, and an older version still waiting in the queue is superseded); the same note under
    the same model and policy versions is one ``verdicts`` row (updated, ``times_seen`` + 1).
    Verdicts whose decision is in ``queue_decisions`` get a queue item (one per note version).

The queue
    ``list_queue(QueueFilter(label, rule, decision, min_age_s, max_age_s, claimed, state),
    limit=50, cursor=None) -> QueuePage(items, next_cursor)``: oldest first; ``next_cursor``
    is opaque (pass it back; ``None`` on the last page).
    ``get_item(item_id) -> QueueItem`` (with the canonical ``note`` and its ``verdict``).
    ``claim(item_id, reviewer, lease_s=None) -> QueueItem``: atomic (a conditional UPDATE whose
    row count is checked; on PostgreSQL ``claim_next`` also takes ``FOR UPDATE SKIP LOCKED``):
    two reviewers never hold one item. Claiming an item one holds renews the lease.
    ``claim_next(reviewer, filters=None) -> QueueItem | None``: the oldest claimable item (one
    the reviewer already holds comes first). ``release(item_id, reviewer)``.

Decisions
    ``decide(item_id, label, reviewer, comment=None) -> DecisionRecord``: the item must be free
    or held by the reviewer; released and ``decided`` once it has ``reviews_required`` decisions.
    ``undo_last(reviewer) -> DecisionRecord``: the reviewer's latest decision is marked
    ``undone`` (kept) and its item reopened, claimed by them.
    ``record_correction(note, label, reviewer, comment=None, verdict=None, ...)``: the console's
    correction form; decides the note's queue item when it waits, else a decision of its own.
    ``decisions_of(reviewer, limit=50)``.

Reading
    ``note_history(note_id) -> NoteHistory`` (versions, each with verdicts, decisions, item).
    ``stats() -> QueueStats``: depth, claimed, age percentiles (``age_s.p50/p90/p99/max``),
    ``decisions_last_hour``, ``decisions_per_hour_24h``, ``override_by_label`` and
    ``override_by_rule`` (:class:`Rate`: n, overridden, rate; the model's label vs the
    reviewer's), ``items_reviewed_twice``, ``items_agreeing``, ``agreement``.
    ``export_labels(since=None) -> ExportResult(records, conflicts)``: per note the latest
    decision not undone wins; each record is the canonical note plus ``label``, ``reviewer``,
    ``at``, versions and ``decision_id`` (``training.data.load_labelled`` reads such a file);
    notes whose decisions disagree are listed in ``conflicts``.

Audit
    ``audit(actor, action, details)`` appends; ``audit_entries(action=None, limit=100)`` reads
    newest first. Claims, decisions, undos and corrections are logged by the store itself.

Errors (:mod:`serving.store.errors`): ``StoreUnavailable`` (database down or locked past the
busy timeout), ``NotFound``, ``Conflict`` (``reason``: claimed, decided, superseded, reviewed),
``InvalidArgument`` (``field`` names it).

Also: :class:`VerdictBuffer` (``serving.store.buffer``) keeps verdicts in a bounded memory buffer
while the database is down and flushes them when it returns.

In the API: ``app.state.service.review`` is a :class:`serving.http.review.ReviewService`;
``review.store()`` is the open :class:`Store` (raises ``StoreUnavailable`` while the database is
down or ``NOTECHECK_STORE=false``), ``review.offer(notes, verdicts, source)`` records verdicts off
the request path. Routes: ``serving/http/routes/queue.py`` (``GET /v1/queue``, ``GET
/v1/queue/stats``, ``POST /v1/queue/next``, ``POST /v1/queue/undo``, ``GET /v1/queue/{id}``,
``POST /v1/queue/{id}/claim|release|decision``, ``GET /v1/notes/{note_id}``). Command line:
``serving.store.cli`` (``notecheck score --db``, ``notecheck export-labels``).
"""

from __future__ import annotations

from pathlib import Path

from serving.store.errors import Conflict, InvalidArgument, NotFound, StoreError, StoreUnavailable
from serving.store.store import DEFAULT_LEASE_S, Store, content_hash
from serving.store.types import (
    AuditEntry,
    DecisionRecord,
    ExportResult,
    NoteHistory,
    QueueFilter,
    QueueItem,
    QueuePage,
    QueueStats,
    Rate,
    Recorded,
)

__all__ = ["DEFAULT_LEASE_S", "AuditEntry", "Conflict", "DecisionRecord", "ExportResult",
           "InvalidArgument", "NotFound", "NoteHistory", "QueueFilter", "QueueItem", "QueuePage",
           "QueueStats", "Rate", "Recorded", "Store", "StoreError", "StoreUnavailable",
           "content_hash", "default_url"]


def default_url(data_dir: Path) -> str:
    """The default database: the SQLite file ``<data_dir>/notecheck.db``."""
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / 'notecheck.db'}"
