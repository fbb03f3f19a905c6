"""Smoke test of the queue benchmark (``python -m bench.review_queue``) on the tiny lexical model: both
backends (a real PostgreSQL started by the bench), 8 reviewers, the API with the store off and on.
No speed is asserted (it depends on the machine); the integrity figures are: every queued item
decided exactly once, nothing accepted and lost, no item handed to two reviewers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_bench_queue_quick_run_reports_both_parts(lexical_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.review_queue", "--model", str(lexical_dir), "--items", "48",
         "--requests", "40"], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    b = json.loads(proc.stdout.strip().splitlines()[-1])["queue_bench"]
    assert set(b["reviewers"]) == {"sqlite", "postgresql"}
    for name, r in b["reviewers"].items():
        assert r["reviewers"] == 8 and r["decisions"] == 48 and r["decisions_per_s"] > 0, name
        assert r["items_handed_out_twice"] == 0 and r["errors"] == {}, r
        assert r["check"] == {"items": 48, "decision_rows": 48, "items_decided_twice": 0,
                              "accepted_not_stored": 0, "items_without_decision": 0,
                              "open_items_left": 0}, r["check"]
    assert set(b["api"]) == {"off", "sqlite", "postgresql", "sqlite+shadow"}
    for name, r in b["api"].items():
        assert r["status_counts"] == {"200": 40} and 0 < r["p50_ms"] <= r["p99_ms"], (name, r)
    written = {name: [x for x in r["store_metrics"] if x.startswith("notecheck_store_verdicts_written_total")]
               for name, r in b["api"].items()}
    assert written["off"] == [] or written["off"][0].endswith(" 0.0")
    shadowed = [x for x in b["api"]["sqlite+shadow"]["store_metrics"]
                if x.startswith("notecheck_shadow_scored_total")]
    assert shadowed and float(shadowed[0].split()[-1]) > 0  # the candidate really scored
    for name in ("sqlite", "postgresql", "sqlite+shadow"):  # the store really was on
        assert written[name] and float(written[name][0].split()[-1]) > 0, b["api"][name]["store_metrics"]
    assert b["machine"]["cpu_count"] and b["machine"]["postgresql"].startswith("15")
