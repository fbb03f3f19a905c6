"""Smoke test of the engines benchmark in its quick mode: every part runs in its own process and the
JSON line carries each figure. No timing is asserted (``python -m bench.engines`` is the
measurement; the README's and docs/ray.md's figures come from its kept run)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_bench_engines_quick_run_reports_every_part() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.engines", "--quick"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    b = json.loads(proc.stdout.strip().splitlines()[-1])["engines_bench"]
    assert b["quick"] is True and b["machine"]["cpu_count"] >= 1 and len(b["machine"]["loadavg_after"]) == 3
    mem = b["memory"]
    assert mem["dump_notes"] > 200 and mem["dump_bytes"] >= 500_000
    assert [(r["limit"], r["scored"], r["failed"]) for r in mem["runs"]] == [(20, 20, 0), (200, 200, 0)]
    assert all(r["peak_rss_mib"] > 50 and r["wall_s"] > 0 for r in mem["runs"])
    eng = b["engines"]
    assert eng["notes"] == 40
    assert {k: (r["scored"], r["failed"]) for k, r in eng["runs"].items()} == {"local": (40, 0), "ray": (40, 0)}
    assert eng["byte_identical"] is True
    lx = b["lexicon"]
    assert lx["notes"] == 40 and lx["signals"] > 0 and lx["identical"] is True
    assert lx["regex_ms_per_note"] > 0 and lx["re_ms_per_note"] > 0


def test_bench_engines_refuses_to_keep_a_quick_run() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.engines", "--quick", "--write"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "--quick is a smoke test" in proc.stderr
