"""Lexicon patterns: compiled once, matched under a time bound, refused when plainly unsafe.

Lexicon entries and folds are regexes written by people and reloadable at run time, so no
pattern may freeze scoring. Three layers, chosen by measurement (``docs``: the hardening note in
the README):

1. **Engine.** Patterns are compiled by the ``regex`` module (Python ``re`` syntax, lookarounds
   included), whose every match call takes a ``timeout``. A linear-time engine (RE2) was not an
   option: the packaged lexicon relies on lookbehind and lookahead, which RE2 lacks. On the
   authored notes ``regex`` returns exactly ``re``'s matches.
2. **Time bound.** Matching one text field (folds and every kind) shares one :class:`Deadline`
   (:data:`MATCH_TIMEOUT_S` per 10,000 characters by default, :meth:`Deadline.for_text`); a
   pattern that runs past it raises :class:`~classifier.errors.MatchTimeout` naming the entry or
   fold. Besides catastrophic patterns this also stops patterns that are quadratic on long runs
   (``\\d+\\s?(?:元|块)`` over a note of 100,000 digits: about two minutes with ``re``).
3. **Refusal at load.** :func:`unsafe_reason` finds the classic catastrophic shapes before a
   lexicon is accepted -- a repeat of something that itself repeats without bound with nothing
   required in between (``(a+)+``, ``(\\s?\\w+)*``, ``(a|b+)*``) and nested counted repeats that
   blow up at compile time (``(?:a{1000}){1000}``) -- and :func:`compile_pattern` refuses them
   with the entry id. Ambiguous alternations (``(a|aa)+``) are not found statically; the time
   bound stops them.

The small parser below understands the Python ``re`` syntax the lexicon uses; on anything else
the analyses give up (no prefilter, no refusal) and the time bound still applies.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import regex

from classifier.errors import PolicyError

__all__ = [
    "BOUND_UNIT",
    "FLAGS",
    "MATCH_TIMEOUT_S",
    "Deadline",
    "Regex",
    "compile_pattern",
    "first_char_class",
    "unsafe_reason",
]

MATCH_TIMEOUT_S = 5.0
"""Default time bound for folding and matching one text field against a whole lexicon: seconds
per :data:`BOUND_UNIT` characters of the field, and never less than that (a 100,000-character
field gets 50 s; the packaged lexicon needs under 1 s for it on an idle core). The bound is wall
time, so it is generous: on a loaded machine (a training run or 32 API clients on two cores) a
legitimate 20,000-character note took over 2 s; a backtracking pattern grows exponentially and
still stops."""

BOUND_UNIT = 10_000

MAX_REPEAT_PRODUCT = 100_000
"""Nested counted repeats may multiply to at most this (``regex`` expands them when compiling)."""

FLAGS = regex.MULTILINE | regex.VERSION0
"""Flags of every lexicon pattern: ``^``/``$`` match at line ends; ``re``-compatible syntax."""

Regex = regex.Pattern[str]
"""A compiled lexicon pattern (match calls take ``timeout=``)."""
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


class Deadline:
    """A point in time that a sequence of match calls shares; :meth:`left` is the ``timeout=``
    for the next call (0 once it has passed, so the call stops at once)."""

    __slots__ = ("at", "budget")

    def __init__(self, budget: float = MATCH_TIMEOUT_S) -> None:
        self.budget = budget
        self.at = time.monotonic() + budget

    @classmethod
    def for_text(cls, text: str, per_unit: float = MATCH_TIMEOUT_S) -> Deadline:
        """``per_unit`` seconds per :data:`BOUND_UNIT` characters of ``text``, at least ``per_unit``."""
        return cls(per_unit * max(1.0, len(text) / BOUND_UNIT))

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())


def compile_pattern(
    pattern: str, what: str, fail: Callable[[str], PolicyError]
) -> Regex:
    """Compile one lexicon regex, or raise ``fail(message)`` (a :class:`PolicyError` naming the
    entry) when it is empty, invalid, captures or back-references, matches the empty string, or
    has an unsafe shape (:func:`unsafe_reason`)."""
    if not pattern:
        raise fail(f"{what} must be a non-empty regex")
    if _BACKREF.search(pattern):
        raise fail(f"{what} {pattern!r} uses named groups or backreferences; "
                   "use plain or non-capturing groups")
    reason = unsafe_reason(pattern)
    if reason is not None:
        raise fail(f"{what} {pattern!r} {reason}")
    try:
        rx = regex.compile(pattern, FLAGS)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise fail(f"{what} {pattern!r} is not a valid regex: {exc}; fix it (Python 're' syntax)"
                   ) from exc
    if rx.groupindex:
        raise fail(f"{what} {pattern!r} uses named groups or backreferences; "
                   "use plain or non-capturing groups")
    try:
        empty = rx.match("", timeout=MATCH_TIMEOUT_S)
    except TimeoutError:  # pragma: no cover - an empty string leaves nothing to backtrack over
        empty = None
    if empty is not None:
        raise fail(f"{what} {pattern!r} matches the empty string; make it match a character")
    return rx


# ---- a small parser for the analyses ---------------------------------------------------------

@dataclass(frozen=True)
class _Char:
    """One consumed character; ``frags`` is its class as regex fragments (``None``: any/unknown)."""

    frags: frozenset[str] | None


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Alt:
    branches: tuple[_Node, ...]


@dataclass(frozen=True)
class _Repeat:
    child: _Node
    min: int
    max: int | None  # None: unbounded


@dataclass(frozen=True)
class _Group:
    child: _Node
    scoped_flags: bool  # (?i:...) and the like: the analyses give up on the first character


@dataclass(frozen=True)
class _ZeroWidth:
    """An anchor or a lookaround: consumes nothing."""


@dataclass(frozen=True)
class _Opaque:
    """Something the analyses do not look into (a backreference, a conditional)."""


_Node = _Char | _Seq | _Alt | _Repeat | _Group | _ZeroWidth | _Opaque


class _Unparsed(Exception):
    """The pattern uses syntax this parser does not follow."""


_CATEGORY = {"d": r"\d", "s": r"\s", "w": r"\w"}
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_BRACE_LIKE = re.compile(r"\{[\d,\s]*\}?")


@dataclass(frozen=True)
class _Parsed:
    node: _Node
    ignorecase: bool


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.ignorecase = False

    def parse(self) -> _Parsed:
        node = self._alternation()
        if self.i != len(self.p):
            raise _Unparsed(f"unbalanced ')' at {self.i}")
        return _Parsed(node, self.ignorecase)

    def _peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def _alternation(self) -> _Node:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.i += 1
            branches.append(self._sequence())
        return branches[0] if len(branches) == 1 else _Alt(tuple(branches))

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while self.i < len(self.p) and self._peek() not in "|)":
            atom = self._atom()
            if atom is None:
                continue
            items.append(self._quantified(atom))
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    def _quantified(self, atom: _Node) -> _Node:
        while True:
            c = self._peek()
            if c in ("*", "+", "?"):
                self.i += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            elif c == "{" and (m := _QUANTIFIER.match(self.p, self.i)):
                if m.group(1) == "" and m.group(2) is None:  # '{}' is two literal characters
                    return atom
                self.i = m.end()
                lo = int(m.group(1) or 0)
                hi = int(m.group(1)) if m.group(2) is None else int(m.group(2)) if m.group(2) else None
            elif c == "{" and _BRACE_LIKE.match(self.p, self.i):
                raise _Unparsed("a brace the engines may read differently")
            else:
                return atom
            if isinstance(atom, _ZeroWidth):
                raise _Unparsed("quantified zero-width item")
            if self._peek() in ("?", "+"):  # lazy or possessive: the same language
                self.i += 1
            atom = _Repeat(atom, lo, hi)

    def _atom(self) -> _Node | None:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            return self._group()
        if c == "[":
            return self._class()
        if c == "\\":
            return self._escape(in_class=False)
        if c == ".":
            return _Char(None)
        if c in "^$":
            return _ZeroWidth()
        if c in "*+?":
            raise _Unparsed("nothing to repeat")
        return _Char(frozenset({re.escape(c)}))

    def _group(self) -> _Node | None:
        if self._peek() != "?":
            return self._close(_Group(self._alternation(), False))
        self.i += 1
        rest = self.p[self.i:]
        for opener, kind in ((":", "plain"), ("=", "look"), ("!", "look"), ("<=", "look"),
                             ("<!", "look"), (">", "atomic")):
            if rest.startswith(opener):
                self.i += len(opener)
                child = self._alternation()
                return self._close(_ZeroWidth() if kind == "look" else _Group(child, False))
        if rest.startswith("P<"):
            end = self.p.find(">", self.i)
            if end < 0:
                raise _Unparsed("unterminated group name")
            self.i = end + 1
            return self._close(_Group(self._alternation(), False))
        if rest.startswith("#"):
            end = self.p.find(")", self.i)
            if end < 0:
                raise _Unparsed("unterminated comment")
            self.i = end + 1
            return None
        m = re.match(r"([aiLmsux]*)(?:-([imsx]+))?([:)])", rest)
        if m is None:
            raise _Unparsed(f"group syntax (?{rest[:3]}")
        on, off, closer = m.group(1), m.group(2) or "", m.group(3)
        if "x" in on + off:
            raise _Unparsed("verbose mode")
        self.i += m.end()
        if closer == ")":  # global flags
            self.ignorecase = self.ignorecase or "i" in on
            return None
        return self._close(_Group(self._alternation(), True))

    def _close(self, node: _Node) -> _Node:
        if self._peek() != ")":
            raise _Unparsed("missing ')'")
        self.i += 1
        return node

    def _escape(self, *, in_class: bool) -> _Node:
        if self.i >= len(self.p):
            raise _Unparsed("trailing backslash")
        c = self.p[self.i]
        self.i += 1
        if c in _CATEGORY:
            return _Char(frozenset({_CATEGORY[c]}))
        if c in "DSW":
            return _Char(None)
        if c in "bBAZ" and not in_class:
            return _ZeroWidth()
        if c in _SIMPLE_ESCAPES:
            return _Char(frozenset({re.escape(_SIMPLE_ESCAPES[c])}))
        if c in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[c]
            digits = self.p[self.i:self.i + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise _Unparsed("bad hex escape")
            self.i += width
            return _Char(frozenset({re.escape(chr(int(digits, 16)))}))
        if c.isalnum():  # \1, \0, \N{...}, \g<...>, \p{...} and other engine extras
            raise _Unparsed(f"escape \\{c}")
        return _Char(frozenset({re.escape(c)}))

    def _class(self) -> _Node:
        frags: set[str] | None = set()
        if self._peek() == "^":
            self.i += 1
            frags = None
        first = True
        while True:
            if self.i >= len(self.p):
                raise _Unparsed("unterminated class")
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.p[self.i:self.i + 2] in ("[:", "[=", "[."):
                raise _Unparsed("POSIX class")
            lo = self._class_item()
            if self._peek() == "-" and self.p[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                hi = self._class_item()
                if lo is None or hi is None or len(lo) != 1 or len(hi) != 1:
                    raise _Unparsed("bad range")
                if frags is not None:
                    frags.add(f"{re.escape(lo)}-{re.escape(hi)}")
                continue
            if frags is not None:
                if lo is None:
                    frags = None
                elif len(lo) == 1:
                    frags.add(re.escape(lo))
                else:
                    frags.add(lo)  # a category (\d, \s, \w)
        return _Char(None if frags is None else frozenset(frags))

    def _class_item(self) -> str | None:
        """One class member: a character, a category fragment (``\\d``), or ``None`` (unknown)."""
        c = self.p[self.i]
        self.i += 1
        if c != "\\":
            return c
        if self.i < len(self.p) and self.p[self.i] == "b":
            self.i += 1
            return "\b"
        node = self._escape(in_class=True)
        if not isinstance(node, _Char) or node.frags is None:
            return None
        (frag,) = node.frags
        if frag in _CATEGORY.values():
            return frag
        return re.sub(r"\\(.)", r"\1", frag, flags=re.DOTALL)


def _parse(pattern: str) -> _Parsed | None:
    try:
        return _Parser(pattern).parse()
    except (_Unparsed, IndexError, ValueError, RecursionError):
        return None


# ---- analyses --------------------------------------------------------------------------------

def first_char_class(pattern: str) -> Regex | None:
    """A one-character class that every match of ``pattern`` starts with, or ``None`` when any
    character may start one (or the pattern is beyond this parser). Scanning for it first tells
    cheaply whether a pattern can match a text at all."""
    parsed = _parse(pattern)
    if parsed is None or parsed.ignorecase:
        return None
    got = _first(parsed.node)
    if got is None or got[1] or not got[0]:
        return None
    return regex.compile("[" + "".join(sorted(got[0])) + "]", FLAGS)


def _first(node: _Node) -> tuple[set[str], bool] | None:
    """(class fragments of the first consumed character, whether ``node`` may match empty)."""
    if isinstance(node, _Char):
        return None if node.frags is None else (set(node.frags), False)
    if isinstance(node, _ZeroWidth):
        return set(), True
    if isinstance(node, _Group):
        return None if node.scoped_flags else _first(node.child)
    if isinstance(node, _Repeat):
        got = _first(node.child)
        return None if got is None else (got[0], got[1] or node.min == 0)
    if isinstance(node, _Seq):
        out: set[str] = set()
        for item in node.items:
            got = _first(item)
            if got is None:
                return None
            out |= got[0]
            if not got[1]:
                return out, False
        return out, True
    if isinstance(node, _Alt):
        union: set[str] = set()
        nullable = False
        for branch in node.branches:
            got = _first(branch)
            if got is None:
                return None
            union |= got[0]
            nullable = nullable or got[1]
        return union, nullable
    return None


def unsafe_reason(pattern: str) -> str | None:
    """Why ``pattern`` would backtrack catastrophically or blow up when compiled, as the end of
    an error message, or ``None`` when no such shape is found (see the module docstring)."""
    parsed = _parse(pattern)
    if parsed is None:
        return None
    return _nesting(parsed.node) or _repeat_product(parsed.node, 1)


def _nesting(node: _Node) -> str | None:
    for child in _children(node):
        found = _nesting(child)
        if found is not None:
            return found
    if (isinstance(node, _Repeat) and (node.max is None or node.max > 1)
            and _has_unbounded(node.child) and not _solid(node.child)):
        return ("repeats a part that itself repeats without bound, with nothing required between "
                "the repeats (like (a+)+ or (\\s?\\w+)*), which backtracks exponentially; "
                "repeat it once (a+) or require a separator inside the group")
    return None


def _repeat_product(node: _Node, product: int) -> str | None:
    if isinstance(node, _Repeat):
        product *= max(node.min, node.max or 0, 1)
        if product > MAX_REPEAT_PRODUCT:
            return (f"nests counted repeats that multiply to more than {MAX_REPEAT_PRODUCT:,}, "
                    "too big to compile; use smaller counts")
    for child in _children(node):
        found = _repeat_product(child, product)
        if found is not None:
            return found
    return None


def _children(node: _Node) -> tuple[_Node, ...]:
    if isinstance(node, _Seq):
        return node.items
    if isinstance(node, _Alt):
        return node.branches
    if isinstance(node, (_Repeat, _Group)):
        return (node.child,)
    return ()


def _has_unbounded(node: _Node) -> bool:
    if isinstance(node, _Repeat) and node.max is None:
        return True
    return any(_has_unbounded(c) for c in _children(node))


def _solid(node: _Node) -> bool:
    """Whether every match of ``node`` consumes a character outside an unbounded repeat (a
    separator that keeps the iterations of an enclosing repeat apart)."""
    if isinstance(node, (_Char, _Opaque)):
        return True
    if isinstance(node, _ZeroWidth):
        return False
    if isinstance(node, _Group):
        return _solid(node.child)
    if isinstance(node, _Repeat):
        return node.max is not None and node.min >= 1 and _solid(node.child)
    if isinstance(node, _Seq):
        return any(_solid(i) for i in node.items)
    if isinstance(node, _Alt):
        return all(_solid(b) for b in node.branches)
    return True  # pragma: no cover - every node kind is handled above
