"""Obfuscation folds: the ``"folds"`` table of a lexicon, parsed and validated.

A fold row (see :mod:`classifier.signals` for the whole lexicon document)::

    {"id": "FOLD-002", "pattern": "[薇徽]信", "replace": "微信", "description": "..."}
    {"id": "FOLD-015", "pattern": "...", "strip": "[ -]", "gate": "\\d[ -]\\d"}
    {"id": "FOLD-001", "map": {"❶": "1", ...}}

has exactly one action: ``replace`` (a literal), ``strip`` (delete the characters matching it
inside the match) or ``map`` (per matched string; ``pattern`` defaults to the keys). ``gate``
optionally names a regex the text must contain for the fold to be tried (speed only).
:func:`classifier.normalize.normalize` applies folds in table order.

This module sits below both :mod:`classifier.normalize` (which folds with the packaged table by
default) and :mod:`classifier.signals` (which reads whole lexicons), so neither imports the other
in a circle.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifier.errors import PolicyError
from classifier.patterns import Regex, compile_pattern, first_char_class

__all__ = [
    "Fold",
    "Row",
    "default_folds",
    "parse_fold",
    "parse_folds",
    "read_lexicon_document",
    "row_id",
    "validate_row",
]

_R = TypeVar("_R", bound="Row")


@dataclass(frozen=True)
class Fold:
    """One obfuscation fold: matches of ``regex`` are rewritten (see the module docstring).

    ``gate`` is a regex that must occur in the text for the fold to be tried at all (default:
    the class of characters a match can start with); it only saves time.
    """

    id: str
    regex: Regex
    description: str = ""
    replace: str | None = None
    strip: Regex | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    gate: Regex | None = None

    def __post_init__(self) -> None:
        if self.gate is None:
            object.__setattr__(self, "gate", first_char_class(self.regex.pattern))

    def rewrite(self, matched: str, timeout: float | None = None) -> tuple[str, tuple[int, ...] | None]:
        """The replacement for ``matched`` and, per replacement character, the index inside
        ``matched`` it came from (``None``: the whole match)."""
        if self.strip is not None:
            strip = self.strip
            kept = tuple(i for i, c in enumerate(matched) if not strip.fullmatch(c, timeout=timeout))
            return "".join(matched[i] for i in kept), kept
        out = self.replace if self.replace is not None else self.mapping.get(matched, matched)
        return out, (tuple(range(len(out))) if len(out) == len(matched) else None)


class Row(BaseModel):
    """A lexicon row with a stable id (entries and folds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(min_length=1)
    description: str = ""


class _FoldRow(Row):
    pattern: str | None = None
    replace: str | None = None
    strip: str | None = None
    map: dict[str, str] | None = None
    gate: str | None = None


def validate_row(model: type[_R], row: Any, where: str, path: str | None) -> _R:
    """``model.model_validate(row)``; a :class:`PolicyError` naming ``where`` (the row's id)."""
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "row"
        raise PolicyError(f"{loc}: {err['msg']}", rule_id=where, path=path) from exc


def row_id(row: Any, fallback: str) -> str:
    """The row's own id when it has a usable one, else ``fallback`` (its position)."""
    rid = row.get("id") if isinstance(row, dict) else None
    return rid if isinstance(rid, str) and rid else fallback


def parse_fold(row: Any, k: int, path: str | None) -> Fold:
    """Validate the ``k``-th fold row of a lexicon and compile its patterns."""
    r = validate_row(_FoldRow, row, row_id(row, f"folds[{k}]"), path)

    def fail(msg: str) -> PolicyError:
        return PolicyError(msg, rule_id=r.id, path=path)

    actions = [a for a in ("replace", "strip", "map") if getattr(r, a) is not None]
    if len(actions) != 1:
        raise fail(f"a fold needs exactly one of 'replace', 'strip', 'map'; got {actions}")
    if r.map is not None and (not r.map or not all(r.map)):
        raise fail("'map' must be a non-empty object with non-empty keys")
    pattern = r.pattern
    if pattern is None and r.map:
        pattern = "|".join(regex.escape(c) for c in sorted(r.map, key=len, reverse=True))
    if not pattern:
        raise fail("a fold needs a non-empty regex 'pattern'")
    return Fold(
        r.id, compile_pattern(pattern, "pattern", fail), r.description, r.replace,
        None if r.strip is None else compile_pattern(r.strip, "strip", fail), dict(r.map or {}),
        None if r.gate is None else compile_pattern(r.gate, "gate", fail),
    )


def parse_folds(rows: Any, path: str | None) -> tuple[Fold, ...]:
    """Validate a lexicon's ``"folds"`` list (ids unique)."""
    if not isinstance(rows, list):
        raise PolicyError("'folds' must be a list of fold objects", path=path)
    folds = tuple(parse_fold(row, k, path) for k, row in enumerate(rows))
    seen: set[str] = set()
    for f in folds:
        if f.id in seen:
            raise PolicyError("duplicate fold id; give every fold its own id", rule_id=f.id, path=path)
        seen.add(f.id)
    return folds


def read_lexicon_document(path: Path | str | None = None) -> tuple[Any, str]:
    """The parsed JSON of a lexicon file (default: the packaged ``lexicon.json``) and where it
    was read from."""
    reader: Callable[..., str]
    if path is None:
        res = resources.files("classifier").joinpath("data", "lexicon.json")
        where, reader = str(res), res.read_text
    else:
        where, reader = str(path), Path(path).read_text
    try:
        return json.loads(reader(encoding="utf-8")), where
    except OSError as exc:
        raise PolicyError(f"cannot read the lexicon file: {exc}", path=where) from exc
    except ValueError as exc:
        raise PolicyError(f"not valid UTF-8 JSON: {exc}; fix the file", path=where) from exc


_DEFAULT_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _load_default_folds() -> tuple[Fold, ...]:
    data, where = read_lexicon_document()
    if not isinstance(data, dict):
        raise PolicyError(f"a lexicon must be a JSON object, got {type(data).__name__}", path=where)
    return parse_folds(data.get("folds", []), where)


def default_folds() -> tuple[Fold, ...]:
    """The packaged fold table (the ``"folds"`` of ``classifier/data/lexicon.json``), parsed once."""
    with _DEFAULT_LOCK:
        return _load_default_folds()
