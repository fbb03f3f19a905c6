"""The policy: versioned rule data, validated on load, evaluated against one note at a time.

A policy file (JSON) holds per-label thresholds, the pass/review/block bands and a list of rules.
Each rule has a stable ``id``, a condition ``when`` and one or more effects:

- ``add``: ``{label: delta}`` added to the label's log-probability (evidence for or against it;
  the log-probabilities are first multiplied by the policy's ``model_weight``, default 1);
- ``settle``: a label that the rule decides outright (e.g. the platform's sponsor flag settles
  ``declared``);
- ``decision``: the least severe decision the verdict may get when the rule fires (``review``/``block``).

Conditions (JSON objects, nested freely)::

    {"signal": "diversion", "min": 1, "field": "text"}   lexical signals of a kind (field optional)
    {"score": "undisclosed_ad", "gte": 0.8}                model probability ("gte" and/or "lt")
    {"note": "sponsor_flag", "is": true}                   a note fact ("is", "in", "min")
    {"all": [...]}, {"any": [...]}, {"not": {...}}

A signal condition's ``field``: ``title``, ``text``, ``comments`` (any comment), ``author_comments``
(the comments written by the note's author), ``author.bio``, ``images`` (any picture's text or QR
code, read with ``--images``); without one, the note's own words
(``title`` and ``text``), as before comments and the bio were read.

Note facts: ``sponsor_flag``, ``author.account_type``, ``author.has_store``, ``author.followers``,
and the counts ``mentions``, ``topics``, ``product_tags``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from classifier.errors import PolicyError
from classifier.signals import by_author
from classifier.types import LABELS, Note, Reason, Signal

SIGNAL_KINDS = frozenset(
    {"disclosure", "counter_claim", "diversion", "price", "hard_sell", "channel", "absolute",
     "efficacy", "vertical", "selling", "object", "mention", "topic", "inquiry", "business"}
)
SIGNAL_FIELDS = ("title", "text", "comments", "author_comments", "author.bio", "images")
"""Where a signal condition may look (see the module docstring); none given: title and text."""
NOTE_FACTS = frozenset(
    {"sponsor_flag", "author.account_type", "author.has_store", "author.followers",
     "mentions", "topics", "product_tags"}
)
DECISION_ORDER = {"pass": 0, "review": 1, "block": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalCond(_Strict):
    signal: str
    min: int = Field(default=1, ge=1)
    field: Literal["title", "text", "comments", "author_comments", "author.bio", "images"] | None = None

    @model_validator(mode="after")
    def _known_kind(self) -> SignalCond:
        if self.signal not in SIGNAL_KINDS:
            raise ValueError(f"unknown signal kind {self.signal!r}; expected one of {sorted(SIGNAL_KINDS)}")
        return self


class ScoreCond(_Strict):
    score: str
    gte: float | None = Field(default=None, ge=0.0, le=1.0)
    lt: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _bounds(self) -> ScoreCond:
        if self.score not in LABELS:
            raise ValueError(f"unknown label {self.score!r}; expected one of {list(LABELS)}")
        if self.gte is None and self.lt is None:
            raise ValueError("a score condition needs 'gte' or 'lt'")
        return self


class NoteCond(_Strict):
    note: str
    is_: bool | str | None = Field(default=None, alias="is")
    in_: list[str] | None = Field(default=None, alias="in")
    min: int | None = None

    @model_validator(mode="after")
    def _one_test(self) -> NoteCond:
        if self.note not in NOTE_FACTS:
            raise ValueError(f"unknown note fact {self.note!r}; expected one of {sorted(NOTE_FACTS)}")
        if sum(x is not None for x in (self.is_, self.in_, self.min)) != 1:
            raise ValueError("a note condition needs exactly one of 'is', 'in', 'min'")
        return self


class AllCond(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyCond(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotCond(_Strict):
    not_: Condition = Field(alias="not")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for key in ("signal", "score", "note", "all", "any", "not"):
            if key in value:
                return key
        return None
    kinds: dict[type, str] = {SignalCond: "signal", ScoreCond: "score", NoteCond: "note",
                              AllCond: "all", AnyCond: "any", NotCond: "not"}
    return kinds.get(type(value))


Condition = Annotated[
    Annotated[SignalCond, Tag("signal")] | Annotated[ScoreCond, Tag("score")]
    | Annotated[NoteCond, Tag("note")] | Annotated[AllCond, Tag("all")]
    | Annotated[AnyCond, Tag("any")] | Annotated[NotCond, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message="a condition needs one of the keys signal, score, note, all, any, not",
    ),
]
for _model in (AllCond, AnyCond, NotCond):
    _model.model_rebuild()


class Rule(_Strict):
    id: str = Field(min_length=1)
    description: str = ""
    when: Condition
    add: dict[str, float] = Field(default_factory=dict)
    settle: str | None = None
    decision: Literal["review", "block"] | None = None
    cap: Literal["pass", "review"] | None = None
    """The most severe decision the verdict may get when the rule fires (applied after every
    ``decision``): e.g. a verdict that rests on the model alone is never blocked."""

    @model_validator(mode="after")
    def _effects(self) -> Rule:
        unknown = [k for k in [*self.add, *([self.settle] if self.settle else [])] if k not in LABELS]
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; expected some of {list(LABELS)}")
        if not self.add and self.settle is None and self.decision is None and self.cap is None:
            raise ValueError("a rule needs at least one effect: 'add', 'settle', 'decision' or 'cap'")
        return self


class Priors(_Strict):
    """Label priors: ``model``, the label mix the model's probabilities are calibrated to (its
    validation split); ``deployment``, the mix of the feed the policy runs on. Scores are moved
    from the one to the other (Bayes: times ``deployment / model``, renormalised) before any rule."""

    model: dict[str, float]
    deployment: dict[str, float]
    source: str = ""
    """Where the deployment prior comes from (shown in model cards)."""

    @model_validator(mode="after")
    def _distributions(self) -> Priors:
        for name, dist in (("model", self.model), ("deployment", self.deployment)):
            if set(dist) != set(LABELS) or any(not 0.0 < v < 1.0 for v in dist.values()):
                raise ValueError(f"priors.{name} must give every label of {list(LABELS)} a share in (0, 1), "
                                 f"got {dist}")
            if abs(sum(dist.values()) - 1.0) > 1e-3:
                raise ValueError(f"priors.{name} must sum to 1, got {sum(dist.values()):.4f}")
        return self

    def log_ratio(self) -> dict[str, float]:
        return {lab: math.log(self.deployment[lab] / self.model[lab]) for lab in LABELS}


class Bands(_Strict):
    block: float = Field(ge=0.0, le=1.0)
    """An ``undisclosed_ad`` verdict at or above this probability is blocked, below it reviewed."""
    review_ad: float = Field(ge=0.0, le=1.0)
    """A ``sharing`` or ``declared`` verdict whose undisclosed_ad probability reaches this is reviewed."""
    min_confidence: float = Field(ge=0.0, le=1.0)
    """A verdict whose top probability is below this is reviewed."""


class PolicySpec(_Strict):
    version: str = Field(min_length=1)
    labels: list[str]
    thresholds: dict[str, float]
    bands: Bands
    rules: list[Rule]
    model_weight: float = Field(default=1.0, gt=0.0, le=10.0)
    """Multiplies the model's log-probabilities before the rules' deltas are added."""
    priors: Priors | None = None
    """The deployment prior and the model's own (see :class:`Priors`); none: scores as the model gives them."""

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        if tuple(self.labels) != LABELS:
            raise ValueError(f"labels must be {list(LABELS)} in that order, got {self.labels}")
        for label, t in self.thresholds.items():
            if label not in LABELS[1:] or not 0.0 < t < 1.0:
                raise ValueError(f"threshold {label!r}={t}: expected labels {list(LABELS[1:])} in (0, 1)")
        return self


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired on a note, with the evidence that made it fire."""

    rule: Rule
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Facts:
    """What a rule may look at for one note."""

    note: Note
    signals: tuple[Signal, ...]
    scores: Mapping[str, float]


class Policy:
    """A validated policy. Build it with :meth:`load` or :meth:`from_dict`."""

    def __init__(self, spec: PolicySpec, source: str = "<dict>") -> None:
        self.spec = spec
        self.source = source

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def rules(self) -> list[Rule]:
        return self.spec.rules

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> Policy:
        if not isinstance(data, Mapping):
            raise PolicyError(f"expected a JSON object at the top level, got {type(data).__name__}", path=source)
        rules = data.get("rules")
        if not isinstance(rules, list):
            raise PolicyError("expected a 'rules' list", path=source)
        seen: set[str] = set()
        for i, raw in enumerate(rules):
            rule_id = raw.get("id") if isinstance(raw, Mapping) else None
            label = str(rule_id) if rule_id else f"#{i + 1}"
            try:
                Rule.model_validate(raw)
            except ValidationError as exc:
                raise PolicyError(_first_error(exc), rule_id=label, path=source) from None
            if rule_id in seen:
                raise PolicyError("duplicate rule id; every rule id must be unique", rule_id=label, path=source)
            seen.add(str(rule_id))
        try:
            spec = PolicySpec.model_validate(data)
        except ValidationError as exc:
            raise PolicyError(_first_error(exc), path=source) from None
        return cls(spec, source)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Policy:
        """Load and validate a policy file; ``None`` loads the packaged default policy."""
        if path is None:
            text = resources.files("classifier").joinpath("data/policy.json").read_text("utf-8")
            source = "classifier/data/policy.json"
        else:
            source = str(path)
            try:
                text = Path(path).read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"cannot read the policy file: {exc}", path=source) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"not valid JSON ({exc})", path=source) from None
        return cls.from_dict(data, source)

    def to_dict(self) -> dict[str, Any]:
        return self.spec.model_dump(by_alias=True, exclude_none=True)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", "utf-8")

    def with_updates(self, **changes: Any) -> Policy:
        """A copy with top-level fields replaced (e.g. tuned ``thresholds``), validated again."""
        data = self.to_dict()
        data.update(changes)
        return Policy.from_dict(data, self.source)

    def with_context_rules(self, base: Policy) -> Policy:
        """This policy plus ``base``'s rules that need comments or the author's bio to fire (see
        :func:`needs_context`) and that this policy lacks (by id), appended with their ``base``
        effects; the version becomes ``{version}+{base.version}``. A model's tuned policy written
        before such rules existed gets them this way: they cannot fire on a note without comments
        or a bio, so every such note scores exactly as before."""
        have = {r.id for r in self.rules}
        extra = [r for r in base.rules if r.id not in have and needs_context(r.when)]
        if not extra:
            return self
        data = self.to_dict()
        data["rules"] = [*data["rules"], *(r.model_dump(by_alias=True, exclude_none=True) for r in extra)]
        data["version"] = f"{self.version}+{base.version}"
        return Policy.from_dict(data, self.source)

    def evaluate(self, facts: Facts) -> list[RuleHit]:
        """Every rule that fires on these facts, in policy order."""
        hits = []
        for rule in self.spec.rules:
            fired, reasons = _check(rule.when, facts, rule.id)
            if fired:
                hits.append(RuleHit(rule, tuple(reasons)))
        return hits


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])


def _check(cond: Condition, facts: Facts, rule_id: str) -> tuple[bool, list[Reason]]:
    if isinstance(cond, SignalCond):
        found = [s for s in facts.signals if s.kind == cond.signal and _in_field(facts.note, s, cond.field)]
        if len(found) < cond.min:
            return False, []
        return True, [Reason(rule_id, s.text, s.field, s.start, s.end) for s in found]
    if isinstance(cond, ScoreCond):
        p = facts.scores[cond.score]
        ok = (cond.gte is None or p >= cond.gte) and (cond.lt is None or p < cond.lt)
        return ok, [Reason(rule_id, f"model p({cond.score})={p:.2f}")] if ok else []
    if isinstance(cond, NoteCond):
        value = _fact(facts.note, cond.note)
        if cond.min is not None:
            ok = isinstance(value, int) and value >= cond.min
        elif cond.in_ is not None:
            ok = value in cond.in_
        else:
            ok = value == cond.is_
        return ok, [Reason(rule_id, _describe(facts.note, cond.note, value))] if ok else []
    if isinstance(cond, AllCond):
        reasons: list[Reason] = []
        for sub in cond.all:
            ok, rs = _check(sub, facts, rule_id)
            if not ok:
                return False, []
            reasons.extend(rs)
        return True, reasons
    if isinstance(cond, AnyCond):
        results = [_check(sub, facts, rule_id) for sub in cond.any]
        if not any(ok for ok, _ in results):
            return False, []
        return True, [r for ok, rs in results if ok for r in rs]
    ok, _ = _check(cond.not_, facts, rule_id)
    return not ok, []


_CONTEXT_FIELDS = frozenset({"comments", "author_comments", "author.bio", "images"})


def needs_context(cond: Condition) -> bool:
    """Whether ``cond`` can only hold on a note with comments or an author bio (it needs a signal
    there)."""
    if isinstance(cond, SignalCond):
        return cond.field in _CONTEXT_FIELDS
    if isinstance(cond, AllCond):
        return any(needs_context(c) for c in cond.all)
    if isinstance(cond, AnyCond):
        return all(needs_context(c) for c in cond.any)
    return False


def _in_field(note: Note, s: Signal, where: str | None) -> bool:
    if where is None:
        return s.field in ("title", "text")
    if where == "comments":
        return s.field.startswith("comments[")
    if where == "author_comments":
        return s.field.startswith("comments[") and by_author(note, s.field)
    if where == "images":
        return s.field.startswith("images[")
    return s.field == where


def _fact(note: Note, name: str) -> Any:
    if name in ("mentions", "topics", "product_tags"):
        return len(getattr(note, name))
    if name.startswith("author."):
        return getattr(note.author, name.split(".", 1)[1])
    return getattr(note, name)


def _describe(note: Note, name: str, value: Any) -> str:
    if name == "product_tags":
        return "product tags: " + ", ".join(t.name for t in note.product_tags)
    if name == "mentions":
        return "mentions: " + ", ".join("@" + m for m in note.mentions)
    if name == "topics":
        return "topics: " + ", ".join("#" + t for t in note.topics)
    if isinstance(value, bool):
        value = str(value).lower()
    return f"{name}={value}"


def strongest(decisions: Sequence[str]) -> str:
    """The most severe of some decisions (``pass`` < ``review`` < ``block``)."""
    return max(decisions, key=DECISION_ORDER.__getitem__, default="pass")
