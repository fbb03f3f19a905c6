"""decide: scores + rule hits + thresholds -> Verdict."""

from __future__ import annotations

import pytest

from classifier.decide import MODEL_RULE, combine, decide
from classifier.rules import Policy
from classifier.types import LABELS, Note, Signal


def scores(s: float, a: float, d: float) -> dict[str, float]:
    return dict(zip(LABELS, (s, a, d), strict=True))


def sig(kind: str, text: str, start: int) -> Signal:
    return Signal(kind=kind, entry="T", text=text, field="text", start=start, end=start + len(text))


NOTE = Note(id="n", text="hello")


def test_decide_no_rules_keeps_model_scores(policy: Policy) -> None:
    v = decide(NOTE, [], scores(0.9, 0.05, 0.05), policy, "m@1")
    assert v.label == "sharing" and v.decision == "pass"
    assert v.scores == pytest.approx(scores(0.9, 0.05, 0.05), abs=1e-6)
    assert v.reasons[0].rule == MODEL_RULE and "m@1" in v.reasons[0].evidence
    assert (v.model_version, v.policy_version) == ("m@1", policy.version)


@pytest.mark.parametrize(
    ("p", "label", "decision"),
    [
        ((0.05, 0.93, 0.02), "undisclosed_ad", "block"),
        ((0.3, 0.6, 0.1), "undisclosed_ad", "review"),
        ((0.1, 0.1, 0.8), "declared", "pass"),
        ((0.55, 0.4, 0.05), "sharing", "review"),  # p(ad) >= review_ad
        ((0.45, 0.2, 0.35), "sharing", "review"),  # top score below min_confidence
    ],
)
def test_decide_bands(policy: Policy, p: tuple[float, float, float], label: str, decision: str) -> None:
    v = decide(NOTE, [], scores(*p), policy, "m")
    assert (v.label, v.decision) == (label, decision)


def test_decide_sponsor_flag_settles_declared(policy: Policy) -> None:
    v = decide(Note(id="f", text="x", sponsor_flag=True), [], scores(0.1, 0.85, 0.05), policy, "m")
    assert v.label == "declared"
    assert v.scores["declared"] > 0.9
    assert any(r.rule == "R01-PLATFORM-SPONSOR-FLAG" for r in v.reasons)


def test_decide_diversion_raises_ad_score_and_forces_review(policy: Policy) -> None:
    note = Note(id="d", text="加薇信abc123")
    v = decide(note, [sig("diversion", "薇信abc123", 1)], scores(0.7, 0.25, 0.05), policy, "m")
    assert v.scores["undisclosed_ad"] > 0.25
    assert v.decision in ("review", "block")
    reason = next(r for r in v.reasons if r.rule == "R03-DIVERSION-UNDISCLOSED")
    assert (reason.start, reason.end) == (1, 9)


def test_decide_thresholds_are_per_label(policy: Policy) -> None:
    strict = policy.with_updates(thresholds={"undisclosed_ad": 0.8, "declared": 0.5})
    assert decide(NOTE, [], scores(0.35, 0.6, 0.05), strict, "m").label == "sharing"
    assert decide(NOTE, [], scores(0.35, 0.6, 0.05), policy, "m").label == "undisclosed_ad"


def test_decide_combine_is_normalised_and_monotone() -> None:
    from classifier.rules import Rule, RuleHit

    rule = Rule.model_validate({"id": "X", "when": {"signal": "price"}, "add": {"undisclosed_ad": 1.0}})
    base = scores(0.5, 0.3, 0.2)
    out = combine(base, [RuleHit(rule, ())])
    assert sum(out.values()) == pytest.approx(1.0)
    assert out["undisclosed_ad"] > base["undisclosed_ad"]
    assert combine(base, []) == pytest.approx(base)
