"""training.tuning's threshold rule: macro-F1 as scikit-learn computes it, and a one-standard-error
choice that keeps 0.5 on a flat objective and leaves it only for a gain beyond the noise."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from classifier.rules import Policy
from classifier.signals import Lexicon
from classifier.types import LABELS, Note
from training.data import Example
from training.tuning import tune_thresholds, weighted_macro_f1


def test_weighted_macro_f1_is_scikit_learns_for_every_weighting() -> None:
    rng = np.random.default_rng(5)
    y, pred = rng.integers(0, 3, 400), rng.integers(0, 3, 400)
    pred[:250] = y[:250]
    weights = rng.random((4, 400)) * (rng.random((4, 400)) > 0.3)
    got = weighted_macro_f1(y, pred, weights)
    want = [f1_score(y, pred, labels=[0, 1, 2], average="macro", sample_weight=w, zero_division=0.0)
            for w in weights]
    assert got == pytest.approx(want, abs=1e-12)
    assert weighted_macro_f1(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), np.ones((1, 3)))[0] == (
        pytest.approx(1 / 3))  # two labels absent from truth and predictions: 0, as zero_division=0


def _examples(ad_scores: list[float], labels: list[str]) -> tuple[np.ndarray, list[Example]]:
    proba = np.array([[1 - p - 0.01, p, 0.01] for p in ad_scores])
    notes = [Example(Note(id=f"n{i}", text="今天天气不错，出门走走。"), label, "authored", writer="w1")
             for i, label in enumerate(labels)]
    return proba, notes


@pytest.fixture(scope="module")
def plain_policy() -> Policy:
    """The packaged policy without its prior shift, so thresholds apply to the given scores."""
    return Policy.load().with_updates(priors=None)


def test_a_flat_objective_keeps_the_bayes_thresholds(plain_policy: Policy) -> None:
    rng = np.random.default_rng(1)
    labels = ["undisclosed_ad"] * 60 + ["sharing"] * 140
    scores = [float(rng.uniform(0.9, 0.99)) for _ in range(60)] + [float(rng.uniform(0.0, 0.1)) for _ in range(140)]
    proba, examples = _examples(scores, labels)
    assert tune_thresholds(proba, examples, plain_policy, Lexicon.load()) == {"undisclosed_ad": 0.5, "declared": 0.5}


def test_a_gain_beyond_the_noise_moves_the_threshold(plain_policy: Policy) -> None:
    rng = np.random.default_rng(2)
    labels = ["undisclosed_ad"] * 80 + ["sharing"] * 120
    scores = [float(rng.uniform(0.32, 0.45)) for _ in range(80)] + [float(rng.uniform(0.0, 0.2)) for _ in range(120)]
    proba, examples = _examples(scores, labels)
    chosen = tune_thresholds(proba, examples, plain_policy, Lexicon.load())
    assert 0.2 < chosen["undisclosed_ad"] <= 0.3  # every ad caught, no genuine note: far better than 0.5
    assert chosen["declared"] == 0.5  # no declared note either way: nothing says leave 0.5


def test_thresholds_of_no_examples_are_the_bayes_ones(plain_policy: Policy) -> None:
    assert tune_thresholds(np.zeros((0, len(LABELS))), [], plain_policy, Lexicon.load()) == {
        "undisclosed_ad": 0.5, "declared": 0.5}
