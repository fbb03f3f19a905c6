"""A feed's label mix from the model's scores (classifier.mix) and the verdict files it is read from
(training.mix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.errors import InputError
from classifier.mix import MixEstimate, em_mix, estimate_mix
from classifier.rules import Priors
from classifier.types import LABELS
from training.mix import prior_argument, read_model_scores

# P(kind | label) for five kinds of note: scores that are exact posteriors under MODEL_PRIOR
KINDS = np.array([[0.7, 0.1, 0.05], [0.2, 0.3, 0.05], [0.05, 0.5, 0.1], [0.04, 0.08, 0.3], [0.01, 0.02, 0.5]])
KINDS = KINDS / KINDS.sum(axis=0, keepdims=True)
MODEL_PRIOR = np.array([0.5, 0.3, 0.2])


def feed(mix: list[float], n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, n, p=mix)
    kinds = np.array([rng.choice(5, p=KINDS[:, y]) for y in labels])
    post = KINDS[kinds] * MODEL_PRIOR
    return np.asarray(post / post.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("true", [[0.84, 0.12, 0.04], [0.2, 0.5, 0.3], [0.5, 0.3, 0.2]])
def test_em_finds_the_mix_of_a_feed_scored_by_a_model_calibrated_on_another(true: list[float]) -> None:
    est = estimate_mix(feed(true, 8000), dict(zip(LABELS, MODEL_PRIOR, strict=True)), bootstrap=60)
    assert est.converged and est.n == 8000
    for lab, share in zip(LABELS, true, strict=True):
        assert abs(est.mix[lab] - share) < 0.03, (lab, est.mix)
        assert est.low[lab] <= est.mix[lab] <= est.high[lab]
    if true != MODEL_PRIOR.tolist():  # the average of the scores stays nearer the model's own mix
        naive = feed(true, 8000).mean(axis=0)
        assert abs(est.mix["undisclosed_ad"] - true[1]) < abs(naive[1] - true[1])


def test_the_interval_narrows_with_more_notes_and_a_fixed_point_is_kept() -> None:
    prior = dict(zip(LABELS, MODEL_PRIOR, strict=True))
    small = estimate_mix(feed([0.84, 0.12, 0.04], 300), prior, bootstrap=60)
    large = estimate_mix(feed([0.84, 0.12, 0.04], 6000), prior, bootstrap=60)
    def width(e: MixEstimate) -> float:
        return e.high["undisclosed_ad"] - e.low["undisclosed_ad"]

    assert width(large) < width(small)
    mix, iterations, converged = em_mix(np.array([[0.5, 0.3, 0.2]] * 10), MODEL_PRIOR)
    assert converged and iterations == 1 and np.allclose(mix, MODEL_PRIOR)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.ones((4, 2)), np.ones(3)])
def test_estimate_mix_refuses_a_matrix_of_the_wrong_shape(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="score matrix"):
        estimate_mix(bad, dict(zip(LABELS, MODEL_PRIOR, strict=True)))


def test_prior_argument_is_a_valid_deployment_prior() -> None:
    text = prior_argument({"sharing": 0.60749, "undisclosed_ad": 0.33651, "declared": 0.0000001})
    assert text == "sharing=0.662,undisclosed_ad=0.337,declared=0.001"  # shares kept, sharing the rest
    shares = {k: float(v) for k, v in (part.split("=") for part in text.split(","))}
    Priors(model={"sharing": 0.5, "undisclosed_ad": 0.3, "declared": 0.2}, deployment=shares)


def _verdict(model: str = "m@1+onnx", **scores: float) -> str:
    return json.dumps({"id": "n", "model_version": model,
                       "model_scores": scores or {"sharing": 0.7, "undisclosed_ad": 0.2, "declared": 0.1}})


def test_read_model_scores_reads_verdicts_and_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "v.jsonl"
    good.write_text(_verdict() + "\n\n" + _verdict("m@1") + "\n", "utf-8")
    assert read_model_scores([good], "m@1").tolist() == [[0.7, 0.2, 0.1]] * 2
    cases = [("not json", "row 2", "invalid JSON"),
             (json.dumps({"row": 3, "reason": "x"}), "field 'model_scores'", "errors file"),
             (_verdict("m@12"), "field 'model_version'", "scored by model 'm@12', not m@1")]
    for line, where, why in cases:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(_verdict() + "\n" + line + "\n", "utf-8")
        with pytest.raises(InputError) as err:
            read_model_scores([bad], "m@1")
        assert where in str(err.value) and why in str(err.value) and str(bad) in str(err.value)
    (tmp_path / "empty.jsonl").write_text("", "utf-8")
    with pytest.raises(InputError, match="no verdicts"):
        read_model_scores([tmp_path / "empty.jsonl"], "m@1")
