"""Scores + rule hits + thresholds -> Verdict. Pure: no I/O, no model, no globals.

How the verdict is made:

1. The policy's rules are evaluated on the note, its signals and the model's probabilities.
2. The model's log-probabilities (scaled by the policy's ``model_weight``) are moved from the
   model's label prior to the deployment's (``priors``: plus ``log(deployment / model)``), each
   fired rule's ``add`` deltas are added, and the result is renormalised (softmax) into the
   verdict's ``scores``. With no priors, no rule firing and ``model_weight`` 1, ``scores`` equal
   the model's.
3. The label: a fired ``settle`` rule decides it (first in policy order); otherwise the non-sharing
   label with the highest score among those at or above their threshold; otherwise ``sharing``.
4. The decision: ``undisclosed_ad`` is ``block`` at or above the block band, else ``review``;
   other labels ``pass`` unless p(undisclosed_ad) reaches ``review_ad`` or the top score is below
   ``min_confidence`` (then ``review``); a fired rule's ``decision`` can only make it stricter,
   its ``cap`` only milder.
5. Grounds (``classifier.grounds``): a commercial label names the act and the object it rests on
   (reason ``GROUNDS``, e.g. "selling of “洗发水”: 卖完无补", and, where they are spans of the note,
   ``GROUNDS-ACT`` and ``GROUNDS-OBJECT`` with their offsets); with none, the verdict rests on the
   model alone (reason ``UNGROUNDED``) and is never blocked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from classifier.grounds import find_grounds
from classifier.rules import DECISION_ORDER, Facts, Policy, RuleHit, strongest
from classifier.types import LABELS, Decision, Label, Note, Reason, Signal, Verdict

MODEL_RULE = "MODEL"
GROUNDS_RULE = "GROUNDS"
UNGROUNDED_RULE = "UNGROUNDED"
COMMERCIAL: tuple[Label, ...] = ("undisclosed_ad", "declared")


def combine(
    model_scores: Mapping[str, float], hits: Sequence[RuleHit], model_weight: float = 1.0,
    prior_shift: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Model log-probabilities (times ``model_weight``), moved to the deployment prior
    (``prior_shift``: ``log(deployment / model)`` per label) and shifted by the fired rules'
    deltas, renormalised."""
    logits = {label: model_weight * math.log(max(float(model_scores[label]), 1e-9)) for label in LABELS}
    for label, shift in (prior_shift or {}).items():
        logits[label] += shift
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
    decision = strongest([decision, *rule_decisions])
    for cap in (hit.rule.cap for hit in hits if hit.rule.cap is not None):
        decision = min(decision, cap, key=DECISION_ORDER.__getitem__)
    return decision  # type: ignore[return-value]


def prior_shift(policy: Policy) -> dict[str, float] | None:
    return policy.spec.priors.log_ratio() if policy.spec.priors is not None else None


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
    scores = combine(model_scores, hits, policy.spec.model_weight, prior_shift(policy))
    label = choose_label(scores, hits, policy)
    decision = choose_decision(label, scores, hits, policy)
    top = max(LABELS, key=lambda lab: model_scores[lab])
    reasons = [Reason(MODEL_RULE, f"{model_version}: p({top})={float(model_scores[top]):.2f}")]
    for hit in hits:
        reasons.extend(hit.reasons)
    if label in COMMERCIAL:
        grounds = find_grounds(note, signals)
        if grounds is None:
            reasons.append(Reason(UNGROUNDED_RULE, "no commercial act found (selling, gifting, payment, "
                                                   "self-promotion, diversion): the model alone; never blocked"))
            decision = min(decision, "review", key=DECISION_ORDER.__getitem__)
        else:
            reasons.append(Reason(GROUNDS_RULE, grounds.describe()))
            if grounds.act_field is not None:  # evidence with offsets is always the span itself
                reasons.append(Reason(f"{GROUNDS_RULE}-ACT", grounds.act_evidence, grounds.act_field,
                                      grounds.act_start, grounds.act_end))
            if grounds.object_field is not None and grounds.object is not None:
                reasons.append(Reason(f"{GROUNDS_RULE}-OBJECT", grounds.object, grounds.object_field,
                                      grounds.object_start, grounds.object_end))
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
