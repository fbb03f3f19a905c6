"""Lexical evidence: the versioned lexicon and ``extract_signals(note, lexicon)``.

The lexicon (``classifier/data/lexicon.json``) is data with stable ids::

    {"version": "lexicon-...",
     "entries": [{"id": "DISC-001", "kind": "disclosure", "patterns": ["#广告", ...],
                  "description": "...", "boundary": "none" | "word"}, ...],
     "folds": [{"id": "FOLD-002", "pattern": "[薇徽]信", "replace": "微信", "description": "..."},
               {"id": "FOLD-015", "pattern": "...", "strip": "[ -]", "gate": "\\d[ -]\\d"},
               {"id": "FOLD-001", "map": {"❶": "1", ...}}, ...]}

A fold has exactly one action: ``replace`` (a literal), ``strip`` (delete the characters matching
it inside the match) or ``map`` (per matched string; ``pattern`` defaults to the keys); ``gate``
optionally names a regex the text must contain for the fold to be tried (speed only). Folds run
in file order inside :func:`classifier.normalize.normalize` (parsed by :mod:`classifier.folds`).

Patterns are Python regexes (compiled by the ``regex`` module, see :mod:`classifier.patterns`:
matching one field has a time bound, ``Lexicon.match_timeout`` per 10,000 characters, and a pattern of a catastrophic
shape such as ``(a+)+`` is refused when the lexicon loads) matched against *normalised* text (NFKC, simplified Chinese, lower
case, contact handles folded: ``薇信``/``vx``/``+v`` already read ``微信``); ``^``/``$`` match at
line ends. ``boundary: "word"`` also requires the match to start and end on jieba word boundaries
(so a bare ``合作`` does not fire inside ``合作社``). Each kind is compiled into one alternation;
at one position the first entry (file order) that matches wins.

Signals carry offsets into the *original* field (``note.text[s.start:s.end]`` is the raw span, e.g.
the obfuscated ``薇❤``; :func:`field_text` gives any field's string), sorted title first, then text,
then each comment (``comments[i]``), then the author's bio (``author.bio``), each by position. An
entry's optional ``fields`` (some of ``title``, ``text``, ``comments``, ``author.bio``; default all)
limits where it is matched: entries for comments or the bio only never change what the title and text
match.
A disclosure that lies inside a counter-claim (``无利益相关``, ``不是广告``) is dropped. Besides
the lexicon kinds, ``mention`` (``@名字``, entry ``MENTION``) and ``topic`` (``#话题#``,
``#话题[话题]#``, entry ``TOPIC``) signals are emitted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import regex

from classifier.errors import MatchTimeout, PolicyError
from classifier.folds import Fold, Row, parse_folds, read_lexicon_document, row_id, validate_row
from classifier.normalize import normalize
from classifier.patterns import FLAGS, MATCH_TIMEOUT_S, Deadline, Regex, compile_pattern
from classifier.types import Field as NoteField
from classifier.types import Note, Picture, Signal

__all__ = [
    "AREAS",
    "LEXICON_KINDS",
    "MENTION_ENTRY",
    "STRUCTURAL_KINDS",
    "TOPIC_ENTRY",
    "Lexicon",
    "LexiconEntry",
    "by_author",
    "comment_index",
    "default_lexicon",
    "extract_signals",
    "field_text",
    "picture_text",
    "qr_target",
]

LEXICON_KINDS: tuple[str, ...] = (
    "disclosure", "counter_claim", "diversion", "price", "hard_sell", "channel", "absolute",
    "efficacy", "vertical", "selling", "object", "inquiry", "business",
)
STRUCTURAL_KINDS: tuple[str, ...] = ("mention", "topic")
MENTION_ENTRY = "MENTION"
TOPIC_ENTRY = "TOPIC"
Boundary = Literal["none", "word"]
Area = Literal["title", "text", "comments", "author.bio", "images"]
AREAS: tuple[Area, ...] = ("title", "text", "comments", "author.bio", "images")
"""Where lexicon entries may apply (an entry's ``fields``; default: all of them)."""

_FIELDS: tuple[Literal["title", "text"], ...] = ("title", "text")
# '@' first (a literal prefix scans fast); the lookbehind then checks the character before it,
# so e-mail addresses (a@b.com) are not mentions.
_MENTION = re.compile(
    r"@(?<![a-z0-9._%+\-]@)(?=\w)[^\s@#,.!?:;()\[\]<>|/\\\"'，。！？：；、（）【】“”‘’《》「」]{1,30}"
)
_TOPIC = re.compile(r"#(?<!&#)[^#\s@\[\]]{1,40}?(?:\[话题\])?(?:#|(?=[\s,.!?;:，。！？；：、]|$))")
_WINDOW = 12


@dataclass(frozen=True)
class LexiconEntry:
    """One lexicon row: ``patterns`` are regexes over normalised text."""

    id: str
    kind: str
    patterns: tuple[str, ...]
    description: str = ""
    boundary: Boundary = "none"
    fields: tuple[Area, ...] = AREAS


@dataclass(frozen=True)
class _KindMatcher:
    kind: str
    regex: Regex
    entries: tuple[LexiconEntry, ...]
    singles: tuple[Regex, ...]

    def find(
        self, text: str, words: _WordBoundaries, deadline: Deadline
    ) -> Iterator[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, entry_id)`` matches, left to right; a match that runs
        past ``deadline`` raises :class:`MatchTimeout` naming the entry."""
        pos, n = 0, len(text)
        while pos < n:
            try:
                m = self.regex.search(text, pos, timeout=deadline.left())
            except TimeoutError:
                raise MatchTimeout(self._culprit(text, pos, deadline.budget), deadline.budget,
                                   len(text)) from None
            if m is None:
                return
            a = m.start()
            first = int(str(m.lastgroup)[1:])
            hit = self._accept(m.end(), a, first, words)
            for j in range(first + 1, len(self.entries)):
                if hit is not None:
                    break
                try:
                    alt = self.singles[j].match(text, a, timeout=deadline.left())
                except TimeoutError:
                    raise MatchTimeout(self.entries[j].id, deadline.budget, len(text)) from None
                if alt is not None:
                    hit = self._accept(alt.end(), a, j, words)
            if hit is None:
                pos = a + 1
                continue
            yield a, hit[0], hit[1]
            pos = hit[0]

    def _culprit(self, text: str, pos: int, budget: float) -> str:
        """The id of the entry that made the kind's alternation run out of time: the first one
        that also runs out of (a share of) ``budget`` on its own; all ids when none does."""
        share = budget / len(self.entries)
        for entry, single in zip(self.entries, self.singles, strict=True):
            try:
                single.search(text, pos, timeout=share)
            except TimeoutError:
                return entry.id
        return ",".join(e.id for e in self.entries)

    def _accept(self, b: int, a: int, j: int, words: _WordBoundaries) -> tuple[int, str] | None:
        entry = self.entries[j]
        if b > a and (entry.boundary == "none" or words.aligned(a, b)):
            return b, entry.id
        return None


class _WordBoundaries:
    """jieba word boundaries near a span, computed on a small window only when asked."""

    def __init__(self, text: str) -> None:
        self.text = text

    def aligned(self, a: int, b: int) -> bool:
        from classifier.segment import spans

        lo, hi = max(0, a - _WINDOW), min(len(self.text), b + _WINDOW)
        cuts = {lo}
        cuts.update(lo + e for _, _, e in spans(self.text[lo:hi]))
        return a in cuts and b in cuts


@dataclass(frozen=True)
class Lexicon:
    """A validated lexicon; build it with :meth:`load` (or directly, which validates too).

    ``folds`` are the obfuscation folds applied before matching; a lexicon without folds
    matches text that is normalised but not folded. ``match_timeout`` bounds the time that folding
    and matching one text field may take: seconds per 10,000 characters of the field, at least
    that (see :mod:`classifier.patterns`).
    """

    version: str
    entries: tuple[LexiconEntry, ...]
    folds: tuple[Fold, ...] = ()
    path: str | None = None
    match_timeout: float = MATCH_TIMEOUT_S
    _matchers: tuple[_KindMatcher, ...] = field(default=(), init=False, repr=False, compare=False)
    _by_area: dict[str, tuple[_KindMatcher, ...]] = field(default_factory=dict, init=False, repr=False,
                                                          compare=False)

    @property
    def needs_words(self) -> bool:
        """Whether some entry needs jieba word boundaries (``boundary: "word"``)."""
        return any(e.boundary == "word" for e in self.entries)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise PolicyError("the lexicon needs a non-empty string 'version'", path=self.path)
        if not self.match_timeout > 0:
            raise PolicyError(f"match_timeout must be > 0 seconds, got {self.match_timeout!r}",
                              path=self.path)
        by_kind: dict[str, list[tuple[LexiconEntry, list[Regex]]]] = {}
        seen: set[str] = set()
        for entry in self.entries:
            compiled = self._check(entry, seen)
            by_kind.setdefault(entry.kind, []).append((entry, compiled))
        # One matcher per kind and set of entries: fields with the same entries share it (title
        # and text always match exactly what they matched before entries with 'fields' existed).
        cache: dict[tuple[str, tuple[str, ...]], _KindMatcher] = {}
        for area in AREAS:
            matchers = []
            for kind in LEXICON_KINDS:
                rows = [(e, rx) for e, rx in by_kind.get(kind, []) if area in e.fields]
                if not rows:
                    continue
                key = (kind, tuple(e.id for e, _ in rows))
                if key not in cache:
                    alternation = "|".join(
                        f"(?P<e{j}>{'|'.join(f'(?:{p})' for p in e.patterns)})"
                        for j, (e, _) in enumerate(rows)
                    )
                    singles = tuple(regex.compile("|".join(r.pattern for r in rx), FLAGS) for _, rx in rows)
                    cache[key] = _KindMatcher(kind, regex.compile(alternation, FLAGS),
                                              tuple(e for e, _ in rows), singles)
                matchers.append(cache[key])
            self._by_area[area] = tuple(matchers)
        object.__setattr__(self, "_matchers", self._by_area["text"])

    def _check(self, entry: LexiconEntry, seen: set[str]) -> list[Regex]:
        def fail(msg: str) -> PolicyError:
            return PolicyError(msg, rule_id=entry.id, path=self.path)

        if entry.id in seen:
            raise fail("duplicate entry id; give every entry its own id")
        seen.add(entry.id)
        if entry.kind not in LEXICON_KINDS:
            raise fail(f"unknown kind {entry.kind!r}; expected one of {', '.join(LEXICON_KINDS)}")
        if entry.boundary not in ("none", "word"):
            raise fail(f"unknown boundary {entry.boundary!r}; expected 'none' or 'word'")
        if not entry.patterns:
            raise fail("'patterns' is empty; give at least one regex")
        if not entry.fields or any(f not in AREAS for f in entry.fields):
            raise fail(f"'fields' {list(entry.fields)} must name some of {', '.join(AREAS)}")
        return [compile_pattern(p, f"patterns[{k}]", fail) for k, p in enumerate(entry.patterns)]

    @classmethod
    def load(cls, path: Path | str | None = None) -> Lexicon:
        """Read and validate a lexicon file (default: the packaged ``lexicon.json``)."""
        data, where = read_lexicon_document(path)
        return cls.from_dict(data, path=where)

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> Lexicon:
        """Validate a parsed lexicon document (see the module docstring for its shape)."""
        if not isinstance(data, dict):
            raise PolicyError(f"a lexicon must be a JSON object, got {type(data).__name__}",
                              path=path)
        unknown = set(data) - {"version", "description", "entries", "folds"}
        if unknown:
            raise PolicyError(f"unknown top-level keys {sorted(unknown)}; expected version, "
                              "description, entries, folds", path=path)
        rows = data.get("entries")
        if not isinstance(rows, list):
            raise PolicyError("'entries' must be a list of entry objects", path=path)
        entries = tuple(_parse_entry(row, k, path) for k, row in enumerate(rows))
        folds = parse_folds(data.get("folds", []), path)
        return cls(data.get("version", ""), entries, folds, path)

    def entry(self, entry_id: str) -> LexiconEntry:
        """The entry with id ``entry_id``."""
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(f"no lexicon entry {entry_id!r} in lexicon {self.version}")


class _EntryRow(Row):
    kind: str
    patterns: list[str]
    boundary: Boundary = "none"
    fields: list[str] | None = None


def _parse_entry(row: Any, k: int, path: str | None) -> LexiconEntry:
    r = validate_row(_EntryRow, row, row_id(row, f"entries[{k}]"), path)
    fields = tuple(r.fields) if r.fields is not None else AREAS
    return LexiconEntry(r.id, r.kind, tuple(r.patterns), r.description, r.boundary,
                        fields)  # type: ignore[arg-type]  # checked in Lexicon._check


_DEFAULT_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _load_default() -> Lexicon:
    return Lexicon.load()


def default_lexicon() -> Lexicon:
    """The packaged lexicon, loaded and compiled once."""
    with _DEFAULT_LOCK:
        return _load_default()


def extract_signals(note: Note, lexicon: Lexicon) -> tuple[Signal, ...]:
    """Every lexical, mention and topic signal of ``note``'s title, text, comments and author bio
    (see module doc), in that order."""
    out: list[Signal] = []
    for name in _FIELDS:
        raw = getattr(note, name)
        if raw:
            out.extend(_scan(raw, name, lexicon, name))
    for i, comment in enumerate(note.comments):
        if comment.text:
            out.extend(_scan(comment.text, f"comments[{i}]", lexicon, "comments"))
    if note.author.bio:
        out.extend(_scan(note.author.bio, "author.bio", lexicon, "author.bio"))
    for i, picture in enumerate(note.images):
        seen = picture_text(picture)
        if seen:
            where = f"images[{i}]"
            out.extend(s for s in _scan(seen, where, lexicon, "images")
                       if s.kind not in STRUCTURAL_KINDS)
            out.extend(_qr_signals(seen, where, picture))
    return tuple(out)


QR_ENTRY = "QR-CODE"
"""The entry id of a decoded QR code's diversion signal (its text names the kind of target)."""


def qr_target(payload: str) -> str:
    """The kind of target a QR code leads to: ``WeChat contact``, ``WeChat group``, ``shop``,
    ``URL`` or ``other``."""
    p = payload.strip().lower()
    if p.startswith(("https://u.wechat.com/", "http://u.wechat.com/", "wxp://")) or \
            "weixin.qq.com/r/" in p:
        return "WeChat contact"
    if "weixin.qq.com/g/" in p:
        return "WeChat group"
    shops = ("taobao.com", "tmall.com", "jd.com", "yangkeduo.com", "pinduoduo.com", "weidian.com",
             "youzan.com", "tb.cn", "xiaohongshu.com/goods")
    if any(s in p for s in shops):
        return "shop"
    if p.startswith(("http://", "https://")):
        return "URL"
    return "other"


def qr_line(payload: str) -> str:
    """How a decoded QR code appears in its picture's field text."""
    return f"[QR code, {qr_target(payload)}: {payload}]"


def picture_text(picture: Picture) -> str:
    """A picture's field text: its OCR text, then one line per decoded QR code (:func:`qr_line`)."""
    return "\n".join([*([picture.ocr_text] if picture.ocr_text else []),
                      *(qr_line(p) for p in picture.qr)])


def _qr_signals(raw: str, name: NoteField, picture: Picture) -> list[Signal]:
    out = []
    pos = 0
    for payload in picture.qr:
        line = qr_line(payload)
        start = raw.find(line, pos)
        out.append(Signal("diversion", QR_ENTRY, line, name, start, start + len(line)))
        pos = start + len(line)
    return out


def field_text(note: Note, name: NoteField) -> str:
    """The string a signal's or reason's offsets index: ``title``, ``text``, ``comments[i]``
    (the comment's text), ``author.bio`` or ``images[i]`` (:func:`picture_text`)."""
    if name in ("title", "text"):
        return str(getattr(note, name))
    if name == "author.bio":
        return note.author.bio or ""
    if name.startswith("images[") and name.endswith("]") and name[7:-1].isdigit():
        if int(name[7:-1]) < len(note.images):
            return picture_text(note.images[int(name[7:-1])])
        raise KeyError(f"no field {name!r} in note {note.id}")
    index = comment_index(name)
    if index is None or index >= len(note.comments):
        raise KeyError(f"no field {name!r} in note {note.id}")
    return note.comments[index].text


def comment_index(name: NoteField) -> int | None:
    """``i`` for ``comments[i]``; ``None`` for any other field."""
    if name.startswith("comments[") and name.endswith("]") and name[9:-1].isdigit():
        return int(name[9:-1])
    return None


def by_author(note: Note, name: NoteField) -> bool:
    """Whether field ``name`` holds the note's author's own words outside the note: one of the
    author's comments or the bio."""
    if name == "author.bio":
        return True
    index = comment_index(name)
    return index is not None and index < len(note.comments) and note.comments[index].is_author


def _scan(raw: str, name: NoteField, lexicon: Lexicon, area: Area) -> list[Signal]:
    if lexicon.needs_words:  # load jieba (once) before the clock starts: its start-up is not matching
        from classifier.segment import warm

        warm()
    deadline = Deadline.for_text(raw, lexicon.match_timeout)
    norm = normalize(raw, lexicon.folds, deadline=deadline)
    text = norm.text
    words = _WordBoundaries(text)
    found: list[tuple[int, int, str, str]] = []
    for matcher in lexicon._by_area[area]:
        found.extend((a, b, matcher.kind, eid) for a, b, eid in matcher.find(text, words, deadline))
    found.extend((m.start(), m.end(), "mention", MENTION_ENTRY) for m in _MENTION.finditer(text))
    found.extend(_topics(text))
    found = _drop_negated(found)
    spans = []
    for a, b, kind, eid in found:
        s, e = norm.source_span(a, b)
        spans.append((s, -e, kind, eid))
    spans.sort()
    # Folded text can map two matches onto one source span: keep the first, longest per
    # lexicon kind (topics may share a '#': '#a#b#').
    kept: list[Signal] = []
    reach: dict[str, int] = {}
    for s, neg_e, kind, eid in spans:
        if s < reach.get(kind, -1):
            continue
        if kind != "topic":
            reach[kind] = -neg_e
        kept.append(Signal(kind, eid, raw[s:-neg_e], name, s, -neg_e))
    return kept


def _topics(text: str) -> Iterator[tuple[int, int, str, str]]:
    pos = 0
    while (m := _TOPIC.search(text, pos)) is not None:
        yield m.start(), m.end(), "topic", TOPIC_ENTRY
        # a closing '#' may open the next topic in '#a#b#'
        pos = m.end() - 1 if text[m.end() - 1] == "#" else m.end()


def _drop_negated(found: Sequence[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Drop disclosures that overlap a counter-claim (``无利益相关`` holds ``利益相关``)."""
    counters = [(a, b) for a, b, kind, _ in found if kind == "counter_claim"]
    if not counters:
        return list(found)
    return [f for f in found
            if f[2] != "disclosure" or not any(a < f[1] and f[0] < b for a, b in counters)]
