"""The shipped model may not regress silently: its figures on the held-out writer and on the real
development notes are pinned (tests/data/quality_pins.json, written by `python -m training.quality
--write`), and this test fails when the default path now scores more than one point below a pin."""

from __future__ import annotations

import json

import pytest

from training.quality import PINNED, PINS, REAL_DEV, measure, regressions


def test_quality_shipped_model_holds_its_pins() -> None:
    assert REAL_DEV.is_file(), f"the real development notes are missing: expected {REAL_DEV} (../shared beside the repo)"
    pins = json.loads(PINS.read_text("utf-8"))
    assert set(pins["sets"]) == {"held_out_writer_w5", "real_dev"}
    now = measure()
    assert regressions(now, pins) == []


def _fig(**kw: float) -> dict[str, float]:
    base = {"n": 10, "macro_f1": 0.9, "undisclosed_ad_f1": 0.9, "undisclosed_ad_recall": 0.9,
            "genuine_flagged_ad": 0.02}
    return {**base, **kw}


@pytest.mark.parametrize("key", PINNED)
def test_quality_regressions_catch_a_drop_beyond_one_point(key: str) -> None:
    pins = {"sets": {"s": _fig()}}
    assert regressions({"sets": {"s": _fig(**{key: 0.895})}}, pins) == []
    (problem,) = regressions({"sets": {"s": _fig(**{key: 0.885})}}, pins)
    assert key in problem


def test_quality_regressions_catch_more_false_alarms_and_a_missing_set() -> None:
    pins = {"sets": {"s": _fig(), "t": _fig()}}
    problems = regressions({"sets": {"s": _fig(genuine_flagged_ad=0.05)}}, pins)
    assert any("genuine_flagged_ad" in p for p in problems) and any("t: not measured" in p for p in problems)
