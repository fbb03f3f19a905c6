"""Smoke test of the picture benchmark: every mode runs in its own process on pictures it draws,
and the JSON line carries each figure. No timing is asserted (``python -m bench.pictures`` is the
measurement; the README's figures come from its kept run)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_bench_pictures_small_run_reports_every_mode() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.pictures", "--n", "8", "--per-note", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["n_notes"], result["pictures"], result["qr_pictures"]) == (8, 8, 2)
    rows = {r["mode"]: r for r in result["rows"]}
    assert set(rows) == {"ocr", "with-pictures", "text-only"}
    assert rows["ocr"]["pictures"] == 8 and rows["ocr"]["pictures_per_s"] > 0
    for mode in ("with-pictures", "text-only"):
        assert rows[mode]["notes"] == 8 and rows[mode]["failed"] == 0 and rows[mode]["notes_per_s"] > 0
    # the pictures are read: the QR code (and any 加V text) makes at least one more ad
    assert rows["with-pictures"]["undisclosed_ad"] > rows["text-only"]["undisclosed_ad"]
    assert all(r["peak_rss_mb"] > 0 and r["cpu_s"] >= 0 for r in rows.values())
    assert "engine_load_s" not in rows["text-only"]  # no OCR engine in the text-only process
