"""Reading the store: rows to dataclasses, a note's history, the queue's statistics, the
labelled export and the audit log. Functions of an open connection (the :class:`Store` holds the
transaction)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, case, func, not_, select

from serving.store.schema import audit_log, decisions, notes, queue_items, verdict_rules, verdicts
from serving.store.types import (
    AgeStats,
    AuditEntry,
    Conflicting,
    DecisionRecord,
    ExportResult,
    NoteHistory,
    NoteVersion,
    QueueItem,
    QueueStats,
    Rate,
    VerdictRecord,
)

__all__ = ["audit_entries", "decision_by_id", "decisions_of", "export_labels", "item_of",
           "note_history", "percentile", "stats"]

ItemsOf = Callable[[Connection, list[int]], list[QueueItem]]
"""The queue items of some note rows (by primary key)."""


def item_of(r: Row[Any], rules: tuple[str, ...]) -> QueueItem:
    """A row of ``Store._item_select`` as a :class:`QueueItem`."""
    verdict = {"id": r.note_id, "label": r.v_label, "decision": r.v_decision,
               "scores": r.v_scores, "model_scores": r.v_model_scores, "reasons": r.v_reasons,
               "model_version": r.v_model_version, "policy_version": r.v_policy_version}
    return QueueItem(id=int(r.id), note_id=r.note_id, note_version=int(r.note_version),
                     state=r.state, label=r.label, decision=r.decision, rules=rules,
                     claimed_by=r.claimed_by, lease_until=r.lease_until,
                     created_at=r.created_at, decided_at=r.decided_at,
                     reviews_required=int(r.reviews_required), reviews_done=int(r.reviews_done),
                     verdict_id=int(r.verdict_id), note=dict(r.note_json), verdict=verdict)


def _decision_select() -> Select[Any]:
    return (select(decisions, notes.c.note_id, notes.c.version.label("note_version"))
            .join(notes, notes.c.id == decisions.c.note_pk))


def _decision(r: Row[Any]) -> DecisionRecord:
    return DecisionRecord(id=int(r.id), item_id=None if r.item_id is None else int(r.item_id),
                          note_id=r.note_id, note_version=int(r.note_version), label=r.label,
                          reviewer=r.reviewer, comment=r.comment,
                          predicted_label=r.predicted_label,
                          predicted_decision=r.predicted_decision, decided_at=r.decided_at,
                          undone=bool(r.undone), undone_at=r.undone_at)


def decision_by_id(conn: Connection, decision_id: int) -> DecisionRecord:
    return _decision(conn.execute(_decision_select().where(decisions.c.id == decision_id)).one())


def decisions_of(conn: Connection, reviewer: str, limit: int) -> list[DecisionRecord]:
    rows = conn.execute(_decision_select().where(decisions.c.reviewer == reviewer)
                        .order_by(decisions.c.id.desc()).limit(limit)).all()
    return [_decision(r) for r in rows]


def note_history(conn: Connection, note_id: str, items_of: ItemsOf) -> NoteHistory | None:
    versions = conn.execute(select(notes).where(notes.c.note_id == note_id)
                            .order_by(notes.c.version)).all()
    if not versions:
        return None
    pks = [int(v.id) for v in versions]
    by_note: dict[int, list[VerdictRecord]] = defaultdict(list)
    for v in conn.execute(select(verdicts).where(verdicts.c.note_pk.in_(pks))
                          .order_by(verdicts.c.id)):
        by_note[int(v.note_pk)].append(VerdictRecord(
            id=int(v.id), source=v.source, created_at=v.created_at, updated_at=v.updated_at,
            times_seen=int(v.times_seen), verdict={
                "id": note_id, "label": v.label, "scores": v.scores, "decision": v.decision,
                "reasons": v.reasons, "model_version": v.model_version,
                "policy_version": v.policy_version, "model_scores": v.model_scores}))
    made: dict[int, list[DecisionRecord]] = defaultdict(list)
    for d in conn.execute(_decision_select().where(decisions.c.note_pk.in_(pks))
                          .order_by(decisions.c.id)):
        made[int(d.note_pk)].append(_decision(d))
    items = {i.note_version: i for i in items_of(conn, pks)}
    return NoteHistory(note_id, [NoteVersion(
        version=int(v.version), content_hash=v.content_hash, created_at=v.created_at,
        note=dict(v.note), verdicts=by_note[int(v.id)], decisions=made[int(v.id)],
        item=items.get(int(v.version))) for v in versions])


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values`` by linear interpolation (numpy's default);
    ``None`` when empty."""
    import numpy as np

    return float(np.quantile(values, q)) if values else None


