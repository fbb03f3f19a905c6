"""Reliability on SQLite and PostgreSQL: 8 reviewers working one queue while 32 API clients
record verdicts; no decision lost, no item held or decided twice."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from classifier.types import Note, Reason, Verdict
from serving.store import Conflict, Store
from serving.store.schema import decisions, notes, queue_items


def _verdict(note_id: str) -> Verdict:
    return Verdict(id=note_id, label="undisclosed_ad", decision="review",
                   scores={"sharing": 0.2, "undisclosed_ad": 0.7, "declared": 0.1},
                   reasons=(Reason("R05", "加薇", "text", 0, 2),), model_version="m",
                   policy_version="p")


def test_store_8_reviewers_and_32_clients_lose_nothing_and_share_nothing(db_url: str) -> None:
    store = Store.open(db_url)
    n_notes = 240
    stop = threading.Event()
    made: list[tuple[str, int, str]] = []  # (reviewer, item, label) as the store returned them
    lock = threading.Lock()

    def client(k: int) -> None:  # 32 API clients, overlapping notes (idempotency under load)
        for i in range(k % 4, n_notes, 4):
            store.record_verdicts([(Note(id=f"n{i}", text=f"第{i}条 加薇"), _verdict(f"n{i}"))],
                                  source="api")

    def reviewer(name: str) -> None:
        idle = 0
        while idle < 40:
            item = store.claim_next(name)
            if item is None:
                idle += 1 if stop.is_set() else 0
                stop.wait(0.01)
                continue
            idle = 0
            label = ("sharing", "undisclosed_ad", "declared")[item.id % 3]
            decision = store.decide(item.id, label, name)
            with lock:
                made.append((name, decision.item_id or 0, decision.label))

    try:
        with ThreadPoolExecutor(40) as pool:
            reviewers = [pool.submit(reviewer, f"r{k}") for k in range(8)]
            for f in [pool.submit(client, k) for k in range(32)]:
                f.result()
            stop.set()
            for f in reviewers:
                f.result()
        with store.engine.connect() as conn:
            n_rows = conn.execute(select(func.count()).select_from(notes)).scalar_one()
            n_items = conn.execute(select(func.count()).select_from(queue_items)).scalar_one()
            rows = conn.execute(select(decisions.c.item_id, decisions.c.reviewer,
                                       decisions.c.label)).all()
            states = Counter(conn.execute(select(queue_items.c.state)).scalars())
        assert n_rows == n_notes and n_items == n_notes  # no duplicate from 8 clients per note
        assert states == {"decided": n_notes}
        per_item = Counter(item for item, _, _ in rows)
        assert max(per_item.values()) == 1 and len(per_item) == n_notes  # none decided twice
        assert sorted((r, i, lab) for i, r, lab in rows) == sorted(made)  # none lost
        assert len({r for r, _, _ in made}) > 1
        claims = Counter((e.details["item_id"], e.actor)
                         for e in store.audit_entries(action="claim", limit=10_000))
        holders: dict[int, set[str]] = {}
        for item_id, actor in claims:
            holders.setdefault(item_id, set()).add(actor)
        assert all(len(h) == 1 for h in holders.values())  # nobody else ever held an item
    finally:
        store.close()


def test_store_8_reviewers_racing_for_one_item_one_wins(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        for round_ in range(10):
            rec = store.record_verdicts([(Note(id=f"x{round_}", text="加薇"),
                                          _verdict(f"x{round_}"))])[0]
            barrier = threading.Barrier(8)

            def grab(name: str, item_id: int = rec.item_id or 0,
                     barrier: threading.Barrier = barrier) -> str | None:
                barrier.wait()
                try:
                    return store.claim(item_id, name).claimed_by
                except Conflict:
                    return None

            with ThreadPoolExecutor(8) as pool:
                won = [w for w in pool.map(grab, [f"r{k}" for k in range(8)]) if w]
            assert len(won) == 1
            assert store.get_item(rec.item_id or 0).claimed_by == won[0]
    finally:
        store.close()
