"""What the store returns: frozen dataclasses (the HTTP layer turns them into schemas)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "AgeStats",
    "AuditEntry",
    "Conflicting",
    "DecisionRecord",
    "ExportResult",
    "NoteHistory",
    "NoteVersion",
    "QueueFilter",
    "QueueItem",
    "QueuePage",
    "QueueStats",
    "Rate",
    "Recorded",
    "VerdictRecord",
]

Source = Literal["api", "batch", "upload"]
SOURCES: tuple[str, ...] = ("api", "batch", "upload")
ItemState = Literal["open", "decided", "superseded"]
STATES: tuple[str, ...] = ("open", "decided", "superseded")


@dataclass(frozen=True)
class Recorded:
    """What :meth:`Store.record_verdicts` did with one verdict: the note's ``version`` (``new_version``
    when its content was not stored yet), the verdict row, and the queue item (``None``: not
    queued) with ``enqueued`` true when this call created it."""

    note_id: str
    version: int
    new_version: bool
    verdict_id: int
    item_id: int | None
    enqueued: bool


@dataclass(frozen=True)
class QueueFilter:
    """Filters of :meth:`Store.list_queue`; ``None`` means any. ``min_age_s``/``max_age_s``:
    seconds since the item entered the queue; ``claimed``: held under a live lease (True) or
    free (False); ``state``: ``open`` by default, ``decided``, ``superseded`` or ``all``."""

    label: str | None = None
    rule: str | None = None
    decision: str | None = None
    min_age_s: float | None = None
    max_age_s: float | None = None
    claimed: bool | None = None
    state: str = "open"


@dataclass(frozen=True)
class QueueItem:
    """One queue item with its note (canonical JSON) and the verdict that put it there."""

    id: int
    note_id: str
    note_version: int
    state: str
    label: str
    decision: str
    rules: tuple[str, ...]
    claimed_by: str | None
    lease_until: datetime | None
    created_at: datetime
    decided_at: datetime | None
    reviews_required: int
    reviews_done: int
    verdict_id: int
    note: dict[str, Any]
    verdict: dict[str, Any]

    def claimed(self, now: datetime) -> bool:
        """Held by a reviewer whose lease has not run out at ``now``."""
        return self.claimed_by is not None and self.lease_until is not None \
            and self.lease_until >= now


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: str | None


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    item_id: int | None
    note_id: str
    note_version: int
    label: str
    reviewer: str
    comment: str | None
    predicted_label: str | None
    predicted_decision: str | None
    decided_at: datetime
    undone: bool
    undone_at: datetime | None


@dataclass(frozen=True)
class VerdictRecord:
    """A stored verdict: every field of :class:`classifier.types.Verdict` (``verdict``, its JSON
    form) plus where and when it was seen."""

    id: int
    source: str
    created_at: datetime
    updated_at: datetime
    times_seen: int
    verdict: dict[str, Any]


@dataclass(frozen=True)
class NoteVersion:
    version: int
    content_hash: str
    created_at: datetime
    note: dict[str, Any]
    verdicts: list[VerdictRecord]
    decisions: list[DecisionRecord]
    item: QueueItem | None


@dataclass(frozen=True)
class NoteHistory:
    """Every stored version of a note, oldest first, each with its verdicts and decisions."""

    note_id: str
    versions: list[NoteVersion]


@dataclass(frozen=True)
class Rate:
    """``overridden`` of ``n`` decisions changed the model's label; ``rate`` = their share."""

    n: int
    overridden: int

    @property
    def rate(self) -> float | None:
        return self.overridden / self.n if self.n else None


@dataclass(frozen=True)
class AgeStats:
    """Seconds that open items have waited: percentiles over every open item."""

    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class QueueStats:
    depth: int
    claimed: int
    age_s: AgeStats
    decisions_last_hour: int
    decisions_per_hour_24h: float
    override_by_label: dict[str, Rate]
    override_by_rule: dict[str, Rate]
    items_reviewed_twice: int
    items_agreeing: int
    at: datetime

    @property
    def agreement(self) -> float | None:
        """Share of items decided by two or more reviewers on which they all agree."""
        return self.items_agreeing / self.items_reviewed_twice if self.items_reviewed_twice \
            else None


@dataclass(frozen=True)
class Conflicting:
    """A note whose (not undone) decisions disagree: each ``(reviewer, label, at)``, and the
    label exported (the latest)."""

    note_id: str
    chosen: str
    decisions: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ExportResult:
    """Labelled notes (canonical note + ``label`` + review fields: what ``notecheck train
    --data`` reads) and the notes whose decisions conflict."""

    records: list[dict[str, Any]]
    conflicts: list[Conflicting]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]
