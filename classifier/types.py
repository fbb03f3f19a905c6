"""The objects that flow through the pipeline: Note in, Signal and Reason along the way, Verdict out.

All are frozen dataclasses; validation of untrusted input happens at the edges (``classifier.formats``
for dumps, ``serving.http.schemas`` for HTTP), never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LABELS: tuple[str, str, str] = ("sharing", "undisclosed_ad", "declared")
"""Fixed label order: every ``predict_proba`` returns columns in this order."""

Label = Literal["sharing", "undisclosed_ad", "declared"]
Decision = Literal["pass", "review", "block"]
AccountType = Literal["personal", "creator", "enterprise"]
ACCOUNT_TYPES: tuple[str, ...] = ("personal", "creator", "enterprise")
Field = Literal["title", "text"]


@dataclass(frozen=True)
class ProductTag:
    """A product tag (商品标记) linking the note to a store item."""

    name: str
    store: str | None = None
    price: float | None = None


@dataclass(frozen=True)
class Author:
    """Account facts. ``personal`` = non-professional; ``creator`` = professional interest blogger
    or authority; ``enterprise`` = brand/enterprise account (专业号 with marketing functions)."""

    account_type: AccountType = "personal"
    has_store: bool = False
    followers: int | None = None
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Note:
    """The canonical note. ``text`` is the body; offsets in reasons point into ``title`` or ``text``."""

    id: str
    title: str = ""
    text: str = ""
    mentions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    product_tags: tuple[ProductTag, ...] = ()
    sponsor_flag: bool = False
    author: Author = field(default_factory=Author)
    published_at: str | None = None
    likes: int | None = None
    collects: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None


@dataclass(frozen=True)
class Signal:
    """One piece of lexical evidence found in the note.

    ``kind`` is the lexicon entry's kind (``disclosure``, ``counter_claim``, ``diversion``, ``price``,
    ``channel``, ``hard_sell``, ``absolute``, ``efficacy``, ``vertical`` ...); ``entry`` is the stable
    lexicon id; ``start``/``end`` are character offsets into the *original* ``field`` string.
    """

    kind: str
    entry: str
    text: str
    field: Field
    start: int
    end: int


@dataclass(frozen=True)
class Reason:
    """Why a verdict came out as it did: the rule id and the evidence, with offsets where the
    evidence is a span of the note (``None`` for structural facts such as a product tag)."""

    rule: str
    evidence: str
    field: Field | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Verdict:
    id: str
    label: Label
    scores: dict[str, float]
    decision: Decision
    reasons: tuple[Reason, ...]
    model_version: str
    policy_version: str
    model_scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The JSON form written by the CLI and returned by the API."""
        return {
            "id": self.id,
            "label": self.label,
            "scores": dict(self.scores),
            "decision": self.decision,
            "reasons": [
                {"rule": r.rule, "evidence": r.evidence, "field": r.field, "start": r.start, "end": r.end}
                for r in self.reasons
            ],
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "model_scores": dict(self.model_scores),
        }
