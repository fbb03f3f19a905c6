"""The review store on SQLite and on a real PostgreSQL (``db_url`` runs each test on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from classifier.types import Note, Reason, Verdict
from serving.store import (
    Conflict,
    InvalidArgument,
    NotFound,
    QueueFilter,
    Store,
)
from training.data import load_labelled


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def verdict(note_id: str, decision: str = "review", label: str = "undisclosed_ad",
            rules: tuple[str, ...] = ("R05-DIVERSION",), model: str = "m1",
            policy: str = "p1") -> Verdict:
    return Verdict(id=note_id, label=label,  # type: ignore[arg-type]
                   scores={"sharing": 0.2, "undisclosed_ad": 0.7, "declared": 0.1},
                   decision=decision,  # type: ignore[arg-type]
                   reasons=tuple(Reason(r, "加薇", "text", 0, 2) for r in rules),
                   model_version=model, policy_version=policy,
                   model_scores={"sharing": 0.3, "undisclosed_ad": 0.6, "declared": 0.1})


def note(note_id: str, text: str = "加薇领券") -> Note:
    return Note(id=note_id, text=text)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def store(db_url: str, clock: Clock) -> Store:
    s = Store.open(db_url, clock=clock)
    yield s
    s.close()


def test_store_same_note_twice_updates_never_duplicates(store: Store) -> None:
    first = store.record_verdicts([(note("a"), verdict("a"))])[0]
    again = store.record_verdicts([(note("a"), verdict("a"))])[0]
    assert (first.version, first.new_version, first.enqueued) == (1, True, True)
    assert (again.version, again.new_version, again.enqueued) == (1, False, False)
    assert again.verdict_id == first.verdict_id and again.item_id == first.item_id
    history = store.note_history("a")
    assert len(history.versions) == 1
    assert [v.times_seen for v in history.versions[0].verdicts] == [2]
    assert len(store.list_queue().items) == 1


def test_store_changed_text_is_a_new_version_and_supersedes_the_waiting_one(store: Store) -> None:
    old = store.record_verdicts([(note("a", "v1 加薇"), verdict("a"))])[0]
    new = store.record_verdicts([(note("a", "v2 加薇"), verdict("a"))])[0]
    assert (new.version, new.new_version, new.enqueued) == (2, True, True)
    assert store.get_item(old.item_id or 0).state == "superseded"
    assert [i.id for i in store.list_queue().items] == [new.item_id]
    with pytest.raises(Conflict) as err:
        store.claim(old.item_id or 0, "li")
    assert err.value.reason == "superseded"
    assert [v.note["text"] for v in store.note_history("a").versions] == ["v1 加薇", "v2 加薇"]


def test_store_keeps_every_verdict_field_and_the_source(store: Store) -> None:
    v = verdict("a", rules=("R05-DIVERSION", "R09-PRICE"))
    store.record_verdicts([(note("a"), v)], source="batch")
    store.record_verdicts([(note("a"), verdict("a", model="m2"))], source="api")
    got = store.note_history("a").versions[0].verdicts
    assert got[0].verdict == v.to_dict() and got[0].source == "batch"
    assert got[1].verdict["model_version"] == "m2" and got[1].source == "api"
    with pytest.raises(InvalidArgument) as err:
        store.record_verdicts([(note("b"), verdict("b"))], source="ftp")
    assert err.value.field == "source"


def test_store_queues_review_and_block_only_when_the_policy_says(db_url: str,
                                                                 clock: Clock) -> None:
    rows = [(note("r"), verdict("r")), (note("b"), verdict("b", "block")),
            (note("p"), verdict("p", "pass", "sharing"))]
    plain = Store.open(db_url, clock=clock)
    try:
        plain.record_verdicts(rows)
        assert [i.note_id for i in plain.list_queue().items] == ["r"]
    finally:
        plain.close()
    both = Store.open(db_url, clock=clock, queue_decisions=("review", "block"))
    try:
        both.record_verdicts(rows)
        assert sorted(i.note_id for i in both.list_queue().items) == ["b", "r"]
    finally:
        both.close()


def test_store_list_filters_and_cursor(store: Store, clock: Clock) -> None:
    store.record_verdicts([(note("old"), verdict("old", rules=("R01",)))])
    clock.advance(3600)
    store.record_verdicts([(note(f"n{i}"), verdict(f"n{i}", "block" if i % 2 else "review",
                                                    "declared" if i % 3 == 0 else "undisclosed_ad",
                                                    rules=("R02",)))
                           for i in range(7)])
    store2 = Store(store.engine, clock=clock, queue_decisions=("review", "block"))
    store2.record_verdicts([(note("blk"), verdict("blk", "block"))])
    everything = QueueFilter()
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_queue(everything, limit=2, cursor=cursor)
        seen += [i.note_id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["old", "n0", "n2", "n4", "n6", "blk"]
    assert [i.note_id for i in store.list_queue(QueueFilter(rule="R01")).items] == ["old"]
    assert [i.note_id for i in store.list_queue(QueueFilter(label="declared")).items] == \
        ["n0", "n6"]
    assert [i.note_id for i in store.list_queue(QueueFilter(decision="block")).items] == ["blk"]
    assert [i.note_id for i in store.list_queue(QueueFilter(min_age_s=1800)).items] == ["old"]
    assert len(store.list_queue(QueueFilter(max_age_s=1800)).items) == 5
    store.claim(store.list_queue().items[1].id, "li")
    assert [i.note_id for i in store.list_queue(QueueFilter(claimed=True)).items] == ["n0"]
    assert "n0" not in [i.note_id for i in store.list_queue(QueueFilter(claimed=False)).items]
    for bad in ("nope", "YWZ0ZXI6eA", "!!"):
        with pytest.raises(InvalidArgument) as err:
            store.list_queue(cursor=bad)
        assert err.value.field == "cursor"
    with pytest.raises(InvalidArgument):
        store.list_queue(limit=0)


def test_store_claims_are_exclusive_until_the_lease_runs_out(store: Store, clock: Clock) -> None:
    item = store.record_verdicts([(note("a"), verdict("a"))])[0].item_id or 0
    held = store.claim(item, "li", lease_s=60)
    assert held.claimed_by == "li" and held.claimed(clock())
    with pytest.raises(Conflict) as err:
        store.claim(item, "wang")
    assert (err.value.reason, err.value.claimed_by) == ("claimed", "li")
    with pytest.raises(Conflict):
        store.decide(item, "sharing", "wang")
    assert store.claim(item, "li", lease_s=120).lease_until == clock() + timedelta(seconds=120)
    clock.advance(121)
    assert store.claim(item, "wang").claimed_by == "wang"
    with pytest.raises(NotFound) as missing:
        store.claim(99999, "li")
    assert missing.value.field == "item_id"


def test_store_claim_next_skips_held_items_and_returns_ones_own_first(store: Store) -> None:
    store.record_verdicts([(note(f"n{i}"), verdict(f"n{i}")) for i in range(3)])
    first = store.claim_next("li")
    assert first is not None and first.note_id == "n0"
    assert store.claim_next("li").id == first.id  # type: ignore[union-attr]
    second = store.claim_next("wang")
    assert second is not None and second.note_id == "n1"
    assert store.claim_next("zhao").note_id == "n2"  # type: ignore[union-attr]
    assert store.claim_next("qian") is None


def test_store_decide_undo_and_decide_again(store: Store) -> None:
    item = store.record_verdicts([(note("a"), verdict("a"))])[0].item_id or 0
    store.claim(item, "li")
    d = store.decide(item, "sharing", "li", "a real share")
    assert (d.label, d.predicted_label, d.predicted_decision, d.comment) == \
        ("sharing", "undisclosed_ad", "review", "a real share")
    assert store.get_item(item).state == "decided"
    assert store.list_queue().items == []
    with pytest.raises(Conflict) as err:
        store.claim(item, "wang")
    assert err.value.reason == "decided"
    undone = store.undo_last("li")
    assert undone.id == d.id and undone.undone
    back = store.get_item(item)
    assert (back.state, back.claimed_by, back.reviews_done) == ("open", "li", 0)
    again = store.decide(item, "undisclosed_ad", "li")
    assert [x.label for x in store.decisions_of("li")] == ["undisclosed_ad", "sharing"]
    assert store.export_labels().records[0]["label"] == "undisclosed_ad"
    assert store.export_labels().records[0]["decision_id"] == again.id
    with pytest.raises(NotFound):
        store.undo_last("nobody-at-all")
    with pytest.raises(InvalidArgument) as bad:
        store.decide(item, "spam", "li")
    assert bad.value.field == "label"
    with pytest.raises(InvalidArgument) as blank:
        store.decide(item, "sharing", "  ")
    assert blank.value.field == "reviewer"


def test_store_two_reviews_agreement_and_override_rates(db_url: str, clock: Clock) -> None:
    store = Store.open(db_url, clock=clock, reviews_required=2)
    try:
        ids = [r.item_id or 0 for r in store.record_verdicts(
            [(note(f"n{i}"), verdict(f"n{i}", rules=("R05",) if i < 2 else ("R07",)))
             for i in range(3)])]
        store.decide(ids[0], "undisclosed_ad", "li")
        with pytest.raises(Conflict) as err:
            store.decide(ids[0], "sharing", "li")
        assert err.value.reason == "reviewed"
        assert store.claim_next("li").id == ids[1]  # type: ignore[union-attr]
        assert store.get_item(ids[0]).state == "open"
        store.decide(ids[0], "undisclosed_ad", "wang")
        assert store.get_item(ids[0]).state == "decided"
        store.decide(ids[1], "sharing", "li")
        store.decide(ids[1], "declared", "wang")
        clock.advance(120)
        stats = store.stats()
        assert (stats.items_reviewed_twice, stats.items_agreeing, stats.agreement) == (2, 1, 0.5)
        assert stats.depth == 1 and stats.age_s.max == pytest.approx(120)
        assert stats.decisions_last_hour == 4
        assert stats.override_by_label["undisclosed_ad"].n == 4
        assert stats.override_by_label["undisclosed_ad"].overridden == 2
        assert stats.override_by_rule["R05"].rate == 0.5
        assert "R07" not in stats.override_by_rule
        conflicts = store.export_labels().conflicts
        assert [(c.note_id, c.chosen) for c in conflicts] == [("n1", "declared")]
        assert [d[:2] for d in conflicts[0].decisions] == [("li", "sharing"), ("wang", "declared")]
    finally:
        store.close()


def test_store_stats_age_percentiles(store: Store, clock: Clock) -> None:
    for _ in range(5):
        store.record_verdicts([(note(f"n{clock().minute}"), verdict(f"n{clock().minute}"))])
        clock.advance(60)
    ages = store.stats().age_s
    assert (ages.p50, ages.max) == (180.0, 300.0)
    assert ages.p90 == pytest.approx(276.0)


def test_store_stats_age_percentiles_read_in_sql_equal_numpy_over_every_open_item(store: Store,
                                                                                   clock: Clock) -> None:
    """The age percentiles are read from the items around each percentile's position, not from
    every open item; they equal numpy's linear interpolation over all of them (ties included)."""
    import random

    from serving.store.reports import percentile

    rng = random.Random(7)
    waits = []
    for i in range(23):
        store.record_verdicts([(note(f"p{i}"), verdict(f"p{i}"))])
        step = rng.choice([0, 0, 7, 60, 3600])
        clock.advance(step)
        waits.append(step)
    decided = store.record_verdicts([(note("gone"), verdict("gone"))])[0].item_id or 0
    store.decide(decided, "sharing", "li")  # a decided item is not open: not in the ages
    ages = [sum(waits[i:]) for i in range(23)]
    got = store.stats()
    assert got.depth == 23
    assert got.age_s.p50 == pytest.approx(percentile(ages, 0.5))
    assert got.age_s.p90 == pytest.approx(percentile(ages, 0.9))
    assert got.age_s.p99 == pytest.approx(percentile(ages, 0.99))
    assert got.age_s.max == pytest.approx(max(ages))


