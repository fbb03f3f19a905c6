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
Field = str
"""Where a span lies: ``title``, ``text``, ``comments[3]`` (the fourth comment's text) or
``author.bio``; ``classifier.signals.field_text(note, field)`` gives the string its offsets index."""


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
    bio: str | None = None
    """The profile's self-description (简介), where contact handles and 商务合作 lines sit."""


@dataclass(frozen=True)
class Comment:
    """One comment under the note. ``is_author``: written by the note's own author (a reply of
    the author's); ``parent_id``: the comment it answers (``None`` for a top-level comment)."""

    id: str
    text: str
    author: str | None = None
    is_author: bool = False
    likes: int | None = None
    parent_id: str | None = None
    time: str | None = None
    author_id: str | None = None


@dataclass(frozen=True)
class Picture:
    """One picture of a note: a local ``path`` or a ``url`` (at least one), the text in it
    (``ocr_text``: given with the note, or read by OCR) and the QR codes decoded from it (``qr``:
    their payloads). ``ocr_text`` None: not read yet."""

    path: str | None = None
    url: str | None = None
    ocr_text: str | None = None
    qr: tuple[str, ...] = ()


@dataclass(frozen=True)
class Note:
    """The canonical note. ``text`` is the body; offsets in reasons point into ``title``, ``text``,
    a comment's text (``comments[i]``) or the author's bio (``author.bio``). ``comment_count`` is
    the platform's count; ``comments`` the comments at hand (often fewer). ``images`` are the
    pictures (:class:`Picture`); their text is read only on request (``notecheck score --images``,
    :mod:`classifier.pictures`), and a reason's field ``images[i]`` points into
    :func:`classifier.signals.field_text` of that picture (its OCR text, then its QR codes)."""

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
    comment_count: int | None = None
    shares: int | None = None
    views: int | None = None
    comments: tuple[Comment, ...] = ()
    images: tuple[Picture, ...] = ()


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
