"""The tables, as SQLAlchemy Core metadata (the migrations in ``migrations/versions`` build the
same schema; ``tests/unit/test_store_migrations.py`` checks that they agree).

=============  =================================================================================
table          holds
=============  =================================================================================
notes          one row per version of a note: ``note_id``, ``version`` (1, 2 ...), the SHA-256
               ``content_hash`` of its canonical JSON and that JSON (``note``); the same id and
               content is the same row, a changed content a new version
verdicts       every verdict on a note version: label, decision, scores, model scores, reasons,
               model and policy versions, ``source`` (api, batch, upload), first and last time
               seen; one row per (note version, model version, policy version): scoring the same
               note again updates it
verdict_rules  the rule ids of a verdict's reasons (the queue's ``rule`` filter, override rates)
queue_items    one per note version that entered the queue: the verdict it came with, ``state``
               (open, decided, superseded), ``claimed_by`` and ``lease_until``
decisions      a reviewer's label for an item (or, ``item_id`` null, a console correction):
               label, reviewer, comment, time, the verdict's label and decision, ``undone``
audit_log      append-only: ``at``, ``actor``, ``action``, ``details`` (JSON)
=============  =================================================================================

Times are timezone-aware UTC (:class:`UTCDateTime` stores them naive in UTC on SQLite).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

__all__ = ["METADATA", "UTCDateTime", "audit_log", "decisions", "notes", "queue_items",
           "verdict_rules", "verdicts"]

# BigInteger primary keys stay INTEGER on SQLite (so they remain rowid aliases).
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (naive UTC on SQLite, which has no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime {value!r} was given; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


METADATA = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

notes = Table(
    "notes", METADATA,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("note_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("note", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("note_id", "content_hash"),
    UniqueConstraint("note_id", "version"),
)

verdicts = Table(
    "verdicts", METADATA,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("note_pk", Id, ForeignKey("notes.id"), nullable=False),
    Column("label", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("scores", JSON, nullable=False),
    Column("model_scores", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("policy_version", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("times_seen", Integer, nullable=False, default=1),
    UniqueConstraint("note_pk", "model_version", "policy_version"),
)

verdict_rules = Table(
    "verdict_rules", METADATA,
    Column("verdict_id", Id, ForeignKey("verdicts.id", ondelete="CASCADE"), primary_key=True),
    Column("rule", String(100), primary_key=True),
    Index(None, "rule"),
)

queue_items = Table(
    "queue_items", METADATA,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("note_pk", Id, ForeignKey("notes.id"), nullable=False, unique=True),
    Column("note_id", String(200), nullable=False, index=True),
    Column("verdict_id", Id, ForeignKey("verdicts.id"), nullable=False),
    Column("label", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reviews_required", Integer, nullable=False, default=1),
    Column("reviews_done", Integer, nullable=False, default=0),
    Column("claimed_by", String(100)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime),
)

decisions = Table(
    "decisions", METADATA,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("item_id", Id, ForeignKey("queue_items.id"), index=True),
    Column("note_pk", Id, ForeignKey("notes.id"), nullable=False, index=True),
    Column("verdict_id", Id, ForeignKey("verdicts.id")),
    Column("label", String(32), nullable=False),
    Column("reviewer", String(100), nullable=False),
    Column("comment", Text),
    Column("predicted_label", String(32)),
    Column("predicted_decision", String(16)),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("undone", Boolean, nullable=False, default=False),
    Column("undone_at", UTCDateTime),
    Index(None, "reviewer", "id"),
)

# revision 0002 adds the audit log and the indexes the queue listing and the stats read by
audit_log = Table(
    "audit_log", METADATA,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("details", JSON, nullable=False),
)
Index(None, queue_items.c.state, queue_items.c.id)
Index(None, decisions.c.decided_at)
# revision 0003: the index the open items' age percentiles read by
Index(None, queue_items.c.state, queue_items.c.created_at)
