"""The README's picture figures are written by ``python -m training.readme`` from the newest run
kept in ``bench/results/pictures/``, never by hand."""

from __future__ import annotations

import json
from pathlib import Path

from training.readme import PICTURES, README, render_pictures, rewrite_all

ROW = {"wall_s": 1.0, "loadavg_start": 2.5}
RUN = {"bench": "pictures", "date": "2026-12-05 02:00 UTC", "n_notes": 6, "pictures_per_note": 2,
       "pictures": 12, "qr_pictures": 1, "cpu_count": 2, "notes_from": "training/data/seed_w*.jsonl",
       "font": "wqy-microhei.ttc", "rows": [
           {**ROW, "mode": "ocr", "pictures": 12, "elapsed_s": 8.0, "cpu_s": 7.5,
            "pictures_per_s": 1.5, "peak_rss_mb": 600.4},
           {**ROW, "mode": "with-pictures", "notes": 6, "elapsed_s": 9.0, "cpu_s": 8.25,
            "notes_per_s": 0.667, "peak_rss_mb": 800.0, "loadavg_start": 3.25},
           {**ROW, "mode": "text-only", "notes": 6, "elapsed_s": 0.02, "notes_per_s": 300.0,
            "peak_rss_mb": 250.0}]}


def test_readme_pictures_block_from_the_newest_run(tmp_path: Path) -> None:
    assert "No picture bench run is kept yet" in render_pictures(tmp_path)
    folder = tmp_path / "bench" / "results" / "pictures"
    folder.mkdir(parents=True)
    (folder / "2026-12-04-0900.json").write_text(json.dumps({**RUN, "n_notes": 99}), "utf-8")
    (folder / "2026-12-05-0200.json").write_text(json.dumps(RUN), "utf-8")
    block = render_pictures(tmp_path)
    assert "bench/results/pictures/2026-12-05-0200.json" in block and "99 notes" not in block
    assert "6 notes" in block and "12 in all, 1 of them QR codes" in block
    assert "load average up to 3.2" in block
    assert "| OCR + QR alone (PictureReader) | 1.50 pictures/s | 8.0 | 7.5 | 600 |" in block
    assert "| `score --images` (notes with pictures) | 0.67 notes/s | 9.0 | 8.2 | 800 |" in block
    assert "| `score`, the same notes without pictures | 300.00 notes/s | 0.0 | - | 250 |" in block


def test_readme_pictures_block_is_in_the_readme_and_current() -> None:
    text = README.read_text("utf-8")
    assert PICTURES[0] in text and PICTURES[1] in text
    assert rewrite_all(text) == text, "run: .venv/bin/python -m training.readme"
