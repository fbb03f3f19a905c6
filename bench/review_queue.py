"""Review-queue benchmark: decisions per second with 8 concurrent reviewers, and the p99 latency
of ``/v1/moderate`` with the store off, on SQLite and on PostgreSQL, side by side in one run.

Run it as a module (its old name, ``bench/queue.py``, shadowed the standard library's ``queue``
for ``bench/load_api.py`` run as a script, which the speed bench does)::

    python -m bench.review_queue                          # prints a summary and one JSON line
    python -m bench.review_queue --write                  # also keeps the JSON in bench/results/queue/
    python -m bench.review_queue --readme                 # then rewrites the README's queue block

What it does, each part against ``python -m serving.http.app serve`` started here on 127.0.0.1:

1. **Reviewers.** For each backend (a SQLite file; a PostgreSQL 15 server started here in a
   temporary folder, as the tests start it), a fresh database is filled with ``--items`` queue items
   (verdicts with decision ``review``, written through :class:`serving.store.Store`), then 8
   reviewer threads work through the queue over HTTP as the console does: claim the oldest free
   item (``POST /v1/queue/next``), decide it (``POST /v1/queue/{id}/decision``), until the queue
   is empty.
   Decisions per second = decisions accepted / wall time. Afterwards the database is read: every
   item decided exactly once, no decision lost (accepted decisions = rows), no item decided by
   two reviewers.
2. **API latency.** ``--requests`` single-note ``POST /v1/moderate`` from 32 concurrent clients
   (the lean client of :mod:`bench.load_api`), with the store off, on SQLite and on PostgreSQL
   (``NOTECHECK_DB_URL``), and on SQLite with ``--shadow`` (the same model as the candidate: what
   shadow scoring costs the served requests on this machine); p50/p99 and notes/s per setting. The
   model is the shipped default (fast path) unless ``--model`` is given.

The JSON records the machine (cores, load average before the run, the process's nice value,
Python, SQLite and PostgreSQL versions, the git commit) so a reader knows what the figures mean.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.load_api import (
    HOST,
    free_port,
    load_notes,
    percentile,
    run_load,
    stop_server,
    wait_ready,
)
from bench.postgres import postgres
from classifier.model import default_model_dir

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "queue"
REVIEWERS = 8
LABELS = ("sharing", "undisclosed_ad", "declared")


# ----------------------------------------------------------------------------- the server


@contextmanager
def server(model: Path | None, db_url: str | None, log_path: Path,
           shadow: Path | None = None) -> Iterator[tuple[str, int]]:
    """``serve`` on a free loopback port, with the store on ``db_url`` (off when None) and
    ``--shadow`` when given."""
    port = free_port()
    cmd = [sys.executable, "-m", "serving.http.app", "serve", "--host", HOST, "--port", str(port),
           "--log-level", "warning"]
    if model is not None:
        cmd += ["--model", str(model)]
    if shadow is not None:
        cmd += ["--shadow", str(shadow)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTECHECK_")}
    if db_url is not None:
        env["NOTECHECK_DB_URL"] = db_url
    else:
        env["NOTECHECK_STORE"] = "false"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log, env=env)
        url = f"http://{HOST}:{port}"
        try:
            wait_ready(url, proc, 600)
            yield url, proc.pid
        finally:
            stop_server(proc, 60)


# ----------------------------------------------------------------------------- part 1: reviewers


def fill_queue(db_url: str, n: int) -> list[int]:
    """``n`` queue items (decision ``review``) written through the store; their ids."""
    from classifier.types import Note, Verdict
    from serving.store import Store

    store = Store.open(db_url)
    try:
        pairs = []
        for i in range(n):
            label = LABELS[i % 3]
            note = Note(id=f"q{i}", text=f"队列基准笔记 {i}：周末去了家新开的面馆，汤头很鲜")
            scores = {lab: (0.6 if lab == label else 0.2) for lab in LABELS}
            pairs.append((note, Verdict(id=note.id, label=label, scores=scores,  # type: ignore[arg-type]
                                        decision="review", reasons=(), model_version="bench@1",
                                        policy_version="bench@1")))
        ids = []
        for k in range(0, n, 200):
            ids += [r.item_id for r in store.record_verdicts(pairs[k:k + 200], source="batch")
                    if r.item_id is not None]
        return ids
    finally:
        store.close()


def reviewers(url: str, n_reviewers: int) -> dict[str, Any]:
    """``n_reviewers`` threads work through the queue as the console does, until it is empty:
    claim the oldest free item (``POST /v1/queue/next``), decide it (``POST .../decision``)."""
    accepted: list[tuple[str, int]] = []
    claimed: list[tuple[str, int]] = []
    conflicts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(n_reviewers + 1)

    def work(k: int) -> None:
        name = f"reviewer-{k}"
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait()
            while True:
                t0 = time.perf_counter()
                got = client.post("/v1/queue/next", json={"reviewer": name})
                if got.status_code != 200:
                    with lock:
                        errors[f"next {got.status_code}"] += 1
                    time.sleep(0.05)
                    continue
                item = got.json()["item"]
                if item is None:
                    return
                with lock:
                    claimed.append((name, item["id"]))
                label = LABELS[(item["id"] + k) % 3]
                decision = client.post(f"/v1/queue/{item['id']}/decision",
                                       json={"label": label, "reviewer": name, "comment": "bench"})
                with lock:
                    if decision.status_code == 201:
                        accepted.append((name, item["id"]))
                        latencies.append((time.perf_counter() - t0) * 1000)
                    elif decision.status_code == 409:
                        conflicts["decision"] += 1
                    else:
                        errors[f"decision {decision.status_code}"] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_reviewers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    handed = Counter(i for _, i in claimed)
    return {"reviewers": n_reviewers, "decisions": len(accepted), "elapsed_s": round(elapsed, 3),
            "decisions_per_s": round(len(accepted) / elapsed, 1) if elapsed else None,
            "next_decide_p50_ms": round(percentile(latencies, 50), 2),
            "next_decide_p99_ms": round(percentile(latencies, 99), 2),
            "items_handed_out_twice": sum(1 for c in handed.values() if c > 1),
            "conflicts": dict(conflicts), "errors": dict(errors), "accepted": accepted}


def check_decisions(db_url: str, item_ids: Sequence[int], accepted: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """Read the database back: one decision per item, each accepted one stored by its reviewer."""
    from sqlalchemy import func, select

    from serving.store import Store
    from serving.store.schema import decisions, queue_items

    store = Store.open(db_url, migrate=False)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(decisions.c.item_id, decisions.c.reviewer)
                                .where(decisions.c.undone.is_(False))).all()
            open_items = conn.execute(select(func.count()).select_from(queue_items)
                                      .where(queue_items.c.state == "open")).scalar_one()
    finally:
        store.close()
    per_item = Counter(int(r.item_id) for r in rows)
    stored = {(str(r.reviewer), int(r.item_id)) for r in rows}
    return {"items": len(item_ids), "decision_rows": len(rows),
            "items_decided_twice": sum(1 for c in per_item.values() if c > 1),
            "accepted_not_stored": sum(1 for a in accepted if a not in stored),
            "items_without_decision": sum(1 for i in item_ids if i not in per_item),
            "open_items_left": int(open_items)}


# ----------------------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True, check=False).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                capture_output=True, text=True, check=False).stdout.strip())
    return {"cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "nice": os.nice(0), "python": platform.python_version(), "platform": platform.platform(),
            "sqlite": sqlite3.sqlite_version, "git_commit": commit, "worktree_dirty": dirty,
            "processor": platform.processor() or platform.machine()}


# ----------------------------------------------------------------------------- the README block

README_MARKERS = ("<!-- queue:begin -->", "<!-- queue:end -->")


def _in_repo(path: Path, root: Path) -> Path:
    """``path`` as the README names it: relative to the checkout when it lies in one, also when
    the run was made in another checkout (the JSON keeps the path the run was given)."""
    if not path.is_absolute():
        return path
    if path.is_relative_to(root):
        return path.relative_to(root)
    tails = (Path(*path.parts[i:]) for i in range(1, len(path.parts)))
    return next((t for t in tails if (root / t).is_file()), Path(path.name))


def render_readme(root: Path = REPO) -> str:
    """The README's queue figures, from the newest run kept in ``bench/results/queue/``."""
    from training.readme import newest_run

    path = newest_run(root / "bench" / "results" / "queue")
    if path is None:
        return "No queue bench run is kept yet: run `python -m bench.review_queue --write`."
    b = json.loads(path.read_text("utf-8"))["queue_bench"]
    m, st = b["machine"], b["settings"]
    lines = [(f"One run of `python -m bench.review_queue` ({b['at'][:10]}), kept in `{path.relative_to(root)}` and "
              f"written here by `python -m bench.review_queue --readme`: {m['cpu_count']} CPUs of a machine shared "
              f"with other work (load average {m['loadavg_before'][0]:.1f} at the start, the bench at nice "
              f"{m['nice']}), "
              f"SQLite {m['sqlite']} ({st['sqlite']}), PostgreSQL {m['postgresql'].split()[0]} "
              f"on a Unix socket with {st['postgres']}, git {m['git_commit']}. Compare rows of this run only."),
             "",
             (f"{b['reviewers'][next(iter(b['reviewers']))]['reviewers']} reviewers working through "
              f"{st['items']} queued items over HTTP as the console does (`POST /v1/queue/next`, then "
              "`POST /v1/queue/{id}/decision`); afterwards the database was read back:"),
             "",
             ("| store | decisions | decisions/s | next + decide p50 ms | p99 ms | handed out twice | "
              "decided twice | accepted but not stored |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in b["reviewers"].items():
        c = r["check"]
        lines.append(f"| {name} | {r['decisions']} | {r['decisions_per_s']:.1f} | {r['next_decide_p50_ms']:.1f} | "
                     f"{r['next_decide_p99_ms']:.1f} | {r['items_handed_out_twice']} | {c['items_decided_twice']} | "
                     f"{c['accepted_not_stored']} |")
    first = next(iter(b["api"].values()))
    model = (f"the default model (`models/DEFAULT` at {m['git_commit']})" if b["model"] == "models/DEFAULT"
             else f"model `{Path(b['model']).name}`")
    notes = _in_repo(Path(st["notes"]), root)
    lines += ["", (f"`POST /v1/moderate`, {first['requests']} single-note requests (notes cycled from "
                   f"`{notes}`) from {first['concurrency']} concurrent clients, {model} on the default path "
                   "(p50/p99 over the requests). The store writes off the request path, but its writer "
                   "thread shares the cores with scoring:"), "",
              "| store | notes/s | p50 ms | p99 ms | statuses |", "|---|---:|---:|---:|---|"]
    for name, r in b["api"].items():
        statuses = ", ".join(f"{k} x{v}" for k, v in r["status_counts"].items())
        lines.append(f"| {name} | {r['notes_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {statuses} |")
    if "sqlite+shadow" in b["api"]:
        lines += ["", ("`sqlite+shadow`: the store on SQLite and `serve --shadow` with the served model as its "
                       "own candidate, so every note is scored twice on the same cores.")]
    return "\n".join(lines)


def write_readme(check: bool = False, root: Path = REPO) -> int:
    """Rewrite (or with ``check`` compare) the README's queue block; 1 when out of date."""
    from training.readme import rewrite

    readme = root / "README.md"
    text = readme.read_text("utf-8")
    new = rewrite(text, render_readme(root), README_MARKERS)
    if check:
        return 0 if new == text else 1
    readme.write_text(new, "utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.review_queue", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="model folder to serve (default: the shipped default)")
    p.add_argument("--notes", type=Path, default=REPO / "examples" / "notes_canonical.jsonl")
    p.add_argument("--items", type=int, default=600, help="queue items the reviewers decide, per backend")
    p.add_argument("--requests", type=int, default=1000, help="/v1/moderate calls per setting")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--reviewers", type=int, default=REVIEWERS)
    p.add_argument("--write", action="store_true", help=f"keep the JSON in {RESULTS.relative_to(REPO)}/")
    p.add_argument("--readme", action="store_true",
                   help="only rewrite the README's queue block from the newest kept run (no bench)")
    args = p.parse_args(argv)
    if args.readme:
        return write_readme()
    notes = load_notes(args.notes)
    facts = machine()
    work = Path(tempfile.mkdtemp(prefix="notecheck-bench-queue-"))
    log_path = work / "server.log"
    out: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": facts,
                           "model": str(args.model or default_model_dir()), "reviewers": {}, "api": {},
                           "settings": {"items": args.items, "requests": args.requests,
                                        "concurrency": args.concurrency, "notes": str(_in_repo(Path(args.notes).resolve(), REPO)),
                                        "postgres": "defaults (fsync on, synchronous_commit on)",
                                        "sqlite": "WAL, synchronous=NORMAL"}}
    try:
        with postgres() as (fresh_pg, pg_version):
            facts["postgresql"] = pg_version
            backends: dict[str, Callable[[], str | None]] = {
                "sqlite": lambda: f"sqlite:///{work / f'r{time.monotonic_ns()}.db'}",
                "postgresql": fresh_pg}
            for name, make_db in backends.items():
                url_db = make_db()
                assert url_db is not None
                ids = fill_queue(url_db, args.items)
                with server(args.model, url_db, log_path) as (url, _):
                    result = reviewers(url, args.reviewers)
                accepted = result.pop("accepted")
                result["check"] = check_decisions(url_db, ids, accepted)
                out["reviewers"][name] = result
                print(f"reviewers {name:<10}: {result['decisions']} decisions by {args.reviewers} reviewers "
                      f"in {result['elapsed_s']} s = {result['decisions_per_s']}/s; p99 next+decide "
                      f"{result['next_decide_p99_ms']} ms; handed out twice "
                      f"{result['items_handed_out_twice']}; conflicts {result['conflicts']}; "
                      f"errors {result['errors']}; check {result['check']}", flush=True)
            shadow = args.model or default_model_dir()
            settings_api: dict[str, tuple[Callable[[], str | None], Path | None]] = {
                "off": (lambda: None, None), **{k: (v, None) for k, v in backends.items()},
                "sqlite+shadow": (backends["sqlite"], shadow)}
            for name, (make, candidate) in settings_api.items():
                url_db = make()
                with server(args.model, url_db, log_path, candidate) as (url, pid):
                    run_load(url, notes, 64, args.concurrency, 1)  # warm
                    load = run_load(url, notes, args.requests, args.concurrency, 1, 1, pid)
                    metrics = httpx.get(url + "/metrics", timeout=10).text
                load["store_metrics"] = [line for line in metrics.splitlines()
                                         if line.startswith(("notecheck_store", "notecheck_shadow"))]
                out["api"][name] = load
                print(f"api store {name:<10}: {load['notes_per_s']} notes/s, p50 {load['p50_ms']} ms, "
                      f"p99 {load['p99_ms']} ms, statuses {load['status_counts']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from training.readme import print_run

    print_run(RESULTS, {"queue_bench": out}, keep=args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
