"""Smoke test of the speed benchmark: every mode runs and the JSON line carries its figures.

No timing is asserted (the figures depend on the machine and its load); ``python -m bench.bench``
is the measurement. This needs the shipped encoder's ONNX graph, which ``make test`` builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

MODES = {"hf", "exact", "int8", "fast", "api-1", "api-32"}
ENCODER_MODES = {"hf", "exact", "int8", "fast"}


def test_bench_quick_run_reports_every_mode(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench", "--quick", "--n", "24", "--latency", "4", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    bench = json.loads(last)["bench"]
    assert bench["n"] == 24 and bench["matmul_peak_gflops"] > 0
    rows = {r["mode"]: r for r in bench["rows"]}
    assert set(rows) == MODES, proc.stdout[-3000:]
    for mode, row in rows.items():
        assert row["notes_per_s"] > 0, row
        assert row["peak_rss_mb"] > 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"], row
    for mode in ENCODER_MODES:
        assert rows[mode]["encoder_gflops"] > 0 and rows[mode]["peak_share"] > 0, rows[mode]
    fast = bench["results"]["fast"]
    assert "+onnx-int8-attention+cascade(" in fast["model_version"]
    assert sum(fast["routed"].values()) >= 24  # the 24 notes, then the single-note calls
    shipped = json.loads((Path(bench["model"]) / "notecheck.json").read_text("utf-8"))
    assert bench["results"]["exact"]["model_version"] == f"{shipped['name']}@{shipped['version']}"
    assert bench["targets"]["score_notes_per_s"] == rows["fast"]["notes_per_s"]
    assert bench["results"]["api-32"]["status_counts"] == {"200": 24}
