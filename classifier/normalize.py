"""Text normalisation that remembers where every character came from.

``normalize(text)`` runs these steps in order; each one keeps, for every output character, the
span of the *source* string it came from, so a match found in the normalised text maps back to
the raw span the user wrote (``NormalizedText.source_span``):

1. NFKC, per character: fullwidth -> halfwidth, circled/fullwidth/superscript digits -> digits.
2. Zero-width characters and variation selectors removed (U+200B-200F, U+2060-2064, U+FEFF,
   U+FE00-FE0F, U+20E3 keycap combiner, soft hyphen), so the keycap emoji ``1️⃣`` becomes ``1``.
3. Traditional -> simplified Chinese with OpenCC ``t2s`` (one converter, created on first use);
   mapped 1:1 when the converted text keeps its length, else converted character by character.
4. Lower case.
5. Whitespace runs collapsed: a run holding a line break becomes ``"\\n"``, any other run ``" "``.
6. Obfuscation folding: the ``"folds"`` table of the lexicon (``classifier/data/lexicon.json``)
   rewrites contact-handle disguises to canonical forms (``薇信``/``vx``/``+v``/``绿泡泡`` ->
   ``微信``, ``扣扣``/``q号`` -> ``qq``, dingbat digits -> digits, separators inside phone numbers
   and dotted handles removed). Folds run in table order, each on the previous one's output.

A fold (:class:`~classifier.folds.Fold`, parsed from the lexicon by :mod:`classifier.folds`)
either substitutes a literal (``replace``), deletes the characters matching ``strip`` inside the
match, or substitutes per matched string (``map``). Folds see normalised text (NFKC, simplified,
lower case). Folding one text runs under a time bound (a :class:`~classifier.patterns.Deadline`,
shared with the lexicon match when :mod:`classifier.signals` passes one); a fold that runs past
it raises :class:`~classifier.errors.MatchTimeout` naming the fold.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from classifier.errors import MatchTimeout
from classifier.folds import Fold, default_folds
from classifier.patterns import Deadline, first_char_class

__all__ = [
    "Fold",
    "NormalizedText",
    "default_folds",
    "first_char_class",
    "normalize",
]

_ZERO_WIDTH = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff\ufe00-\ufe0f\u20e3\U000e0100-\U000e01ef]"
)
_WHITESPACE_TO_FIX = re.compile(r"\s{2,}|[^\S \n]")
_Edit = tuple[int, int, str, tuple[int, ...] | None]


@dataclass(frozen=True)
class NormalizedText:
    """Normalised text; character ``i`` came from ``source[starts[i]:ends[i]]``.

    Several normalised characters may share one source span (``⑩`` -> ``10``, ``+v`` -> ``加微信``)
    and a removed source character (zero-width, variation selector) belongs to the character
    before it. ``starts``/``ends`` are tuples, or ``range`` objects while the mapping is still the
    identity.
    """

    text: str
    starts: Sequence[int]
    ends: Sequence[int]
    source_length: int

    def __post_init__(self) -> None:
        if not len(self.text) == len(self.starts) == len(self.ends):
            raise ValueError(
                f"NormalizedText needs one start and one end per character: got {len(self.text)} "
                f"characters, {len(self.starts)} starts and {len(self.ends)} ends"
            )

    def source_span(self, i: int, j: int) -> tuple[int, int]:
        """The source span ``[start, end)`` that the normalised span ``[i, j)`` came from."""
        n = len(self.text)
        if not 0 <= i <= j <= n:
            raise IndexError(f"span [{i}, {j}) is outside the normalised text of length {n}")
        if i == j:
            pos = self.starts[i] if i < n else self.source_length
            return pos, pos
        return self.starts[i], self.ends[j - 1]


def normalize(
    text: str, folds: Sequence[Fold] | None = None, *, deadline: Deadline | None = None
) -> NormalizedText:
    """Normalise ``text`` (see the module docstring); ``folds`` defaults to the packaged table,
    ``()`` turns folding off. Folding must end by ``deadline`` (default:
    :meth:`~classifier.patterns.Deadline.for_text`) or raise :class:`~classifier.errors.MatchTimeout`."""
    n = len(text)
    starts: Sequence[int] = range(n)
    ends: Sequence[int] = range(1, n + 1)
    edits: list[_Edit]
    tables = _tables()

    if not unicodedata.is_normalized("NFKC", text):
        if not tables.nfkc_slow.found_in(text):  # 1:1 changes only: offsets stay as they are
            for c in set(tables.nfkc_one_bmp.findall(text)):
                text = text.replace(c, tables.nfkc_one[c])
        else:
            edits = [(m.start(), m.end(), _nfkc_char(m.group()), None)
                     for m in tables.nfkc_any.finditer(text)]
            text, starts, ends = _rewrite(text, starts, ends, edits)

    if _ZERO_WIDTH.search(text):
        edits = [(m.start(), m.end(), "", None) for m in _ZERO_WIDTH.finditer(text)]
        text, starts, ends = _rewrite(text, starts, ends, edits)

    if tables.t2s.found_in(text):
        simplified = _t2s(text)
        if len(simplified) == len(text):
            text = simplified
        else:
            edits = [(m.start(), m.end(), tables.t2s_char[m.group()], None)
                     for m in tables.t2s.every.finditer(text)]
            text, starts, ends = _rewrite(text, starts, ends, edits)

    lowered = text.lower()
    if lowered != text:
        if len(lowered) == len(text):
            text = lowered
        else:
            edits = [(i, i + 1, lc, None) for i, c in enumerate(text) if (lc := c.lower()) != c]
            text, starts, ends = _rewrite(text, starts, ends, edits)

    if _WHITESPACE_TO_FIX.search(text):
        edits = [(m.start(), m.end(), "\n" if "\n" in m.group() else " ", None)
                 for m in _WHITESPACE_TO_FIX.finditer(text)]
        text, starts, ends = _rewrite(text, starts, ends, edits)

    folds = default_folds() if folds is None else folds
    clock = deadline or Deadline.for_text(text)
    for fold in folds:
        try:
            edits = _fold_edits(fold, text, clock)
        except TimeoutError:
            raise MatchTimeout(fold.id, clock.budget, len(text)) from None
        if edits:
            text, starts, ends = _rewrite(text, starts, ends, edits)

    if not isinstance(starts, range):
        starts, ends = tuple(starts), tuple(ends)
    return NormalizedText(text, starts, ends, n)


def _fold_edits(fold: Fold, text: str, deadline: Deadline) -> list[_Edit]:
    if fold.gate is not None and fold.gate.search(text, timeout=deadline.left()) is None:
        return []
    edits: list[_Edit] = []
    for m in fold.regex.finditer(text, timeout=deadline.left()):
        a, b = m.span()
        if a == b:
            continue
        out, idx = fold.rewrite(m.group(), deadline.left())
        if out != m.group():
            edits.append((a, b, out, None if idx is None else tuple(a + k for k in idx)))
    return edits


def _rewrite(
    text: str, starts: Sequence[int], ends: Sequence[int], edits: Sequence[_Edit]
) -> tuple[str, list[int], list[int]]:
    """Apply sorted, non-overlapping ``(a, b, replacement, source_indices)`` edits.

    ``source_indices`` gives, per replacement character, the index in ``text`` it maps to; ``None``
    maps every replacement character to the whole span ``[a, b)``. Deleted characters (an empty
    replacement) are added to the span of the character before them, so ``❤`` keeps its ``U+FE0F``.
    """
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for a, b, repl, idx in edits:
        if a > pos:
            out.append(text[pos:a])
            new_starts.extend(starts[pos:a])
            new_ends.extend(ends[pos:a])
        if not repl:
            if new_ends:  # a deleted character joins the span of the one before it
                new_ends[-1] = ends[b - 1]
        else:
            out.append(repl)
            if idx is not None:
                new_starts.extend(starts[k] for k in idx)
                new_ends.extend(ends[k] for k in idx)
            else:
                new_starts.extend([starts[a]] * len(repl))
                new_ends.extend([ends[b - 1]] * len(repl))
        pos = b
    out.append(text[pos:])
    new_starts.extend(starts[pos:])
    new_ends.extend(ends[pos:])
    return "".join(out), new_starts, new_ends


@lru_cache(maxsize=8192)
def _nfkc_char(c: str) -> str:
    return unicodedata.normalize("NFKC", c)


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class _CharSet:
    """A set of characters as regex classes; ``re`` scans a BMP-only class with a bitmap, so
    the astral part (slow, linear) is only searched when the text has astral characters."""

    bmp: re.Pattern[str]
    astral: re.Pattern[str]
    every: re.Pattern[str]

    @classmethod
    def of(cls, chars: Iterable[str]) -> _CharSet:
        cps = sorted({ord(c) for c in chars})
        return cls(_class([c for c in cps if c < 0x10000]), _class([c for c in cps if c >= 0x10000]),
                   _class(cps))

    def found_in(self, text: str) -> bool:
        return self.bmp.search(text) is not None or (
            _ASTRAL.search(text) is not None and self.astral.search(text) is not None)


@dataclass(frozen=True)
class _Tables:
    """Per-character facts computed once (about 0.2 s) on the first call to :func:`normalize`."""

    nfkc_one: dict[str, str]  # characters NFKC maps to exactly one other character
    nfkc_one_bmp: re.Pattern[str]  # ... those in the BMP
    nfkc_slow: _CharSet  # characters NFKC maps to 0 or 2+ characters, and astral 1:1 ones
    nfkc_any: re.Pattern[str]  # every character NFKC changes
    t2s_char: dict[str, str]  # characters OpenCC t2s changes on their own
    t2s: _CharSet


_TABLES_LOCK = threading.Lock()
_TABLES: _Tables | None = None
_T2S: Any = None
# NFKC is scanned below U+30000 (nothing above changes); t2s over the CJK blocks.
_T2S_BLOCKS = ((0x2E80, 0xA000), (0xF900, 0xFB00), (0xFE30, 0xFE50), (0x20000, 0x30000))


def _tables() -> _Tables:
    global _TABLES, _T2S
    if _TABLES is None:
        with _TABLES_LOCK:
            if _TABLES is None:
                import opencc

                _T2S = opencc.OpenCC("t2s")
                one: dict[str, str] = {}
                slow: list[str] = []
                for cp in range(0x80, 0x30000):
                    if 0xD800 <= cp < 0xE000:
                        continue
                    c = chr(cp)
                    nf = unicodedata.normalize("NFKC", c)
                    if nf != c:
                        if len(nf) == 1:
                            one[c] = nf
                        if len(nf) != 1 or cp >= 0x10000:
                            slow.append(c)
                chars = [chr(cp) for lo, hi in _T2S_BLOCKS for cp in range(lo, hi)]
                converted = str(_T2S.convert("\n".join(chars))).split("\n")
                if len(converted) != len(chars):  # pragma: no cover - OpenCC keeps line breaks
                    converted = [str(_T2S.convert(c)) for c in chars]
                t2s = {c: s for c, s in zip(chars, converted) if s != c}
                _TABLES = _Tables(
                    nfkc_one=one,
                    nfkc_one_bmp=_class(sorted(ord(c) for c in one if ord(c) < 0x10000)),
                    nfkc_slow=_CharSet.of(slow),
                    nfkc_any=_class(sorted({ord(c) for c in [*one, *slow]})),
                    t2s_char=t2s,
                    t2s=_CharSet.of(t2s),
                )
    return _TABLES


def _class(cps: Sequence[int]) -> re.Pattern[str]:
    """A compiled character class matching exactly the (sorted) code points ``cps``."""
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return re.compile(f"[{''.join(parts)}]" if parts else "(?!)")


def _t2s(text: str) -> str:
    _tables()
    return str(_T2S.convert(text))
