"""decide: scores + rule hits + thresholds -> Verdict."""

from __future__ import annotations

import pytest

from classifier.decide import GROUNDS_RULE, MODEL_RULE, UNGROUNDED_RULE, combine, decide
from classifier.rules import Policy
from classifier.types import LABELS, Note, Signal


def scores(s: float, a: float, d: float) -> dict[str, float]:
    return dict(zip(LABELS, (s, a, d), strict=True))


def sig(kind: str, text: str, start: int) -> Signal:
    return Signal(kind=kind, entry="T", text=text, field="text", start=start, end=start + len(text))


NOTE = Note(id="n", text="hello")


@pytest.fixture
def bare(policy: Policy) -> Policy:
    """The packaged bands and thresholds with no rules and no prior shift."""
    return policy.with_updates(rules=[], priors=None)


def test_decide_no_rules_keeps_model_scores(bare: Policy) -> None:
    v = decide(NOTE, [], scores(0.9, 0.05, 0.05), bare, "m@1")
    assert v.label == "sharing" and v.decision == "pass"
    assert v.scores == pytest.approx(scores(0.9, 0.05, 0.05), abs=1e-6)
    assert v.reasons[0].rule == MODEL_RULE and "m@1" in v.reasons[0].evidence
    assert (v.model_version, v.policy_version) == ("m@1", bare.version)


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
def test_decide_bands(bare: Policy, p: tuple[float, float, float], label: str, decision: str) -> None:
    selling = Note(id="s", text="清仓", author=NOTE.author)  # an act, so the ad may be blocked
    v = decide(selling, [sig("selling", "清仓", 0)], scores(*p), bare, "m")
    assert (v.label, v.decision) == (label, decision)


def test_decide_sponsor_flag_settles_declared(policy: Policy) -> None:
    v = decide(Note(id="f", text="x", sponsor_flag=True), [], scores(0.1, 0.85, 0.05), policy, "m")
    assert v.label == "declared"
    assert v.scores["declared"] > 0.8
    assert any(r.rule == "R01-PLATFORM-SPONSOR-FLAG" for r in v.reasons)


def test_decide_diversion_raises_ad_score_and_forces_review(policy: Policy) -> None:
    note = Note(id="d", text="加薇信abc123")
    v = decide(note, [sig("diversion", "薇信abc123", 1)], scores(0.7, 0.25, 0.05), policy, "m")
    assert v.scores["undisclosed_ad"] > 0.25
    assert v.decision in ("review", "block")
    reason = next(r for r in v.reasons if r.rule == "R03-DIVERSION-UNDISCLOSED")
    assert (reason.start, reason.end) == (1, 9)


def test_decide_thresholds_are_per_label(bare: Policy) -> None:
    strict = bare.with_updates(thresholds={"undisclosed_ad": 0.8, "declared": 0.5})
    assert decide(NOTE, [], scores(0.35, 0.6, 0.05), strict, "m").label == "sharing"
    assert decide(NOTE, [], scores(0.35, 0.6, 0.05), bare, "m").label == "undisclosed_ad"


def test_decide_prior_moves_scores_to_the_deployment_mix(bare: Policy) -> None:
    same = {"sharing": 0.5, "undisclosed_ad": 0.3, "declared": 0.2}
    unchanged = bare.with_updates(priors={"model": same, "deployment": same})
    assert decide(NOTE, [], scores(0.3, 0.6, 0.1), unchanged, "m").scores == pytest.approx(
        scores(0.3, 0.6, 0.1), abs=1e-6)
    feed = bare.with_updates(priors={"model": same, "deployment": {"sharing": 0.85, "undisclosed_ad": 0.1,
                                                                   "declared": 0.05}})
    v = decide(NOTE, [], scores(0.3, 0.6, 0.1), feed, "m")
    # Bayes by hand: 0.3 * 0.85/0.5 : 0.6 * 0.1/0.3 : 0.1 * 0.05/0.2 = 0.51 : 0.2 : 0.025
    total = 0.51 + 0.2 + 0.025
    assert v.scores == pytest.approx(scores(0.51 / total, 0.2 / total, 0.025 / total), abs=1e-6)
    assert v.label == "sharing"


def test_decide_commercial_verdict_names_act_and_object(bare: Policy) -> None:
    note = Note(id="g", text="这款洗发水清仓了，卖完无补")
    signals = [sig("object", "洗发水", 2), sig("selling", "清仓", 5), sig("selling", "卖完无补", 9)]
    v = decide(note, signals, scores(0.02, 0.95, 0.03), bare, "m")
    assert (v.label, v.decision) == ("undisclosed_ad", "block")
    (summary,) = [r for r in v.reasons if r.rule == GROUNDS_RULE]
    assert summary.evidence == "selling of “洗发水”: 清仓" and summary.start is None
    (act,) = [r for r in v.reasons if r.rule == "GROUNDS-ACT"]
    (obj,) = [r for r in v.reasons if r.rule == "GROUNDS-OBJECT"]
    assert (act.evidence, act.start, act.end) == ("清仓", 5, 7)
    assert (obj.evidence, obj.start, obj.end) == ("洗发水", 2, 5)
    for r in (act, obj):  # evidence with offsets is the span itself
        assert note.text[r.start:r.end] == r.evidence


def test_decide_model_alone_is_never_blocked(bare: Policy) -> None:
    v = decide(NOTE, [sig("price", "99元", 0)], scores(0.01, 0.98, 0.01), bare, "m")
    assert (v.label, v.decision) == ("undisclosed_ad", "review")
    assert [r.rule for r in v.reasons][-1] == UNGROUNDED_RULE
    assert not any(r.rule.startswith(GROUNDS_RULE) for r in v.reasons)


def test_decide_gift_disclosure_grounds_a_declared_verdict(bare: Policy) -> None:
    note = Note(id="d", text="@某品牌 感谢品牌方赠送体验")
    signals = [sig("mention", "@某品牌", 0), Signal("disclosure", "DISC-005", "品牌方赠送", "text", 7, 12)]
    v = decide(note, signals, scores(0.05, 0.05, 0.9), bare, "m")
    (summary,) = [r for r in v.reasons if r.rule == GROUNDS_RULE]
    assert summary.evidence.startswith("gifting of “某品牌”")
    (obj,) = [r for r in v.reasons if r.rule == "GROUNDS-OBJECT"]
    assert (obj.evidence, obj.start) == ("某品牌", 1)


def test_decide_rule_cap_makes_the_decision_milder(bare: Policy) -> None:
    capped = bare.with_updates(rules=[{"id": "CAP", "when": {"signal": "price"}, "cap": "review"}])
    selling = [sig("selling", "清仓", 0), sig("price", "9元", 2)]
    assert decide(NOTE, selling, scores(0.02, 0.96, 0.02), capped, "m").decision == "review"
    assert decide(NOTE, selling[:1], scores(0.02, 0.96, 0.02), capped, "m").decision == "block"


def test_decide_combine_is_normalised_and_monotone() -> None:
    from classifier.rules import Rule, RuleHit

    rule = Rule.model_validate({"id": "X", "when": {"signal": "price"}, "add": {"undisclosed_ad": 1.0}})
    base = scores(0.5, 0.3, 0.2)
    out = combine(base, [RuleHit(rule, ())])
    assert sum(out.values()) == pytest.approx(1.0)
    assert out["undisclosed_ad"] > base["undisclosed_ad"]
    assert combine(base, []) == pytest.approx(base)
