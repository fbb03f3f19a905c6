"""The queue under load through a real server (a ``notecheck serve`` subprocess) on SQLite and
PostgreSQL: 8 reviewers and 32 API clients at once lose no decision and never share an item;
a server killed with SIGKILL loses no decision it acknowledged (SQLite in WAL mode)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.load_api import stop_server
from classifier.types import Note, Reason, Verdict
from serving.store import Store
from serving.store.schema import decisions, queue_items

REPO = Path(__file__).resolve().parents[2]
LABELS = ("sharing", "undisclosed_ad", "declared")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(model: Path, db_url: str, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "NOTECHECK_DB_URL": db_url, "NOTECHECK_MAX_QUEUE": "4096"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "serving.http.app", "serve", "--model",
                                 str(model), "--port", str(port), "--log-level", "warning"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(base + "/readyz").status_code == 200 and \
                        httpx.get(base + "/v1/queue").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base, proc
    finally:
        stop_server(proc)


def seed(db_url: str, n: int) -> list[int]:
    store = Store.open(db_url)
    try:
        got = store.record_verdicts([(Note(id=f"q{i}", text=f"第{i}条 加薇"), Verdict(
            id=f"q{i}", label="undisclosed_ad", decision="review",
            scores={"sharing": 0.2, "undisclosed_ad": 0.7, "declared": 0.1},
            reasons=(Reason("R05", "加薇", "text", 0, 2),), model_version="m",
            policy_version="p")) for i in range(n)])
        return [r.item_id or 0 for r in got]
    finally:
        store.close()


def review(base: str, name: str, acked: list[tuple[int, int, str, str]], lock: threading.Lock,
           stop: threading.Event | None = None) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        while stop is None or not stop.is_set():
            item = c.post("/v1/queue/next", json={"reviewer": name}).json()["item"]
            if item is None:
                return
            label = LABELS[item["id"] % 3]
            r = c.post(f"/v1/queue/{item['id']}/decision", json={"label": label,
                                                                  "reviewer": name})
            assert r.status_code == 201, r.text
            with lock:
                acked.append((r.json()["id"], item["id"], name, label))


def test_queue_8_reviewers_32_clients_through_the_server(lexical_dir: Path, db_url: str,
                                                         tmp_path: Path) -> None:
    items = seed(db_url, 160)
    acked: list[tuple[int, int, str, str]] = []
    lock = threading.Lock()
    statuses: Counter[int] = Counter()

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(6):
                r = c.post("/v1/moderate", json={"id": f"api{k}-{i}",
                                                 "text": f"第{i}条 加薇领券 到手价99"})
                with lock:
                    statuses[r.status_code] += 1

    with server(lexical_dir, db_url, tmp_path / "server.log") as (base, _), \
            ThreadPoolExecutor(40) as pool:
        jobs = [pool.submit(client, k) for k in range(32)]
        jobs += [pool.submit(review, base, f"r{k}", acked, lock) for k in range(8)]
        for job in jobs:
            job.result()
    assert statuses == {200: 32 * 6}
    store = Store.open(db_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(decisions.c.id, decisions.c.item_id, decisions.c.reviewer,
                                       decisions.c.label)).all()
            open_left = conn.execute(select(queue_items.c.id).where(
                queue_items.c.state == "open", queue_items.c.id.in_(items))).all()
        assert sorted(tuple(r) for r in rows) == sorted(acked)  # none lost, none invented
        per_item = Counter(i for _, i, _, _ in acked)
        assert max(per_item.values()) == 1  # no item decided twice
        assert set(items) <= set(per_item)  # every seeded item decided (API ones may be too)
        assert open_left == []
        holders: dict[int, set[str]] = {}
        for e in store.audit_entries(action="claim", limit=100_000):
            holders.setdefault(int(e.details["item_id"]), set()).add(e.actor)
        assert all(len(h) == 1 for h in holders.values())  # no item ever held by two
        assert len({r for _, _, r, _ in acked}) > 1
        recorded = sum(1 for k in range(32) for i in range(6)
                       if store.note_history(f"api{k}-{i}").versions)
        assert recorded == 32 * 6  # every API verdict reached the store (flushed at shutdown)
    finally:
        store.close()


def test_queue_sigkill_loses_no_acknowledged_decision(lexical_dir: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'kill.db'}"
    seed(db_url, 400)
    acked: list[tuple[int, int, str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    with server(lexical_dir, db_url, tmp_path / "server.log") as (base, proc):
        threads = [threading.Thread(target=_review_until_gone, args=(base, f"r{k}", acked, lock,
                                                                     stop))
                   for k in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 40:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # mid-stream: requests in flight die with it
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
    store = Store.open(db_url)
    try:
        with store.engine.connect() as conn:
            stored = {tuple(r) for r in conn.execute(select(
                decisions.c.id, decisions.c.item_id, decisions.c.reviewer, decisions.c.label))}
        assert len(acked) >= 40
        assert set(acked) <= stored  # every decision the server acknowledged survived
    finally:
        store.close()


def _review_until_gone(base: str, name: str, acked: list[tuple[int, int, str, str]],
                       lock: threading.Lock, stop: threading.Event) -> None:
    try:
        review(base, name, acked, lock, stop)
    except (httpx.TransportError, AssertionError, ValueError):
        pass  # the server was killed under us
