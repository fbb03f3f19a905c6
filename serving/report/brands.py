"""Which brands a note names: its @mentions, its product tags, and known brand names in its text.

A brand is identified by a *key*: the name NFKC-normalised, case-folded, spaces removed and shop
suffixes stripped (``某某官方旗舰店``, ``某某旗舰店`` and ``@某某官方`` are all ``某某``). The
dictionary used to find brands in text is built from the whole dump first (every @mention and every
product-tag store seen anywhere, plus an optional list of names), so a note that only *writes*
``某某`` is attributed to the brand that other notes @ or tag.

Caveats, shown in the report: an @mention is not always a brand (friends are mentioned too), and a
product tag without a store counts for its own note only (its name is usually a product, not a
brand, so it is not searched for in other notes).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from classifier.types import Note

__all__ = ["BrandDictionary", "NoteBrands", "brand_key", "note_brands"]

MIN_KEY_CHARS = 2
"""Shorter keys (one CJK character, one letter) are never searched for in text."""

_SUFFIXES = ("官方旗舰店", "官方旗舰", "旗舰店", "官方账号", "官方号", "官方店", "专卖店", "专营店",
             "官方微博", "官方", "旗舰", "official", "_official", "officialstore", "store")
_SPACE = re.compile(r"[\s·・_\-.]+")
_ASCII_WORD = re.compile(r"[a-z0-9]")


def brand_key(name: str) -> str:
    """The brand a name stands for: ``"@Dior 官方旗舰店"`` -> ``"dior"``; ``""`` for no name."""
    text = unicodedata.normalize("NFKC", name).casefold().strip().lstrip("@#").strip()
    text = original = _SPACE.sub("", text)
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) - len(suffix) >= MIN_KEY_CHARS:
                text = text[: -len(suffix)]
                changed = True
    return original if text in _SUFFIXES else text


@dataclass(frozen=True)
class NoteBrands:
    """The brand keys of one note by where they were found (a key may be in several)."""

    mentioned: frozenset[str]
    tagged: frozenset[str]
    in_text: frozenset[str]

    @property
    def all(self) -> frozenset[str]:
        return self.mentioned | self.tagged | self.in_text


class BrandDictionary:
    """Brand keys and their display names, and a fast finder of the keys in text.

    ``learn(note)`` for every note of the dump (and ``add(name)`` for extra names), then ``find``.
    The finder indexes keys by their first character, so a text costs one set lookup per
    character plus a few slices where a key could start.
    """

    def __init__(self) -> None:
        self._names: dict[str, Counter[str]] = {}
        self._by_first: dict[str, set[int]] | None = None
        self._keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, name: str, *, searchable: bool = True) -> str:
        """Record ``name``; returns its key (``""`` when the name has none)."""
        key = brand_key(name)
        if not key:
            return key
        self._names.setdefault(key, Counter())[name.strip().lstrip("@").strip()] += 1
        searched = searchable and len(key) >= MIN_KEY_CHARS and not key.isdigit()
        if searched and key not in self._keys:
            self._keys.add(key)
            self._by_first = None
        return key

    def learn(self, note: Note) -> None:
        """Take the note's @mentions and its product tags' stores into the dictionary (a tag
        without a store is remembered for its display name only, not searched for)."""
        for name in note.mentions:
            self.add(name)
        for tag in note.product_tags:
            if tag.store:
                self.add(tag.store)
            else:
                self.add(tag.name, searchable=False)

    def display(self, key: str) -> str:
        """The name most often written for ``key`` (the key itself when never seen)."""
        names = self._names.get(key)
        if not names:
            return key
        return min(names.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0]

    def _index(self) -> dict[str, set[int]]:
        if self._by_first is None:
            index: dict[str, set[int]] = {}
            for key in self._keys:
                index.setdefault(key[0], set()).add(len(key))
            self._by_first = index
        return self._by_first

    def find(self, text: str) -> frozenset[str]:
        """The dictionary keys that occur in ``text`` (normalised the way keys are); an ASCII key
        must not be glued to other letters or digits (``dior`` is not found in ``diorama``)."""
        index = self._index()
        if not index or not text:
            return frozenset()
        folded = _SPACE.sub("", unicodedata.normalize("NFKC", text).casefold())
        found: set[str] = set()
        for i in (i for i, c in enumerate(folded) if c in index):
            for length in index[folded[i]]:
                piece = folded[i:i + length]
                if piece in self._keys and _standalone(folded, i, i + length):
                    found.add(piece)
        return frozenset(found)


def _standalone(text: str, start: int, end: int) -> bool:
    """An ASCII key needs non-alphanumeric neighbours; a CJK key matches anywhere."""
    if not text[start].isascii():
        return True
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return not (_ASCII_WORD.match(before) or _ASCII_WORD.match(after))


def note_brands(note: Note, dictionary: BrandDictionary) -> NoteBrands:
    """Where the note names brands: its @mentions, its product tags (the store, else the product
    name), and dictionary keys found in its title and text."""
    mentioned = _keys(note.mentions)
    tagged = _keys(tag.store or tag.name for tag in note.product_tags)
    in_text = dictionary.find(f"{note.title}\n{note.text}")
    return NoteBrands(mentioned, tagged, in_text)


def _keys(names: Iterable[str]) -> frozenset[str]:
    return frozenset(k for k in (brand_key(n) for n in names) if k)
