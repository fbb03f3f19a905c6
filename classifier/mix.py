"""A feed's label mix estimated from the model's scores alone, without labels.

The policy moves the model's scores from the label mix it was calibrated on (``priors.model``) to
the mix of the feed it runs on (``priors.deployment``; :mod:`classifier.decide`). A deployment rarely
knows that mix: a general feed holds few ads, a brand's campaign audit mostly commercial notes.
:func:`estimate_mix` reads it from a scored dump by the EM of Saerens, Latinne and Decaestecker
(2002, "Adjusting the outputs of a classifier to new a priori probabilities"): move every note's
scores to the current estimate, average them, repeat until the estimate stands still. It is exact
when the model is calibrated on its own mix and the notes differ from its training notes only in
that mix; it errs with the model's calibration on the feed. A bootstrap over the notes gives the
interval the sample size allows. Pure: numpy only.

(QuaPy's ``EMQ.EM`` is the same fifteen lines; the package brings pandas, matplotlib, xlrd and
ucimlrepo with it, so they are written here.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from classifier.types import LABELS

FloatArray = npt.NDArray[np.float64]
BOOTSTRAP_NOTES = 20_000


@dataclass(frozen=True)
class MixEstimate:
    """The estimated share of each label, a bootstrap interval per label and the run's facts."""

    mix: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    n: int
    iterations: int
    converged: bool


def em_mix(scores: FloatArray, model_prior: FloatArray, *, tol: float = 1e-7,
           max_iter: int = 1000) -> tuple[FloatArray, int, bool]:
    """The EM fixed point: ``(mix, iterations, converged)`` for an ``n x labels`` score matrix whose
    rows are posteriors under ``model_prior``."""
    mix = model_prior.copy()
    for i in range(1, max_iter + 1):
        moved = scores * (mix / model_prior)
        new = (moved / moved.sum(axis=1, keepdims=True)).mean(axis=0)
        if float(np.abs(new - mix).max()) < tol:
            return new, i, True
        mix = new
    return mix, max_iter, False


def estimate_mix(scores: FloatArray, model_prior: Mapping[str, float], *, bootstrap: int = 200,
                 level: float = 0.9, seed: int = 13) -> MixEstimate:
    """The label mix of the notes whose model scores (rows in :data:`LABELS` order) are given, with a
    ``level`` bootstrap interval from ``bootstrap`` resamples of the notes."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(LABELS) or len(scores) == 0:
        raise ValueError(f"expected a non-empty n x {len(LABELS)} score matrix, got shape {scores.shape}")
    prior = np.array([float(model_prior[lab]) for lab in LABELS])
    scores = np.clip(scores, 1e-9, None)
    mix, iterations, converged = em_mix(scores, prior)
    # resamples of at most BOOTSTRAP_NOTES notes, their spread scaled to the whole sample (sqrt(m/n))
    m = min(len(scores), BOOTSTRAP_NOTES)
    rng = np.random.default_rng(seed)
    draws = np.array([em_mix(scores[rng.integers(0, len(scores), m)], prior)[0] for _ in range(bootstrap)])
    spread = (draws - draws.mean(axis=0)) * np.sqrt(m / len(scores)) if bootstrap else np.zeros((1, len(LABELS)))
    tail = (1.0 - level) / 2
    low = np.clip(mix + np.quantile(spread, tail, axis=0), 0.0, 1.0)
    high = np.clip(mix + np.quantile(spread, 1.0 - tail, axis=0), 0.0, 1.0)

    def named(v: FloatArray) -> dict[str, float]:
        return {lab: round(float(x), 4) for lab, x in zip(LABELS, v, strict=True)}

    return MixEstimate(named(mix), named(low), named(high), len(scores), iterations, converged)
