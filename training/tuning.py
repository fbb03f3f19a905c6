"""Post-fit steps shared by every model kind: calibration, thresholds, and the three-way evaluation
(model alone, rules alone, combined pipeline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.decide import UNGROUNDED_RULE, choose_label, combine, prior_shift
from classifier.model import PriorModel, model_text, softmax
from classifier.pipeline import Pipeline
from classifier.rules import Facts, Policy, RuleHit
from classifier.signals import Lexicon, extract_signals
from classifier.types import LABELS, Verdict
from training.data import Example
from training.evaluate import Scored, confusions, f1_of_confusions, metrics

FloatArray = npt.NDArray[np.float64]


def fit_temperature(logits: FloatArray, y: Sequence[str]) -> float:
    """The temperature minimising validation NLL (a grid, then a local refinement)."""
    idx = np.array([LABELS.index(v) for v in y])

    def nll(t: float) -> float:
        p = softmax(logits / t)
        return float(-np.log(np.clip(p[np.arange(len(idx)), idx], 1e-12, None)).mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 200))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.9, best * 1.1, 41)
    return float(min(fine, key=nll))


@dataclass(frozen=True)
class _Prepared:
    scores: dict[str, float]
    settle: str | None


def _prepare(proba: FloatArray, examples: Sequence[Example], policy: Policy, lexicon: Lexicon) -> list[_Prepared]:
    out = []
    for x, row in zip(examples, proba, strict=True):
        model_scores = dict(zip(LABELS, (float(v) for v in row), strict=True))
        hits: list[RuleHit] = policy.evaluate(Facts(x.note, extract_signals(x.note, lexicon), model_scores))
        settle = next((h.rule.settle for h in hits if h.rule.settle), None)
        out.append(_Prepared(combine(model_scores, hits, policy.spec.model_weight, prior_shift(policy)), settle))
    return out


def deployment_weights(examples: Sequence[Example], policy: Policy) -> FloatArray:
    """Per-example weights that turn the examples' label mix into the policy's deployment prior
    (importance weights ``deployment[y] / share[y]``); all ones when the policy has no priors."""
    truth = [x.label for x in examples]
    if policy.spec.priors is None or not truth:
        return np.ones(len(truth))
    share = {lab: truth.count(lab) / len(truth) for lab in LABELS}
    dep = policy.spec.priors.deployment
    return np.array([dep[y] / share[y] for y in truth])


THRESHOLD_GRID = tuple(float(t) for t in np.round(np.arange(0.2, 0.851, 0.05), 2))
THRESHOLD_RESAMPLES = 200
"""Paired bootstrap resamples of the validation notes behind :func:`tune_thresholds`' standard errors."""


def weighted_macro_f1(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], weights: FloatArray) -> FloatArray:
    """Macro-F1 over :data:`LABELS` as scikit-learn's ``f1_score(average="macro", sample_weight=...,
    zero_division=0)`` gives it, for each row of ``weights`` (one weighting of the notes per row)."""
    macro: FloatArray = f1_of_confusions(confusions(y, pred, weights)).mean(axis=1)
    return macro