def open_ages(conn: Connection, now: datetime, depth: int) -> AgeStats:
    """Age percentiles of the ``depth`` open items as :func:`percentile` computes them (linear
    interpolation), reading only the two items around each percentile's position (newest first,
    ages ascending) and the oldest, never every open item."""
    if depth == 0:
        return AgeStats(None, None, None, None)
    is_open = queue_items.c.state == "open"

    def age_at(q: float) -> float:
        pos = q * (depth - 1)
        lo = int(pos)
        rows = conn.execute(select(queue_items.c.created_at).where(is_open)
                            .order_by(queue_items.c.created_at.desc(), queue_items.c.id)
                            .offset(lo).limit(2)).scalars().all()
        ages = [float((now - at).total_seconds()) for at in rows]
        return ages[0] if pos == lo or len(ages) < 2 else ages[0] + (ages[1] - ages[0]) * (pos - lo)

    oldest = conn.execute(select(func.min(queue_items.c.created_at)).where(is_open)).scalar_one()
    return AgeStats(age_at(0.5), age_at(0.9), age_at(0.99), (now - oldest).total_seconds())


def stats(conn: Connection, now: datetime) -> QueueStats:
    is_open = queue_items.c.state == "open"
    depth, claimed = conn.execute(select(
        func.count(),
        func.coalesce(func.sum(case((and_(queue_items.c.claimed_by.is_not(None),
                                          queue_items.c.lease_until >= now), 1), else_=0)), 0),
    ).where(is_open)).one()
    live = not_(decisions.c.undone)
    last_hour = conn.execute(select(func.count()).select_from(decisions).where(
        live, decisions.c.decided_at >= now - timedelta(hours=1))).scalar_one()
    last_day = conn.execute(select(func.count()).select_from(decisions).where(
        live, decisions.c.decided_at >= now - timedelta(hours=24))).scalar_one()
    changed = func.sum(case((decisions.c.label != decisions.c.predicted_label, 1), else_=0))
    judged = and_(live, decisions.c.predicted_label.is_not(None))
    by_label = {str(lab): Rate(int(n), int(o or 0)) for lab, n, o in conn.execute(
        select(decisions.c.predicted_label, func.count(), changed).where(judged)
        .group_by(decisions.c.predicted_label))}
    by_rule = {str(rule): Rate(int(n), int(o or 0)) for rule, n, o in conn.execute(
        select(verdict_rules.c.rule, func.count(), changed)
        .join(verdict_rules, verdict_rules.c.verdict_id == decisions.c.verdict_id)
        .where(judged).group_by(verdict_rules.c.rule))}
    twice = (select(decisions.c.item_id).where(live, decisions.c.item_id.is_not(None))
             .group_by(decisions.c.item_id)
             .having(func.count(func.distinct(decisions.c.reviewer)) >= 2))
    labels_of: dict[int, set[str]] = defaultdict(set)
    for item_id, label in conn.execute(select(decisions.c.item_id, decisions.c.label).where(
            live, decisions.c.item_id.in_(twice))):
        labels_of[int(item_id)].add(str(label))
    return QueueStats(
        depth=int(depth), claimed=int(claimed), age_s=open_ages(conn, now, int(depth)),
        decisions_last_hour=int(last_hour), decisions_per_hour_24h=int(last_day) / 24.0,
        override_by_label=by_label, override_by_rule=by_rule,
        items_reviewed_twice=len(labels_of),
        items_agreeing=sum(1 for labels in labels_of.values() if len(labels) == 1), at=now)


def export_labels(conn: Connection, since: datetime | None) -> ExportResult:
    q = (select(decisions.c.id, decisions.c.label, decisions.c.reviewer, decisions.c.comment,
                decisions.c.decided_at, decisions.c.predicted_label,
                decisions.c.predicted_decision, notes.c.note_id, notes.c.note,
                verdicts.c.model_version, verdicts.c.policy_version)
         .join(notes, notes.c.id == decisions.c.note_pk)
         .outerjoin(verdicts, verdicts.c.id == decisions.c.verdict_id)
         .where(not_(decisions.c.undone)).order_by(decisions.c.decided_at, decisions.c.id))
    if since is not None:
        q = q.where(decisions.c.decided_at >= since)
    by_note: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in conn.execute(q).all():
        by_note[str(row.note_id)].append(row)  # type: ignore[arg-type]
    records: list[dict[str, Any]] = []
    conflicts: list[Conflicting] = []
    for note_id, rows in by_note.items():
        last = rows[-1]
        review = {"label": last.label, "reviewer": last.reviewer, "at": _iso(last.decided_at),
                  "model_version": last.model_version, "policy_version": last.policy_version,
                  "predicted_label": last.predicted_label,
                  "predicted_decision": last.predicted_decision,
                  "review_comment": last.comment, "decision_id": int(last.id)}
        records.append({**dict(last.note), **{k: v for k, v in review.items() if v is not None}})
        if len({r.label for r in rows}) > 1:
            conflicts.append(Conflicting(note_id, str(last.label), [
                (str(r.reviewer), str(r.label), _iso(r.decided_at)) for r in rows]))
    return ExportResult(records, conflicts)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def audit_entries(conn: Connection, action: str | None, limit: int) -> list[AuditEntry]:
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action is not None:
        q = q.where(audit_log.c.action == action)
    return [AuditEntry(id=int(r.id), at=r.at, actor=r.actor, action=r.action,
                       details=dict(r.details)) for r in conn.execute(q)]
