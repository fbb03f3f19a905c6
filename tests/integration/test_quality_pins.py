"""The shipped model may not regress silently: its figures on the held-out writer, on the real
development notes and on the authored writers it never trained on are pinned
(tests/data/quality_pins.json, written by `python -m training.quality --write`), and this test fails
when the default path now scores more than one point below a pin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.model import default_model_dir
from training.quality import PINNED, PINS, REAL_DEV, UNSEEN, eval_sets, measure, regressions


def test_quality_shipped_model_holds_its_pins() -> None:
    assert REAL_DEV.is_file(), f"the real development notes are missing: expected {REAL_DEV} (../shared beside the repo)"
    pins = json.loads(PINS.read_text("utf-8"))
    assert set(pins["sets"]) == {"held_out_writer_w5", "real_dev", UNSEEN} == set(eval_sets(default_model_dir()))
    now = measure()
    assert regressions(now, pins) == []
    # the pooled unseen writers are the files pinned, unchanged, each measured on its own too
    pinned_files = [(f["path"], f["sha256"]) for f in pins["sets"][UNSEEN]["files"]]
    assert pinned_files == [(f["path"], f["sha256"]) for f in now["sets"][UNSEEN]["files"]]
    assert sum(f["n"] for f in now["sets"][UNSEEN]["files"]) == now["sets"][UNSEEN]["n"]


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


def test_unseen_writers_are_the_seed_files_a_model_was_not_trained_on(tmp_path: Path) -> None:
    from training.quality import SEED_DIR, unseen_files

    seeds = sorted(SEED_DIR.glob("seed_w*.jsonl"))
    trained = [f"training/data/seed_w{i}.jsonl" for i in (1, 2, 3)]
    (tmp_path / "meta.json").write_text(json.dumps({"args": {"data": trained}}), "utf-8")
    unseen = unseen_files(tmp_path)
    assert {p.name for p in unseen} == {p.name for p in seeds} - {"seed_w1.jsonl", "seed_w2.jsonl", "seed_w3.jsonl"}
    assert [p.name for p in unseen][:2] == ["seed_w4.jsonl", "seed_w5.jsonl"]  # numeric order, w10 after w9
    assert unseen.index(SEED_DIR / "seed_w10.jsonl") == unseen.index(SEED_DIR / "seed_w9.jsonl") + 1
    (tmp_path / "meta.json").write_text(json.dumps({"args": {"data": [str(p) for p in seeds]}}), "utf-8")
    assert unseen_files(tmp_path) == []
    assert UNSEEN not in eval_sets(tmp_path)


@pytest.mark.parametrize(("first", "says_after"), [("2026-12-06T01:00:00+00:00", True),
                                                   ("2026-12-06T08:00:00+09:00", False), (None, False)])
def test_the_unseen_writers_line_says_written_after_only_when_every_file_is(first: str | None,
                                                                           says_after: bool) -> None:
    from training.quality import render_unseen

    files = [{**_fig(), "path": "training/data/seed_w12.jsonl", "first_committed": "2026-12-06T02:00:00+00:00"},
             {**_fig(macro_f1=0.8), "path": "training/data/seed_w13.jsonl", "first_committed": first}]
    text = render_unseen({**_fig(), "files": files}, {"created": "2026-12-06T00:30:00+00:00"})
    assert "w12, w13: never trained on" in text
    assert ("first committed after the model was trained" in text) is says_after
    assert "| w13 | 10 | 0.800 |" in text
    assert "in view when this model was chosen" not in text
    assert "in view when this model was chosen among the retrained candidates" in render_unseen(
        {**_fig(), "files": files}, {"created": "2026-12-06T00:30:00+00:00"}, chosen=True)


def test_chosen_over_names_the_other_candidates_only_for_a_compared_model(tmp_path: Path) -> None:
    from training.candidates import chosen_over

    path = tmp_path / "candidates.json"
    path.write_text(json.dumps({"a": {"name": "m", "version": "1", "created": "t1"},
                                "b": {"name": "m", "version": "2", "created": "t2"}}), "utf-8")
    assert chosen_over({"name": "m", "version": "1", "created": "t1"}, path) == ["b"]
    assert chosen_over({"name": "m", "version": "1", "created": "t0"}, path) is None  # retrained since
    assert chosen_over({"name": "m", "version": "1", "created": "t1"}, tmp_path / "none.json") is None


def test_the_real_notes_are_judged_the_same_with_their_topics_in_a_tag_field() -> None:
    """Exports that move the topics out of the text into a tag field (MediaCrawler's tag_list)
    lose no quality on the real dev notes: within one point of the notes as given (before the
    topics field reached the model, moving them cost 7 points of macro-F1)."""
    from training.forms import FORMS
    from training.forms import measure as measure_forms

    got = measure_forms(REAL_DEV, forms={k: FORMS[k] for k in ("as given", "topics in a tag field")})["forms"]
    moved, given = got["topics in a tag field"], got["as given"]
    assert moved["n"] == given["n"] == 116
    for key in PINNED:
        assert moved[key] >= given[key] - 0.01, key
    assert moved["genuine_flagged_ad"] <= given["genuine_flagged_ad"] + 0.01


def test_the_mix_table_names_the_policy_prior_and_every_set_with_an_estimate() -> None:
    from training.quality import render_mix

    mix = {"true": {"undisclosed_ad": 0.36, "declared": 0.04}, "estimated": {"undisclosed_ad": 0.34, "declared": 0.06},
           "low": {"undisclosed_ad": 0.26}, "high": {"undisclosed_ad": 0.43}}
    text = render_mix({"a": {**_fig(), "mix": mix}, "b": _fig()}, {"undisclosed_ad": 0.2, "declared": 0.05})
    assert "scores for 20% undisclosed ads and 5% declared notes" in text
    assert "| a | 0.360 | 0.340 | 0.260-0.430 | 0.040 | 0.060 |" in text and "| b |" not in text
    pins = json.loads(PINS.read_text("utf-8"))
    assert all(f["mix"]["low"]["undisclosed_ad"] <= f["mix"]["estimated"]["undisclosed_ad"]
               <= f["mix"]["high"]["undisclosed_ad"] for f in pins["sets"].values())


def test_bootstrap_intervals_are_scikit_learns_figures_on_resampled_notes() -> None:
    """One resample's interval is that resample's figures, as :func:`figures` (scikit-learn) gives
    them; many resamples bracket the set's own figure."""
    import numpy as np

    from classifier.types import LABELS
    from training.quality import figures, intervals

    rng = np.random.default_rng(3)
    truth = [str(t) for t in rng.choice(LABELS, 300, p=[0.6, 0.3, 0.1])]
    pred = [t if rng.random() < 0.8 else str(rng.choice(LABELS)) for t in truth]
    idx = np.random.default_rng(7).integers(0, len(truth), size=(1, len(truth)))[0]
    once = intervals(truth, pred, resamples=1, seed=7)
    resampled = figures([truth[i] for i in idx], [pred[i] for i in idx])
    for key in PINNED:
        assert once[key] == [resampled[key], resampled[key]]
    whole, many = figures(truth, pred), intervals(truth, pred)
    assert all(many[key][0] < whole[key] < many[key][1] for key in PINNED)
    assert intervals(["declared"] * 5, ["sharing"] * 5)["undisclosed_ad_recall"] == [0.0, 0.0]  # undefined: 0