def tune_thresholds(
    proba: FloatArray, examples: Sequence[Example], policy: Policy, lexicon: Lexicon, *,
    resamples: int = THRESHOLD_RESAMPLES, seed: int = 0,
) -> dict[str, float]:
    """Per-label thresholds of the combined pipeline, by a one-standard-error rule on its validation
    macro-F1, the validation examples weighted to the policy's deployment prior (so thresholds follow
    the prior): of the grid's pairs whose macro-F1 is within one standard error of the best pair's
    (the error of their difference, over paired bootstrap resamples of the validation notes), the
    pair nearest 0.5, where the label is the Bayes decision on scores already moved to the deployment
    prior. On authored validation notes the objective is nearly flat, and the best pair alone swung
    the undisclosed_ad threshold from 0.45 to 0.75 between runs of one recipe: a difference smaller
    than its own noise is no reason to leave 0.5."""
    prepared = _prepare(proba, examples, policy, lexicon)
    if not prepared:
        return {"undisclosed_ad": 0.5, "declared": 0.5}
    y = np.array([LABELS.index(x.label) for x in examples])
    pairs = [(t_ad, t_decl) for t_ad in THRESHOLD_GRID for t_decl in THRESHOLD_GRID]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y)), size=resamples).astype(float)
    weights = deployment_weights(examples, policy) * np.vstack([np.ones(len(y)), draws])
    objective = np.empty((resamples + 1, len(pairs)))
    for c, (t_ad, t_decl) in enumerate(pairs):
        trial = policy.with_updates(thresholds={"undisclosed_ad": t_ad, "declared": t_decl})
        pred = np.array([LABELS.index(p.settle or choose_label(p.scores, [], trial)) for p in prepared])
        objective[:, c] = weighted_macro_f1(y, pred, weights)
    full = np.round(objective[0], 9)
    distance = np.array([abs(t_ad - 0.5) + abs(t_decl - 0.5) for t_ad, t_decl in pairs])
    best = max(range(len(pairs)), key=lambda c: (full[c], -distance[c]))
    noise = (objective[1:, [best]] - objective[1:]).std(axis=0, ddof=1) if resamples > 1 else np.zeros(len(pairs))
    near = [c for c in range(len(pairs)) if full[best] - full[c] <= noise[c]]
    chosen = min(near, key=lambda c: (distance[c], -full[c]))
    return {"undisclosed_ad": pairs[chosen][0], "declared": pairs[chosen][1]}


def evaluate_three_ways(
    model: Any, policy: Policy, lexicon: Lexicon, examples: Sequence[Example], proba: FloatArray | None = None
) -> dict[str, dict[str, Any]]:
    """Metrics of the model alone (argmax), the rules alone (a uniform prior in place of the model,
    neutral 0.5 thresholds: the tuned ones fit the model's scores, not a flat prior) and the
    combined pipeline."""
    notes = [x.note for x in examples]
    truth = [x.label for x in examples]
    if proba is None:
        proba = model.predict_proba(notes) if notes else np.zeros((0, 3))
    model_pred = [LABELS[i] for i in proba.argmax(axis=1)] if len(notes) else []
    out = {"model": metrics(Scored(truth, model_pred, proba))}
    for name, pipe in (
        ("rules", Pipeline(PriorModel(), policy.with_updates(
            thresholds={"undisclosed_ad": 0.5, "declared": 0.5}, model_weight=1.0), lexicon)),
        ("combined", _FixedProba(model, proba, notes).pipeline(policy, lexicon)),
    ):
        verdicts = pipe.score_batch(notes) if notes else []
        scores = np.array([[v.scores[k] for k in LABELS] for v in verdicts]).reshape(-1, 3)
        out[name] = metrics(Scored(truth, [v.label for v in verdicts], scores))
        if name == "combined":
            out[name]["grounding"] = grounding(verdicts)
            out[name]["worst_errors"] = worst_errors(examples, verdicts)
    return out


