"""The :class:`Store`: verdicts in, the review queue, decisions, the audit log (see the package
docstring for the whole interface)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from classifier.model import bytes_sha256
from classifier.types import LABELS, Note, Verdict
from serving.http.feedback import note_record
from serving.store import reports
from serving.store.engine import make_engine, upgrade
from serving.store.errors import Conflict, InvalidArgument, NotFound, StoreError, StoreUnavailable
from serving.store.schema import audit_log, decisions, notes, queue_items, verdict_rules, verdicts
from serving.store.types import (
    SOURCES,
    STATES,
    AuditEntry,
    DecisionRecord,
    ExportResult,
    NoteHistory,
    QueueFilter,
    QueueItem,
    QueuePage,
    QueueStats,
    Recorded,
)

__all__ = ["DEFAULT_LEASE_S", "Store", "content_hash"]

log = logging.getLogger("notecheck.store")

DEFAULT_LEASE_S = 300.0
MAX_PAGE = 500
MAX_AGE_S = 10 * 366 * 86400.0
"""The longest age a queue filter takes (ten years)."""
MAX_LEASE_S = 86400.0
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a canonical note JSON (keys sorted): what makes two scorings the same note."""
    data = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return bytes_sha256(data.encode("utf-8", "surrogatepass"))


class Store:
    """The review store over one database. Build it with :meth:`open`; thread-safe (each call
    takes its own connection from the pool and commits before returning)."""

    def __init__(self, engine: Engine, *, queue_decisions: Iterable[str] = ("review",),
                 reviews_required: int = 1, lease_s: float = DEFAULT_LEASE_S,
                 clock: Clock = _utcnow) -> None:
        wanted = frozenset(queue_decisions)
        if not wanted <= {"pass", "review", "block"}:
            raise InvalidArgument(f"queue_decisions must be among pass, review, block; got "
                                  f"{sorted(wanted)}", field="queue_decisions")
        if reviews_required < 1:
            raise InvalidArgument(f"reviews_required must be >= 1, got {reviews_required}",
                                  field="reviews_required")
        _lease(lease_s)
        self.engine = engine
        self.queue_decisions = wanted
        self.reviews_required = reviews_required
        self.lease_s = lease_s
        self.clock = clock
        self.backend = engine.dialect.name

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, **options: Any) -> Store:
        """Connect to ``url`` and (``migrate``) upgrade its schema to the newest revision.
        ``options`` go to :class:`Store` (``queue_decisions``, ``reviews_required``,
        ``lease_s``, ``clock``). Raises :class:`StoreUnavailable` when it cannot connect."""
        engine = make_engine(url)
        try:
            if migrate:
                with _guard("migrate"):
                    upgrade(engine)
            return cls(engine, **options)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers."""
        with self._read() as conn:
            conn.execute(select(1))

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _guard("write"):
            conn = self.engine.connect()
            try:
                if self.backend == "sqlite":
                    conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with _guard("read"), self.engine.connect() as conn, conn.begin():
            yield conn

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert(table) if self.backend == "postgresql"
                else sqlite.insert(table))

    # ------------------------------------------------------------------ verdicts in
    def record_verdicts(self, scored: Iterable[tuple[Note, Verdict]], *,
                        source: str = "api") -> list[Recorded]:
        """Store each note (a new version when its content changed) and its verdict (scoring
        the same note under the same model and policy again updates the row), and queue the
        verdicts whose decision is in ``queue_decisions``. One transaction for all."""
        if source not in SOURCES:
            raise InvalidArgument(f"source must be one of {', '.join(SOURCES)}, got {source!r}",
                                  field="source")
        pairs = list(scored)
        if not pairs:
            return []
        now = self.clock()
        with self._write() as conn:
            return [self._record_one(conn, note, verdict, source, now) for note, verdict in pairs]

    def _note_row(self, conn: Connection, note: Note, now: datetime) -> tuple[int, int, bool]:
        """(pk, version, new) of the note's content, inserting a new version when needed."""
        record = note_record(note)
        digest = content_hash(record)
        for _ in range(8):  # concurrent writers of other versions: take the next number
            row = conn.execute(select(notes.c.id, notes.c.version).where(
                notes.c.note_id == note.id, notes.c.content_hash == digest)).first()
            if row is not None:
                return int(row.id), int(row.version), False
            last = conn.execute(select(func.max(notes.c.version)).where(
                notes.c.note_id == note.id)).scalar()
            version = int(last or 0) + 1
            stmt = self._insert(notes).values(note_id=note.id, version=version,
                                              content_hash=digest, note=record, created_at=now)
            pk = conn.execute(stmt.on_conflict_do_nothing().returning(notes.c.id)).scalar()
            if pk is not None:
                return int(pk), version, True
        raise StoreError(f"could not store a new version of note {note.id!r}: other writers "
                         "kept taking the version number; retry")

    def _record_one(self, conn: Connection, note: Note, verdict: Verdict, source: str,
                    now: datetime) -> Recorded:
        if verdict.id != note.id:
            raise InvalidArgument(f"the verdict is for note {verdict.id!r}, not {note.id!r}",
                                  field="verdict.id")
        note_pk, version, new_version = self._note_row(conn, note, now)
        data = verdict.to_dict()
        values = {"label": verdict.label, "decision": verdict.decision, "scores": data["scores"],
                      "model_scores": data["model_scores"], "reasons": data["reasons"],
                      "source": source, "updated_at": now}
        stmt = self._insert(verdicts).values(
            note_pk=note_pk, model_version=verdict.model_version,
            policy_version=verdict.policy_version, created_at=now, times_seen=1, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[verdicts.c.note_pk, verdicts.c.model_version,
                            verdicts.c.policy_version],
            set_={**values, "times_seen": verdicts.c.times_seen + 1})
        verdict_id = int(conn.execute(stmt.returning(verdicts.c.id)).scalar_one())
        conn.execute(delete(verdict_rules).where(verdict_rules.c.verdict_id == verdict_id))
        rules = sorted({r.rule for r in verdict.reasons})
        if rules:
            conn.execute(insert(verdict_rules), [{"verdict_id": verdict_id, "rule": r}
                                                 for r in rules])
        item_id, enqueued = self._enqueue(conn, note, note_pk, verdict, verdict_id, now)
        return Recorded(note_id=note.id, version=version, new_version=new_version,
                        verdict_id=verdict_id, item_id=item_id, enqueued=enqueued)

    def _enqueue(self, conn: Connection, note: Note, note_pk: int, verdict: Verdict,
                 verdict_id: int, now: datetime) -> tuple[int | None, bool]:
        current = conn.execute(select(queue_items.c.id, queue_items.c.state).where(
            queue_items.c.note_pk == note_pk)).first()
        if current is not None:
            if current.state == "open" and verdict.decision in self.queue_decisions:
                conn.execute(update(queue_items).where(queue_items.c.id == current.id).values(
                    verdict_id=verdict_id, label=verdict.label, decision=verdict.decision))
            return int(current.id), False
        if verdict.decision not in self.queue_decisions:
            return None, False
        stmt = self._insert(queue_items).values(
            note_pk=note_pk, note_id=note.id, verdict_id=verdict_id, label=verdict.label,
            decision=verdict.decision, state="open", reviews_required=self.reviews_required,
            reviews_done=0, created_at=now)
        item_id = conn.execute(stmt.on_conflict_do_nothing().returning(queue_items.c.id)).scalar()
        if item_id is None:  # queued by a concurrent writer
            item_id = conn.execute(select(queue_items.c.id).where(
                queue_items.c.note_pk == note_pk)).scalar_one()
            return int(item_id), False
        # an older version still waiting is superseded by this one
        conn.execute(update(queue_items).where(
            queue_items.c.note_id == note.id, queue_items.c.note_pk != note_pk,
            queue_items.c.state == "open").values(state="superseded", claimed_by=None,
                                                   lease_until=None))
        return int(item_id), True

    # ------------------------------------------------------------------ the queue
    def list_queue(self, filters: QueueFilter | None = None, *, limit: int = 50,
                   cursor: str | None = None) -> QueuePage:
        """Items matching ``filters``, oldest first, ``limit`` at a time; pass the page's
        ``next_cursor`` back for the next page (``None``: no more)."""
        f = filters or QueueFilter()
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit must be 1-{MAX_PAGE}, got {limit}", field="limit")
        if f.state not in (*STATES, "all"):
            raise InvalidArgument(f"state must be one of {', '.join(STATES)} or all, got "
                                  f"{f.state!r}", field="state")
        for name in ("min_age_s", "max_age_s"):
            value = getattr(f, name)
            if value is not None and not 0 <= value <= MAX_AGE_S:
                raise InvalidArgument(f"{name} must be 0-{MAX_AGE_S:g} seconds, got {value!r}",
                                      field=name)
        after = decode_cursor(cursor) if cursor else 0
        now = self.clock()
        q = self._item_select().where(queue_items.c.id > after)
        q = q.where(*self._filter_clauses(f, now)).order_by(queue_items.c.id).limit(limit + 1)
        with self._read() as conn:
            items = self._items(conn, q)
        more = len(items) > limit
        items = items[:limit]
        return QueuePage(items, encode_cursor(items[-1].id) if more and items else None)

    def _filter_clauses(self, f: QueueFilter, now: datetime) -> list[Any]:
        clauses: list[Any] = []
        if f.state != "all":
            clauses.append(queue_items.c.state == f.state)
        if f.label is not None:
            clauses.append(queue_items.c.label == f.label)
        if f.decision is not None:
            clauses.append(queue_items.c.decision == f.decision)
        if f.rule is not None:
            clauses.append(exists().where(verdict_rules.c.verdict_id == queue_items.c.verdict_id,
                                          verdict_rules.c.rule == f.rule))
        if f.min_age_s is not None:
            clauses.append(queue_items.c.created_at <= now - timedelta(seconds=f.min_age_s))
        if f.max_age_s is not None:
            clauses.append(queue_items.c.created_at >= now - timedelta(seconds=f.max_age_s))
        if f.claimed is True:
            clauses.append(and_(queue_items.c.claimed_by.is_not(None),
                                queue_items.c.lease_until >= now))
        elif f.claimed is False:
            clauses.append(self._free(now))
        return clauses

    @staticmethod
    def _free(now: datetime) -> Any:
        return or_(queue_items.c.claimed_by.is_(None), queue_items.c.lease_until < now)

    @staticmethod
    def _item_select() -> Select[Any]:
        return (select(queue_items, notes.c.version.label("note_version"),
                       notes.c.note.label("note_json"),
                       *[verdicts.c[k].label("v_" + k) for k in (
                           "label", "decision", "scores", "model_scores", "reasons",
                           "model_version", "policy_version")])
                .join(notes, notes.c.id == queue_items.c.note_pk)
                .join(verdicts, verdicts.c.id == queue_items.c.verdict_id))

    @staticmethod
    def _items(conn: Connection, q: Select[Any]) -> list[QueueItem]:
        rows = conn.execute(q).all()
        ids = {int(r.verdict_id) for r in rows}
        rules: dict[int, list[str]] = {}
        if ids:
            for vid, rule in conn.execute(select(verdict_rules.c.verdict_id, verdict_rules.c.rule)
                                          .where(verdict_rules.c.verdict_id.in_(ids))
                                          .order_by(verdict_rules.c.rule)):
                rules.setdefault(int(vid), []).append(str(rule))
        return [reports.item_of(r, tuple(rules.get(int(r.verdict_id), ()))) for r in rows]

    def get_item(self, item_id: int) -> QueueItem:
        """One item (any state); :class:`NotFound` when there is none."""
        with self._read() as conn:
            items = self._items(conn, self._item_select().where(queue_items.c.id == item_id))
        if not items:
            raise NotFound(f"no queue item {item_id}", field="item_id")
        return items[0]

    def _claimable(self, reviewer: str, now: datetime) -> Any:
        already = exists().where(decisions.c.item_id == queue_items.c.id,
                                 decisions.c.reviewer == reviewer, not_(decisions.c.undone))
        return and_(queue_items.c.state == "open",
                    or_(self._free(now), queue_items.c.claimed_by == reviewer), not_(already))

    def claim(self, item_id: int, reviewer: str, *, lease_s: float | None = None) -> QueueItem:
        """Give ``reviewer`` the item for ``lease_s`` seconds (renewed when they hold it already).
        Atomic: one conditional UPDATE, so two reviewers never hold one item; raises
        :class:`Conflict` (``reason``: claimed, decided, superseded, reviewed) or
        :class:`NotFound`."""
        reviewer = _reviewer(reviewer)
        now = self.clock()
        until = now + timedelta(seconds=_lease(lease_s or self.lease_s))
        with self._write() as conn:
            done = conn.execute(update(queue_items).where(
                queue_items.c.id == item_id, self._claimable(reviewer, now)).values(
                claimed_by=reviewer, lease_until=until)).rowcount
            if done != 1:
                self._why_not(conn, item_id, reviewer, now)
            self._audit(conn, now, reviewer, "claim", {"item_id": item_id,
                                                       "lease_until": until.isoformat()})
        return self.get_item(item_id)

    def claim_next(self, reviewer: str, filters: QueueFilter | None = None, *,
                   lease_s: float | None = None) -> QueueItem | None:
        """Claim the oldest free item matching ``filters`` (``None``: nothing to claim). On
        PostgreSQL the candidate is locked with ``FOR UPDATE SKIP LOCKED`` (reviewers never
        wait on each other); on SQLite the write transaction holds the database lock."""
        reviewer = _reviewer(reviewer)
        f = filters or QueueFilter()
        now = self.clock()
        until = now + timedelta(seconds=_lease(lease_s or self.lease_s))
        with self._write() as conn:
            q = (select(queue_items.c.id).where(self._claimable(reviewer, now),
                                                *self._filter_clauses(f, now))
                 .order_by(queue_items.c.id).limit(1))
            if self.backend == "postgresql":
                q = q.with_for_update(skip_locked=True, of=queue_items)
            item_id = conn.execute(q).scalar()
            if item_id is None:
                return None
            done = conn.execute(update(queue_items).where(
                queue_items.c.id == item_id, self._claimable(reviewer, now)).values(
                claimed_by=reviewer, lease_until=until)).rowcount
            if done != 1:
                return None
            self._audit(conn, now, reviewer, "claim", {"item_id": int(item_id),
                                                       "lease_until": until.isoformat()})
        return self.get_item(int(item_id))

    def release(self, item_id: int, reviewer: str) -> None:
        """Give a claimed item back before its lease runs out."""
        with self._write() as conn:
            conn.execute(update(queue_items).where(
                queue_items.c.id == item_id, queue_items.c.claimed_by == reviewer).values(
                claimed_by=None, lease_until=None))

    def _why_not(self, conn: Connection, item_id: int, reviewer: str, now: datetime) -> None:
        row = conn.execute(select(queue_items).where(queue_items.c.id == item_id)).first()
        if row is None:
            raise NotFound(f"no queue item {item_id}", field="item_id")
        if row.state != "open":
            raise Conflict(f"item {item_id} is {row.state}; it cannot be claimed or decided",
                           reason=row.state)
        mine = conn.execute(select(func.count()).select_from(decisions).where(
            decisions.c.item_id == item_id, decisions.c.reviewer == reviewer,
            not_(decisions.c.undone))).scalar_one()
        if mine:
            raise Conflict(f"{reviewer} already decided item {item_id}; another reviewer must "
                           "give the second decision", reason="reviewed")
        lease = row.lease_until
        lease = lease.replace(tzinfo=UTC) if lease is not None and lease.tzinfo is None else lease
        raise Conflict(f"item {item_id} is claimed by {row.claimed_by} until "
                       f"{lease.isoformat() if lease else '?'}; claim another item",
                       reason="claimed", claimed_by=row.claimed_by, lease_until=lease)

    # ------------------------------------------------------------------ decisions
    def decide(self, item_id: int, label: str, reviewer: str,
               comment: str | None = None) -> DecisionRecord:
        """Record ``reviewer``'s ``label`` for the item (one they hold, or a free one: it is
        claimed and decided at once). The item is decided once it has ``reviews_required``
        decisions from different reviewers; its lease is released. Raises :class:`Conflict`
        when another reviewer holds it, or it is no longer open."""
        reviewer = _reviewer(reviewer)
        _label(label)
        now = self.clock()
        with self._write() as conn:
            done = conn.execute(update(queue_items).where(
                queue_items.c.id == item_id, self._claimable(reviewer, now)).values(
                reviews_done=queue_items.c.reviews_done + 1, claimed_by=None, lease_until=None,
                state=_case_decided(), decided_at=now)).rowcount
            if done != 1:
                self._why_not(conn, item_id, reviewer, now)
            item = conn.execute(select(queue_items).where(queue_items.c.id == item_id)).one()
            if item.state == "open":  # more reviews to come: it is decided only when complete
                conn.execute(update(queue_items).where(queue_items.c.id == item_id)
                             .values(decided_at=None))
            decision_id = conn.execute(insert(decisions).values(
                item_id=item_id, note_pk=item.note_pk, verdict_id=item.verdict_id, label=label,
                reviewer=reviewer, comment=comment, predicted_label=item.label,
                predicted_decision=item.decision, decided_at=now, undone=False)
                .returning(decisions.c.id)).scalar_one()
            self._audit(conn, now, reviewer, "decide", {
                "item_id": item_id, "decision_id": int(decision_id), "note_id": item.note_id,
                "label": label, "predicted_label": item.label, "comment": comment})
            return reports.decision_by_id(conn, int(decision_id))

    def undo_last(self, reviewer: str) -> DecisionRecord:
        """Undo ``reviewer``'s latest decision (not undone yet): it is kept, marked ``undone``,
        and its item goes back to the queue, claimed by the same reviewer. :class:`NotFound`
        when they have none."""
        reviewer = _reviewer(reviewer)
        now = self.clock()
        with self._write() as conn:
            row = conn.execute(select(decisions.c.id, decisions.c.item_id).where(
                decisions.c.reviewer == reviewer, not_(decisions.c.undone))
                .order_by(decisions.c.id.desc()).limit(1)).first()
            if row is None:
                raise NotFound(f"{reviewer} has no decision to undo", field="reviewer")
            done = conn.execute(update(decisions).where(
                decisions.c.id == row.id, not_(decisions.c.undone)).values(
                undone=True, undone_at=now)).rowcount
            if done != 1:
                raise Conflict("that decision was undone meanwhile; reload", reason="undone")
            if row.item_id is not None:
                conn.execute(update(queue_items).where(
                    queue_items.c.id == row.item_id, queue_items.c.state.in_(("open", "decided")))
                    .values(reviews_done=queue_items.c.reviews_done - 1, state="open",
                            decided_at=None, claimed_by=reviewer,
                            lease_until=now + timedelta(seconds=self.lease_s)))
            self._audit(conn, now, reviewer, "undo", {"decision_id": int(row.id),
                                                      "item_id": row.item_id})
            return reports.decision_by_id(conn, int(row.id))

    def record_correction(self, note: Note, label: str, reviewer: str, *,
                          comment: str | None = None, verdict: Verdict | None = None,
                          predicted_label: str | None = None,
                          predicted_decision: str | None = None,
                          source: str = "upload") -> DecisionRecord:
        """A correction from the console's form: the note (stored as a version) with the
        reviewer's label. With ``verdict`` it is recorded too. When the note version waits in
        the queue and the reviewer may decide it, the correction decides that item."""
        reviewer = _reviewer(reviewer)
        _label(label)
        now = self.clock()
        with self._write() as conn:
            if verdict is not None:
                rec = self._record_one(conn, note, verdict, source, now)
                note_pk = conn.execute(select(notes.c.id).where(
                    notes.c.note_id == note.id, notes.c.version == rec.version)).scalar_one()
                verdict_id: int | None = rec.verdict_id
                predicted_label = predicted_label or verdict.label
                predicted_decision = predicted_decision or verdict.decision
            else:
                note_pk, _, _ = self._note_row(conn, note, now)
                verdict_id = None
            item = conn.execute(select(queue_items.c.id).where(
                queue_items.c.note_pk == note_pk, self._claimable(reviewer, now))).scalar()
        if item is not None:
            try:
                return self.decide(int(item), label, reviewer, comment)
            except Conflict:
                pass  # taken meanwhile: record the correction on its own
        with self._write() as conn:
            decision_id = conn.execute(insert(decisions).values(
                item_id=None, note_pk=note_pk, verdict_id=verdict_id, label=label,
                reviewer=reviewer, comment=comment, predicted_label=predicted_label,
                predicted_decision=predicted_decision, decided_at=now, undone=False)
                .returning(decisions.c.id)).scalar_one()
            self._audit(conn, now, reviewer, "correct", {
                "decision_id": int(decision_id), "note_id": note.id, "label": label,
                "predicted_label": predicted_label, "comment": comment})
            return reports.decision_by_id(conn, int(decision_id))

    # ------------------------------------------------------------------ reading
    def note_history(self, note_id: str) -> NoteHistory:
        """Every version of the note with its verdicts, decisions and queue item;
        :class:`NotFound` when the note was never stored."""
        with self._read() as conn:
            history = reports.note_history(conn, note_id, lambda c, pks: self._items(
                c, self._item_select().where(queue_items.c.note_pk.in_(pks))))
        if history is None:
            raise NotFound(f"no note {note_id!r} in the store", field="note_id")
        return history

    def stats(self) -> QueueStats:
        """Depth, age percentiles, decisions per hour, override rates, agreement."""
        now = self.clock()
        with self._read() as conn:
            return reports.stats(conn, now)

    def export_labels(self, since: datetime | None = None) -> ExportResult:
        """The labelled notes for training: per note, its latest decision not undone (made at
        or after ``since``) wins; notes with disagreeing decisions are listed."""
        with self._read() as conn:
            return reports.export_labels(conn, since)

    def decisions_of(self, reviewer: str, limit: int = 50) -> list[DecisionRecord]:
        """The reviewer's latest decisions, newest first."""
        with self._read() as conn:
            return reports.decisions_of(conn, reviewer, limit)

    # ------------------------------------------------------------------ audit
    def audit(self, actor: str, action: str, details: dict[str, Any] | None = None) -> None:
        """Append one entry to the audit log (never updated, never deleted)."""
        with self._write() as conn:
            self._audit(conn, self.clock(), actor, action, details or {})

    @staticmethod
    def _audit(conn: Connection, at: datetime, actor: str, action: str,
               details: dict[str, Any]) -> None:
        conn.execute(insert(audit_log).values(at=at, actor=actor[:100], action=action[:64],
                                              details=details))

    def audit_entries(self, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest entries, newest first (``action`` filters)."""
        with self._read() as conn:
            return reports.audit_entries(conn, action, limit)


# ----------------------------------------------------------------------------- helpers


def _case_decided() -> Any:
    return case((queue_items.c.reviews_done + 1 >= queue_items.c.reviews_required, "decided"),
                else_="open")


def _reviewer(reviewer: str) -> str:
    name = (reviewer or "").strip()
    if not name or len(name) > 100:
        raise InvalidArgument(f"reviewer must be 1-100 characters, got {reviewer!r}",
                              field="reviewer")
    return name


def _lease(seconds: float) -> float:
    if not 0 < seconds <= MAX_LEASE_S:
        raise InvalidArgument(f"lease_s must be 0-{MAX_LEASE_S:g} seconds, got {seconds!r}",
                              field="lease_s")
    return seconds


def _label(label: str) -> None:
    if label not in LABELS:
        raise InvalidArgument(f"label must be one of {', '.join(LABELS)}, got {label!r}",
                              field="label")


def encode_cursor(item_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "after" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(f"the cursor {cursor[:40]!r} is not one this API gave; pass "
                              "next_cursor from the previous page, or none for the first",
                              field="cursor") from None


@contextmanager
def _guard(what: str) -> Iterator[None]:
    """Database failures as the store's errors: unreachable or locked -> StoreUnavailable."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
            sa_exc.DisconnectionError) as exc:
        raise StoreUnavailable(f"the database is unavailable ({what}): "
                               f"{_short(exc)}; retry later") from exc
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"the database connection was lost ({what}); retry") from exc
        raise StoreError(f"database error ({what}): {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


