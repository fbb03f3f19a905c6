"""Scores + rule hits + thresholds -> Verdict. Pure: no I/O, no model, no globals.

How the verdict is made:

1. The policy's rules are evaluated on the note, its signals and the model's probabilities.
2. Each fired rule's ``add`` deltas are added to the log-probabilities (scaled by the policy's
   ``model_weight``), which are renormalised (softmax) into the verdict's ``scores``. With no rule
   firing and ``model_weight`` 1, ``scores`` equal the model's.
3. The label: a fired ``settle`` rule decides it (first in policy order); otherwise the non-sharing
   label with the highest score among those at or above their threshold; otherwise ``sharing``.
4. The decision: ``undisclosed_ad`` is ``block`` at or above the block band, else ``review``;
   other labels ``pass`` unless p(undisclosed_ad) reaches ``review_ad`` or the top score is below
   ``min_confidence`` (then ``review``); a fired rule's ``decision`` can only make it stricter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from classifier.rules import Facts, Policy, RuleHit, strongest
from classifier.types import LABELS, Decision, Label, Note, Reason, Signal, Verdict

MODEL_RULE = "MODEL"


def combine(
    model_scores: Mapping[str, float], hits: Sequence[RuleHit], model_weight: float = 1.0
) -> dict[str, float]:
    """Model log-probabilities (times ``model_weight``) shifted by the fired rules' deltas,
    renormalised."""
    logits = {label: model_weight * math.log(max(float(model_scores[label]), 1e-9)) for label in LABELS}
    for hit in hits:
        for label, delta in hit.rule.add.items():
            logits[label] += delta
    top = max(logits.values())
    exp = {label: math.exp(v - top) for label, v in logits.items()}
    total = sum(exp.values())
    return {label: exp[label] / total for label in LABELS}


def choose_label(scores: Mapping[str, float], hits: Sequence[RuleHit], policy: Policy) -> Label:
    for hit in hits:
        if hit.rule.settle is not None:
            return hit.rule.settle  # type: ignore[return-value]
    non_sharing: tuple[Label, ...] = ("undisclosed_ad", "declared")
    candidates = [
        label for label in non_sharing if scores[label] >= policy.spec.thresholds.get(label, 0.5)
    ]
    if not candidates:
        return "sharing"
    return max(candidates, key=lambda label: scores[label])


def choose_decision(
    label: str, scores: Mapping[str, float], hits: Sequence[RuleHit], policy: Policy
) -> Decision:
    bands = policy.spec.bands
    if label == "undisclosed_ad":
        decision = "block" if scores["undisclosed_ad"] >= bands.block else "review"
    elif scores["undisclosed_ad"] >= bands.review_ad or max(scores.values()) < bands.min_confidence:
        decision = "review"
    else:
        decision = "pass"
    rule_decisions = [hit.rule.decision for hit in hits if hit.rule.decision is not None]
    return strongest([decision, *rule_decisions])  # type: ignore[return-value]


def decide(
    note: Note,
    signals: Sequence[Signal],
    model_scores: Mapping[str, float],
    policy: Policy,
    model_version: str,
) -> Verdict:
    """The verdict for one note; every verdict records scores, rule ids and versions."""
    facts = Facts(note=note, signals=tuple(signals), scores=model_scores)
    hits = policy.evaluate(facts)
    scores = combine(model_scores, hits, policy.spec.model_weight)
    label = choose_label(scores, hits, policy)
    decision = choose_decision(label, scores, hits, policy)
    top = max(LABELS, key=lambda lab: model_scores[lab])
    reasons = [Reason(MODEL_RULE, f"{model_version}: p({top})={float(model_scores[top]):.2f}")]
    for hit in hits:
        reasons.extend(hit.reasons)
    return Verdict(
        id=note.id,
        label=label,
        scores={k: round(v, 6) for k, v in scores.items()},
        decision=decision,
        reasons=tuple(reasons),
        model_version=model_version,
        policy_version=policy.version,
        model_scores={k: round(float(model_scores[k]), 6) for k in LABELS},
    )