def test_store_corrections_decide_the_waiting_item_or_stand_alone(store: Store) -> None:
    item = store.record_verdicts([(note("a"), verdict("a"))])[0].item_id
    d = store.record_correction(note("a"), "sharing", "li", comment="typo")
    assert d.item_id == item and store.get_item(item or 0).state == "decided"
    free = store.record_correction(note("z", "新笔记"), "declared", "li",
                                   verdict=verdict("z", "pass", "sharing"))
    assert free.item_id is None and free.predicted_label == "sharing"
    assert {r["id"]: r["label"] for r in store.export_labels().records} == \
        {"a": "sharing", "z": "declared"}
    assert [e.action for e in store.audit_entries(limit=2)] == ["correct", "decide"]


def test_store_export_since_and_training_reads_it(store: Store, clock: Clock,
                                                  tmp_path: Path) -> None:
    import json

    ids = [r.item_id or 0 for r in store.record_verdicts(
        [(note(f"n{i}", f"第{i}条 加薇"), verdict(f"n{i}")) for i in range(3)])]
    store.decide(ids[0], "sharing", "li")
    clock.advance(86400)
    cut = clock()
    store.decide(ids[1], "declared", "li")
    store.decide(ids[2], "undisclosed_ad", "wang")
    assert [r["id"] for r in store.export_labels(since=cut).records] == ["n1", "n2"]
    out = tmp_path / "labels.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                           for r in store.export_labels().records), "utf-8")
    examples = load_labelled(out)
    assert [(e.note.id, e.label, e.note.text) for e in examples] == \
        [("n0", "sharing", "第0条 加薇"), ("n1", "declared", "第1条 加薇"),
         ("n2", "undisclosed_ad", "第2条 加薇")]


