"""The README's streaming and lexicon figures and docs/ray.md's table are written by
``python -m bench.engines --readme`` from the newest kept run, never by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.engines import MARKERS, render, write_readme

RUN = {"engines_bench": {
    "at": "2026-12-05T03:00:00+00:00", "quick": False,
    "machine": {"cpu_count": 2, "loadavg_before": [0.3, 0.5, 1.0], "loadavg_after": [1.6, 1.0, 1.0],
                "nice": 0, "git_commit": "abc1234"},
    "memory": {"dump_notes": 301211, "dump_bytes": 200000500,
               "runs": [{"limit": 2000, "peak_rss_mib": 318.7, "wall_s": 4.8},
                        {"limit": 20000, "peak_rss_mib": 321.2, "wall_s": 40.2}]},
    "engines": {"notes": 6210, "byte_identical": True, "runs": {
        "local": {"wall_s": 41.0, "notes_per_s": 151.5, "scoring_notes_per_s": 160.2, "peak_rss_mib": 330.4,
                  "scored": 6210, "failed": 0},
        "ray": {"wall_s": 80.0, "notes_per_s": 77.6, "scoring_notes_per_s": 90.1, "peak_rss_mib": 250.0,
                "scored": 6210, "failed": 0}}},
    "lexicon": {"notes": 6210, "signals": 20000, "repeats": 3, "regex_ms_per_note": 0.451,
                "re_ms_per_note": 0.183, "identical": True, "notes_differing": []},
}}


def test_readme_engines_blocks_are_up_to_date() -> None:
    assert write_readme(check=True) == 0, "run: .venv/bin/python -m bench.engines --readme"


def test_readme_engines_blocks_render_the_newest_run(tmp_path: Path) -> None:
    assert "No engines bench run" in render("memory", tmp_path)
    runs = tmp_path / "bench" / "results" / "engines"
    runs.mkdir(parents=True)
    (runs / "2026-12-01-0000.json").write_text(json.dumps({"engines_bench": {}}), "utf-8")  # older
    (runs / "2026-12-05-0300.json").write_text(json.dumps(RUN), "utf-8")
    memory, lexicon, ray = (render(p, tmp_path) for p in ("memory", "lexicon", "ray"))
    assert "200 MB JSONL dump (301,211 notes" in memory
    assert "peak RSS (and wall time): 319 MiB at N = 2,000 (5 s) and 321 MiB at N = 20,000 (40 s)." in memory
    assert "the same signals as `re`; the lexical stage took 0.45 ms per note on `regex` and 0.18 ms on `re`" in lexicon
    assert "| `--engine local` | 41 s | 151.5 | 160.2 notes/s | 330 MiB | 6,210 / 0 |" in ray
    assert "| `--engine ray --num-actors 1` | 80 s | 77.6 | 90.1 notes/s | 250 MiB | 6,210 / 0 |" in ray
    assert "byte-identical (`cmp`)" in ray
    for block in (memory, lexicon, ray):
        assert "One run of `python -m bench.engines` (2026-12-05, git abc1234)" in block
        assert "load average 0.3 before and 1.6 after" in block and "Compare rows of this run only." in block
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "\n".join(["a", *MARKERS["memory"], "b", MARKERS["lexicon"][0], "old", MARKERS["lexicon"][1], ""]), "utf-8")
    (tmp_path / "docs" / "ray.md").write_text("\n".join(["x", *MARKERS["ray"], "y", ""]), "utf-8")
    assert write_readme(check=True, root=tmp_path) == 1
    assert write_readme(root=tmp_path) == 0
    assert write_readme(check=True, root=tmp_path) == 0
    assert memory in (tmp_path / "README.md").read_text("utf-8")
    assert ray in (tmp_path / "docs" / "ray.md").read_text("utf-8")


def test_readme_engines_blocks_say_when_signals_or_outputs_differ(tmp_path: Path) -> None:
    run = json.loads(json.dumps(RUN))
    run["engines_bench"]["lexicon"].update(identical=False, notes_differing=["n1", "n2"])
    run["engines_bench"]["engines"]["byte_identical"] = False
    runs = tmp_path / "bench" / "results" / "engines"
    runs.mkdir(parents=True)
    (runs / "2026-12-05-0300.json").write_text(json.dumps(run), "utf-8")
    assert "signals that differ on 2+ notes from `re`" in render("lexicon", tmp_path)
    assert "**not** byte-identical" in render("ray", tmp_path)
    with pytest.raises(ValueError, match="unknown block 'speed'"):
        render("speed", tmp_path)
