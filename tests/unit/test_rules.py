"""The policy file: validation on load and every packaged rule, fired and not fired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.errors import PolicyError
from classifier.rules import Facts, Policy, needs_context
from classifier.types import LABELS, Author, Note, ProductTag, Signal

UNIFORM = {label: 1 / 3 for label in LABELS}


def sig(kind: str, text: str = "x", start: int = 0) -> Signal:
    return Signal(kind=kind, entry=f"{kind.upper()}-T", text=text, field="text", start=start, end=start + len(text))


def fired(policy: Policy, note: Note, signals: list[Signal], scores: dict[str, float] = UNIFORM) -> set[str]:
    return {hit.rule.id for hit in policy.evaluate(Facts(note, tuple(signals), scores))}


PLAIN = Note(id="p", text="t")
ENTERPRISE = Note(id="e", text="t", author=Author(account_type="enterprise", has_store=True))
TAGGED_NO_STORE = Note(id="t", text="t", product_tags=(ProductTag("面霜"),))
TAGGED_WITH_STORE = Note(id="s", text="t", product_tags=(ProductTag("面霜"),),
                         author=Author(account_type="creator", has_store=True))
FLAGGED = Note(id="f", text="t", sponsor_flag=True)

CASES = [
    # (rule id, note, signals, should fire)
    ("R01-PLATFORM-SPONSOR-FLAG", FLAGGED, [], True),
    ("R01-PLATFORM-SPONSOR-FLAG", PLAIN, [sig("disclosure")], False),
    ("R02-TEXT-DISCLOSURE", PLAIN, [sig("disclosure")], True),
    ("R02-TEXT-DISCLOSURE", PLAIN, [sig("counter_claim")], False),
    ("R03-DIVERSION-UNDISCLOSED", PLAIN, [sig("diversion")], True),
    ("R03-DIVERSION-UNDISCLOSED", PLAIN, [sig("diversion"), sig("disclosure")], False),
    ("R03-DIVERSION-UNDISCLOSED", FLAGGED, [sig("diversion")], False),
    ("R04-PRODUCT-TAG-WITHOUT-STORE", TAGGED_NO_STORE, [], True),
    ("R04-PRODUCT-TAG-WITHOUT-STORE", TAGGED_WITH_STORE, [], False),
    ("R05-ENTERPRISE-PROMOTION-UNDISCLOSED", ENTERPRISE, [sig("price")], True),
    ("R05-ENTERPRISE-PROMOTION-UNDISCLOSED", ENTERPRISE, [sig("price"), sig("disclosure")], False),
    ("R05-ENTERPRISE-PROMOTION-UNDISCLOSED", ENTERPRISE, [], False),
    ("R05-ENTERPRISE-PROMOTION-UNDISCLOSED", PLAIN, [sig("price")], False),
    ("R06-COUNTER-CLAIM-ON-COPY", PLAIN, [sig("counter_claim"), sig("hard_sell")], True),
    ("R06-COUNTER-CLAIM-ON-COPY", PLAIN, [sig("counter_claim")], False),
    ("R07-SINCERE-COUNTER-CLAIM", PLAIN, [sig("counter_claim")], True),
    ("R07-SINCERE-COUNTER-CLAIM", PLAIN, [sig("counter_claim"), sig("diversion")], False),
    ("R08-HARD-SELL", PLAIN, [sig("price"), sig("hard_sell")], True),
    ("R08-HARD-SELL", PLAIN, [sig("price")], False),
    ("R09-ABSOLUTE-TERMS", PLAIN, [sig("absolute")], True),
    ("R09-ABSOLUTE-TERMS", PLAIN, [sig("efficacy")], False),
    ("R10-DECLARED-AD-LAW-RISK", PLAIN, [sig("disclosure"), sig("absolute")], True),
    ("R10-DECLARED-AD-LAW-RISK", FLAGGED, [sig("efficacy")], True),
    ("R10-DECLARED-AD-LAW-RISK", PLAIN, [sig("absolute")], False),
    ("R11-EFFICACY-HIGH-RISK-VERTICAL", PLAIN, [sig("efficacy"), sig("vertical")], True),
    ("R11-EFFICACY-HIGH-RISK-VERTICAL", PLAIN, [sig("efficacy")], False),
    ("R12-SELLING-UNDISCLOSED", PLAIN, [sig("selling")], True),
    ("R12-SELLING-UNDISCLOSED", PLAIN, [sig("selling"), sig("disclosure")], False),
    ("R12-SELLING-UNDISCLOSED", FLAGGED, [sig("selling")], False),
    ("R13-NO-COMMERCIAL-ACT", PLAIN, [sig("price"), sig("hard_sell"), sig("absolute")], True),
    ("R13-NO-COMMERCIAL-ACT", PLAIN, [sig("selling")], False),
    ("R13-NO-COMMERCIAL-ACT", PLAIN, [sig("diversion")], False),
    ("R13-NO-COMMERCIAL-ACT", PLAIN, [sig("disclosure")], False),
    ("R13-NO-COMMERCIAL-ACT", FLAGGED, [], False),
    ("R13-NO-COMMERCIAL-ACT", TAGGED_WITH_STORE, [], False),
    ("R13-NO-COMMERCIAL-ACT", ENTERPRISE, [], False),
]


@pytest.mark.parametrize(("rule_id", "note", "signals", "expected"), CASES)
def test_rules_each_packaged_rule(policy: Policy, rule_id: str, note: Note, signals: list[Signal],
                                  expected: bool) -> None:
    assert (rule_id in fired(policy, note, signals)) is expected


def test_rules_every_packaged_rule_is_covered(policy: Policy) -> None:
    covered = {c[0] for c in CASES if c[3]}  # rules on comments or the bio: tests/unit/test_comments.py
    assert covered == {r.id for r in policy.rules if not needs_context(r.when)}


def test_rules_reasons_carry_signal_offsets(policy: Policy) -> None:
    hits = policy.evaluate(Facts(PLAIN, (sig("diversion", "薇信abc", 5),), UNIFORM))
    (hit,) = [h for h in hits if h.rule.id == "R03-DIVERSION-UNDISCLOSED"]
    assert [(r.evidence, r.start, r.end, r.field) for r in hit.reasons] == [("薇信abc", 5, 10, "text")]


def test_rules_score_condition(policy: Policy) -> None:
    data = policy.to_dict()
    data["rules"] = [{"id": "HIGH-AD", "when": {"score": "undisclosed_ad", "gte": 0.8}, "decision": "block"}]
    p = Policy.from_dict(data)
    assert fired(p, PLAIN, [], {"sharing": 0.1, "undisclosed_ad": 0.85, "declared": 0.05}) == {"HIGH-AD"}
    assert fired(p, PLAIN, [], {"sharing": 0.3, "undisclosed_ad": 0.6, "declared": 0.1}) == set()


BAD_RULES = [
    ({"id": "BAD-KIND", "when": {"signal": "nope"}, "add": {"declared": 1}}, "BAD-KIND", "unknown signal kind"),
    ({"id": "BAD-LABEL", "when": {"signal": "price"}, "add": {"spam": 1}}, "BAD-LABEL", "unknown label"),
    ({"id": "NO-EFFECT", "when": {"signal": "price"}}, "NO-EFFECT", "at least one effect"),
    ({"id": "BAD-COND", "when": {"weird": 1}, "add": {"declared": 1}}, "BAD-COND", "a condition needs"),
    ({"id": "BAD-FACT", "when": {"note": "author.age", "min": 1}, "add": {"declared": 1}}, "BAD-FACT",
     "unknown note fact"),
    ({"id": "BAD-DECISION", "when": {"signal": "price"}, "decision": "ban"}, "BAD-DECISION", "decision"),
    ({"id": "BAD-CAP", "when": {"signal": "price"}, "cap": "block"}, "BAD-CAP", "cap"),
]


@pytest.mark.parametrize(
    ("priors", "message"),
    [
        ({"model": {"sharing": 0.5, "undisclosed_ad": 0.5}, "deployment": {"sharing": 0.8, "undisclosed_ad": 0.1,
                                                                          "declared": 0.1}}, "priors.model"),
        ({"model": {"sharing": 0.4, "undisclosed_ad": 0.3, "declared": 0.3},
          "deployment": {"sharing": 0.8, "undisclosed_ad": 0.3, "declared": 0.1}}, "sum to 1"),
        ({"model": {"sharing": 0.4, "undisclosed_ad": 0.6, "declared": 0.0},
          "deployment": {"sharing": 0.8, "undisclosed_ad": 0.1, "declared": 0.1}}, "in (0, 1)"),
    ],
)
def test_rules_bad_priors_are_refused(policy: Policy, priors: dict[str, object], message: str) -> None:
    data = policy.to_dict()
    data["priors"] = priors
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Policy.from_dict(data)


@pytest.mark.parametrize(("rule", "rule_id", "message"), BAD_RULES)
def test_rules_invalid_policy_names_rule_and_reason(policy: Policy, rule: dict[str, object], rule_id: str,
                                                    message: str, tmp_path: Path) -> None:
    data = policy.to_dict()
    data["rules"] = [*data["rules"], rule]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(PolicyError) as err:
        Policy.load(path)
    assert err.value.rule_id == rule_id
    assert rule_id in str(err.value) and message in str(err.value)


def test_rules_duplicate_ids_refused(policy: Policy) -> None:
    data = policy.to_dict()
    data["rules"] = [data["rules"][0], data["rules"][0]]
    with pytest.raises(PolicyError, match="duplicate"):
        Policy.from_dict(data)


@pytest.mark.parametrize("change", [{"labels": ["a", "b", "c"]}, {"thresholds": {"declared": 1.5}},
                                    {"bands": {"block": 2}}])
def test_rules_invalid_top_level_refused(policy: Policy, change: dict[str, object]) -> None:
    data = policy.to_dict() | change
    with pytest.raises(PolicyError):
        Policy.from_dict(data)


def test_rules_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{not json", "utf-8")
    with pytest.raises(PolicyError, match="not valid JSON"):
        Policy.load(bad)


def test_rules_round_trip(policy: Policy, tmp_path: Path) -> None:
    policy.save(tmp_path / "p.json")
    again = Policy.load(tmp_path / "p.json")
    assert again.to_dict() == policy.to_dict()