def grounding(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """How many commercial verdicts name an act (``GROUNDS``) and how many rest on the model alone
    (``UNGROUNDED``: decision capped at review)."""
    commercial = [v for v in verdicts if v.label != "sharing"]
    alone = sum(any(r.rule == UNGROUNDED_RULE for r in v.reasons) for v in commercial)
    return {"commercial": len(commercial), "model_alone": alone, "grounded": len(commercial) - alone}


def worst_errors(examples: Sequence[Example], verdicts: Sequence[Verdict], k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` most confident wrong verdicts, with the note's text (for error analysis)."""
    wrong = [(v.scores[v.label], x, v) for x, v in zip(examples, verdicts, strict=True) if v.label != x.label]
    wrong.sort(key=lambda t: -t[0])
    return [{"id": x.note.id, "truth": x.label, "predicted": v.label, "decision": v.decision,
             "p": round(p, 3), "rules": list(dict.fromkeys(r.rule for r in v.reasons[1:])),
             "text": (x.note.title + " | " + x.note.text).strip(" |")[:160]}
            for p, x, v in wrong[:k]]


class _FixedProba:
    """Replays probabilities already computed for these notes (no second model pass)."""

    classes_ = LABELS

    def __init__(self, model: Any, proba: FloatArray, notes: Sequence[Any]) -> None:
        self._version = str(model.version)
        self._rows = {id(n): row for n, row in zip(notes, proba, strict=True)}

    @property
    def version(self) -> str:
        return self._version

    def predict_proba(self, notes: Sequence[Any]) -> FloatArray:
        return np.array([self._rows[id(n)] for n in notes]).reshape(-1, 3)

    def pipeline(self, policy: Policy, lexicon: Lexicon) -> Pipeline:
        return Pipeline(self, policy, lexicon)


def texts_of(examples: Sequence[Example]) -> list[str]:
    return [model_text(x.note) for x in examples]


def fit_rule_weights(
    proba: FloatArray, examples: Sequence[Example], policy: Policy, lexicon: Lexicon, strength: float = 1.0
) -> Policy:
    """Refit ``model_weight`` and every rule's ``add`` deltas on labelled (validation) examples by
    penalised maximum likelihood of the combined scores, shrunk toward the policy's own values
    (``strength`` is the L2 pull), so a rule that rarely fires keeps the weight its author gave it.
    Rules that settle a label keep their deltas; conditions, settles and decisions never change."""
    from scipy.optimize import minimize

    fitted = [i for i, r in enumerate(policy.rules) if r.add and r.settle is None]
    if not fitted or not examples:
        return policy
    logp = np.log(np.clip(proba, 1e-9, 1.0))
    fired = np.zeros((len(examples), len(fitted)))
    fixed = np.zeros((len(examples), len(LABELS)))
    for n, (x, row) in enumerate(zip(examples, proba, strict=True)):
        scores = dict(zip(LABELS, (float(v) for v in row), strict=True))
        hit_ids = {h.rule.id for h in policy.evaluate(Facts(x.note, extract_signals(x.note, lexicon), scores))}
        for k, i in enumerate(fitted):
            fired[n, k] = policy.rules[i].id in hit_ids
        for rule in policy.rules:
            if rule.settle is not None and rule.id in hit_ids:
                fixed[n] += [rule.add.get(lab, 0.0) for lab in LABELS]
    y = np.array([LABELS.index(x.label) for x in examples])
    prior = np.array([[policy.rules[i].add.get(lab, 0.0) for lab in LABELS] for i in fitted])
    w0 = policy.spec.model_weight
    shift = np.array([(prior_shift(policy) or {}).get(lab, 0.0) for lab in LABELS])
    sw = deployment_weights(examples, policy)
    sw = sw * len(sw) / sw.sum()

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w, deltas = theta[0], theta[1:].reshape(len(fitted), len(LABELS))
        z = w * logp + shift + fired @ deltas + fixed
        p = softmax(z)
        nll = -(sw * np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))).sum()
        diff = deltas - prior
        penalty = 0.5 * strength * float((diff**2).sum() + (w - w0) ** 2)
        grad_z = p.copy()
        grad_z[np.arange(len(y)), y] -= 1.0
        grad_z *= sw[:, None]
        grad_w = float((grad_z * logp).sum()) + strength * (w - w0)
        grad_d = fired.T @ grad_z + strength * diff
        return float(nll) + penalty, np.concatenate([[grad_w], grad_d.ravel()])

    theta0 = np.concatenate([[w0], prior.ravel()])
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B",
                      bounds=[(0.05, 10.0)] + [(None, None)] * prior.size)
    w, deltas = float(result.x[0]), result.x[1:].reshape(len(fitted), len(LABELS))
    data = policy.to_dict()
    for k, i in enumerate(fitted):
        centred = deltas[k] - deltas[k].mean()  # softmax is invariant to a common shift
        data["rules"][i]["add"] = {lab: round(float(v), 4) for lab, v in zip(LABELS, centred, strict=True)
                                   if abs(v) >= 1e-4}
        if not data["rules"][i]["add"] and not data["rules"][i].get("decision"):
            data["rules"][i]["add"] = {LABELS[0]: 0.0}
    data["model_weight"] = round(w, 4)
    return Policy.from_dict(data, policy.source)
