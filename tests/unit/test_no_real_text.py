"""No authored note copies a real one: the seed files share no run of 12 characters with the real dev
notes once the platform's topic markup, emoji codes and whitespace are taken out (those are the surface
form every crawled note has, not anybody's text)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from training.quality import REAL_DEV

SEEDS = sorted((Path(__file__).resolve().parents[2] / "training" / "data").glob("seed_w*.jsonl"))
FORM = re.compile(r"#[^#\n]{1,30}?\[话题\]#|\[[^\[\]\n]{1,8}\]|\s+")
N = 12


def _runs(text: str) -> set[str]:
    bare = FORM.sub("", text)
    return {bare[i:i + N] for i in range(len(bare) - N + 1)}


def _text(d: dict[str, object]) -> str:
    return f"{d.get('title') or ''}\n{d.get('text') or d.get('desc') or ''}"


def test_the_runs_ignore_only_the_surface_form() -> None:
    assert _runs("#好物分享[话题]# [笑哭R]\t今天") == set()
    assert _runs("一二三四五六 七八九十甲乙丙") == {"一二三四五六七八九十甲乙", "二三四五六七八九十甲乙丙"}


def test_no_authored_note_shares_a_run_of_text_with_a_real_note() -> None:
    assert REAL_DEV.is_file(), f"the real development notes are missing: expected {REAL_DEV}"
    assert len(SEEDS) >= 11
    real: set[str] = set()
    for line in REAL_DEV.read_text("utf-8").splitlines():
        real |= _runs(_text(json.loads(line)))
    shared = []
    for path in SEEDS:
        for line in path.read_text("utf-8").splitlines():
            d = json.loads(line)
            if found := _runs(_text(d)) & real:
                shared.append(f"{path.name} {d['id']}: {min(found)!r}")
    assert shared == []