def test_store_audit_log_is_append_only_history(store: Store) -> None:
    item = store.record_verdicts([(note("a"), verdict("a"))])[0].item_id or 0
    store.claim(item, "li")
    store.decide(item, "sharing", "li")
    store.undo_last("li")
    store.audit("ops", "promote", {"model": "models/x", "forced": True})
    entries = store.audit_entries()
    assert [e.action for e in entries] == ["promote", "undo", "decide", "claim"]
    assert entries[0].details == {"model": "models/x", "forced": True}
    assert [e.action for e in store.audit_entries(action="decide")] == ["decide"]


def test_store_note_history_has_everything_and_404s(store: Store) -> None:
    item = store.record_verdicts([(note("a"), verdict("a"))])[0].item_id or 0
    store.decide(item, "sharing", "li")
    version = store.note_history("a").versions[0]
    assert version.item is not None and version.item.id == item
    assert version.item.rules == ("R05-DIVERSION",)
    assert [d.label for d in version.decisions] == ["sharing"]
    with pytest.raises(NotFound) as err:
        store.note_history("missing")
    assert err.value.field == "note_id"


def test_store_refuses_ages_and_leases_out_of_range(store: Store) -> None:
    item = store.record_verdicts([(note("a"), verdict("a"))])[0].item_id or 0
    for name, value in (("max_age_s", 1e300), ("min_age_s", -1.0)):
        with pytest.raises(InvalidArgument) as err:
            store.list_queue(QueueFilter(**{name: value}))
        assert err.value.field == name
    with pytest.raises(InvalidArgument) as lease:
        store.claim(item, "li", lease_s=1e12)
    assert lease.value.field == "lease_s"
