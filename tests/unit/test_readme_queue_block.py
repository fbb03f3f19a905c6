"""The README's queue figures are written by ``python -m bench.review_queue --readme`` from the newest kept
run, never by hand."""

from __future__ import annotations

import json
from pathlib import Path

from bench.review_queue import README_MARKERS, render_readme, write_readme

RUN = {"queue_bench": {
    "at": "2026-12-05T02:00:00+00:00", "model": "models/DEFAULT",
    "machine": {"cpu_count": 2, "loadavg_before": [1.5, 1.0, 1.0], "nice": 5, "sqlite": "3.40.1",
                "postgresql": "15.18 (Debian)", "git_commit": "abc1234"},
    "settings": {"items": 600, "requests": 1000, "concurrency": 32, "notes": "/x/notes.jsonl",
                 "sqlite": "WAL, synchronous=NORMAL",
                 "postgres": "defaults"},
    "reviewers": {"sqlite": {"reviewers": 8, "decisions": 600, "decisions_per_s": 81.25,
                             "next_decide_p50_ms": 90.0, "next_decide_p99_ms": 250.5,
                             "items_handed_out_twice": 0,
                             "check": {"items_decided_twice": 0, "accepted_not_stored": 0}}},
    "api": {"off": {"requests": 1000, "concurrency": 32, "notes_per_s": 150.0, "p50_ms": 200.0,
                    "p99_ms": 400.0, "status_counts": {"200": 1000}}},
}}


def test_readme_queue_block_is_up_to_date() -> None:
    assert write_readme(check=True) == 0, "run: .venv/bin/python -m bench.review_queue --readme"


def test_readme_queue_block_renders_the_newest_run(tmp_path: Path) -> None:
    assert "No queue bench run" in render_readme(tmp_path)
    runs = tmp_path / "bench" / "results" / "queue"
    runs.mkdir(parents=True)
    (runs / "2026-12-01-0000.json").write_text(json.dumps({"queue_bench": {}}), "utf-8")  # older
    (runs / "2026-12-05-0200.json").write_text(json.dumps(RUN), "utf-8")
    block = render_readme(tmp_path)
    assert "| sqlite | 600 | 81.2 | 90.0 | 250.5 | 0 | 0 | 0 |" in block
    assert "| off | 150.0 | 200.0 | 400.0 | 200 x1000 |" in block
    assert "2 CPUs of a machine shared with other work" in block and "nice 5" in block
    assert "`models/DEFAULT` at abc1234" in block and "`notes.jsonl`" in block
    (tmp_path / "README.md").write_text(f"a\n{README_MARKERS[0]}\nold\n{README_MARKERS[1]}\nb\n", "utf-8")
    assert write_readme(check=True, root=tmp_path) == 1
    assert write_readme(root=tmp_path) == 0
    assert write_readme(check=True, root=tmp_path) == 0
    assert block in (tmp_path / "README.md").read_text("utf-8")


def test_readme_queue_block_names_the_notes_file_the_same_in_any_checkout(tmp_path: Path) -> None:
    from bench.review_queue import _in_repo

    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "notes.jsonl").write_text("{}\n", "utf-8")
    assert _in_repo(Path("/work/other/examples/notes.jsonl"), tmp_path) == Path("examples/notes.jsonl")
    assert _in_repo(tmp_path / "examples" / "notes.jsonl", tmp_path) == Path("examples/notes.jsonl")
    assert _in_repo(Path("/x/gone.jsonl"), tmp_path) == Path("gone.jsonl")
    assert _in_repo(Path("examples/notes.jsonl"), Path("/anywhere")) == Path("examples/notes.jsonl")
