"""Grounds: the commercial relationship a commercial verdict rests on. Pure: no I/O, no model.

An ad is not a style; it is a relationship: the writer sells, is paid or gifted, diverts readers to
a sale, or is the brand. ``find_grounds(note, signals)`` names that relationship, the **act**, and
what it is about, the **object**, each with the evidence (and character offsets) that shows it:

========================  ========================================================================
act                       evidence
========================  ========================================================================
``cooperation``           the platform's sponsor flag; a paid-cooperation disclosure (品牌合作, 广告)
``gifting``               a gift or invitation disclosure (品牌方赠送, 感谢…邀请, 收到…福袋)
``selling``               the writer's own offer (清仓, 卖完无补, 本店, 报名方式, 代写 ...) or a
                          product tag
``diversion``             a steer to WeChat, DMs, the profile, comments, a shop or a link
``self-promotion``        the note is by an enterprise (brand) account
========================  ========================================================================

Acts are read from the note's own words (title and text) and, for ``diversion`` and ``selling``, from
the author's own words outside it: the author's replies (``comments[i]`` with ``is_author``) and the
bio (``author.bio``; a contact line under 商务合作, a ``business`` signal, is a business contact and
not a steer of readers). A commenter's words are never an act. The note's pictures are its own
content: an act read in a picture (``images[i]``: its OCR text, or a decoded QR code, which is a
diversion naming its target) counts as one read in the text, after the title and text. The act's
field is in the grounds.

The object is, in order: a product tag's name, the first @mention, the lexicon's ``object`` span
nearest to the act, the first topic. A verdict of ``undisclosed_ad`` or ``declared`` with no
act rests on the model alone: :func:`classifier.decide.decide` then never blocks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from classifier.signals import by_author
from classifier.types import Field, Note, Signal

__all__ = ["ACT_OF_KIND", "GIFT_ENTRIES", "Grounds", "find_grounds"]

# Signal kind -> the act it shows. Disclosures are split by entry: gifts vs paid cooperation.
ACT_OF_KIND = {"disclosure": "cooperation", "selling": "selling", "diversion": "diversion"}
GIFT_ENTRIES = frozenset({"DISC-005", "DISC-006", "DISC-008", "DISC-011"})
# Which act speaks first when several are present (a disclosure explains the others).
_ACT_ORDER = ("cooperation", "gifting", "selling", "diversion", "self-promotion")
_BODY = ("title", "text")
_AUTHOR_ACTS = frozenset({"selling", "diversion"})


@dataclass(frozen=True)
class Grounds:
    """The act and the object of a commercial relationship, with their evidence."""

    act: str
    act_evidence: str
    object: str | None
    act_field: Field | None = None
    act_start: int | None = None
    act_end: int | None = None
    object_field: Field | None = None
    object_start: int | None = None
    object_end: int | None = None

    def describe(self) -> str:
        what = f"“{self.object}”" if self.object else "an unnamed offer"
        return f"{self.act} of {what}: {self.act_evidence}"


def find_grounds(note: Note, signals: Sequence[Signal]) -> Grounds | None:
    """The commercial act (and its object) that ``note`` shows, or ``None`` if it shows none."""
    acts: list[tuple[str, str, Signal | None]] = []
    if note.sponsor_flag:
        acts.append(("cooperation", "the platform's cooperation flag", None))
    business_bio = any(s.kind == "business" and s.field == "author.bio" for s in signals)
    for s in signals:
        act = ACT_OF_KIND.get(s.kind)
        if not _own(s.field) and (act not in _AUTHOR_ACTS or not by_author(note, s.field)
                                     or (s.field == "author.bio" and business_bio)):
            continue
        if act == "cooperation" and s.entry in GIFT_ENTRIES:
            act = "gifting"
        if act is not None:
            acts.append((act, s.text, s))
    if note.product_tags:
        acts.append(("selling", f"product tag {note.product_tags[0].name}", None))
    if note.author.account_type == "enterprise":
        acts.append(("self-promotion", "posted by an enterprise (brand) account", None))
    if not acts:
        return None
    act, evidence, sig = min(acts, key=lambda a: (_ACT_ORDER.index(a[0]), _place(a[2])))
    grounds = Grounds(act, evidence, None,
                      *((sig.field, sig.start, sig.end) if sig is not None else (None, None, None)))
    return _with_object(grounds, note, signals, sig)


def _own(name: Field) -> bool:
    """Whether field ``name`` is the note's own content: its title, text or a picture."""
    return name in _BODY or name.startswith("images[")


def _place(s: Signal | None) -> tuple[int, int]:
    """Order of evidence: structural facts, then the note's own words, its pictures, then the
    author's words outside it."""
    if s is None:
        return (0, -1)
    return (1 if s.field in _BODY else 2 if _own(s.field) else 3, s.start)


def _with_object(g: Grounds, note: Note, signals: Sequence[Signal], act: Signal | None) -> Grounds:
    # The object is named by the note itself, or by the author's words that hold the act.
    signals = [s for s in signals if s.field in _BODY or (act is not None and s.field == act.field)]
    if note.product_tags:
        return _replace(g, note.product_tags[0].name)
    mention = next((s for s in signals if s.kind == "mention"), None)
    if mention is not None:  # the object is the name, without its '@' (offsets follow)
        cut = len(mention.text) - len(mention.text.lstrip("@"))
        name = Signal(mention.kind, mention.entry, mention.text[cut:], mention.field, mention.start + cut,
                      mention.end)
        return _replace(g, name.text, name)
    objects = [s for s in signals if s.kind == "object"]
    if objects:
        def distance(s: Signal) -> int:
            if act is None or s.field != act.field:
                return 1 << 20
            return min(abs(s.start - act.end), abs(act.start - s.end))

        nearest = min(objects, key=distance)
        return _replace(g, nearest.text, nearest)
    if note.topics:
        return _replace(g, note.topics[0])
    return g


def _replace(g: Grounds, obj: str, s: Signal | None = None) -> Grounds:
    return Grounds(g.act, g.act_evidence, obj, g.act_field, g.act_start, g.act_end,
                   *((s.field, s.start, s.end) if s is not None else (None, None, None)))
