"""The error tree. Every message says what was received, what was expected and what to do.

    NotecheckError
    ├── InputError (ValueError)        a note or a dump row is invalid; carries ``field`` and ``row``
    │   └── FormatError                 a whole input cannot be read (unknown format, not UTF-8 ...)
    ├── ModelError                      a model folder is missing, incomplete or inconsistent
    ├── PolicyError (ValueError)        a policy or lexicon file is invalid; carries ``rule_id``
    │   └── MatchTimeout                a lexicon entry or fold ran past its time bound on a text
    └── NotFittedError (ValueError, AttributeError)  a model was used before fit/load
"""

from __future__ import annotations


class NotecheckError(Exception):
    """Base of every error this package raises on purpose."""


class InputError(NotecheckError, ValueError):
    """An input record is invalid. ``field`` names the offending field, ``row`` the 1-based
    line or row number in the dump (``None`` outside dumps)."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        self.field = field
        self.row = row
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.reason = message


class FormatError(InputError):
    """The input as a whole cannot be read (unknown format, unreadable file)."""


class ModelError(NotecheckError):
    """A model folder cannot be loaded."""


class PolicyError(NotecheckError, ValueError):
    """A policy or lexicon file is invalid. ``rule_id`` names the offending rule or entry."""

    def __init__(self, message: str, *, rule_id: str | None = None, path: str | None = None) -> None:
        self.rule_id = rule_id
        self.path = path
        where = " ".join(p for p in (f"{path}:" if path else "", f"rule {rule_id!r}:" if rule_id else "") if p)
        super().__init__(f"{where} {message}".strip())


class MatchTimeout(PolicyError):
    """A lexicon entry or fold (``rule_id``) ran past the matching time bound on one text: its
    pattern backtracks. Raised while scoring, so the note is not scored with partial evidence."""

    def __init__(self, rule_id: str, budget: float, length: int) -> None:
        super().__init__(
            f"matching ran past its {budget:g} s bound on a {length:,}-character text; the "
            "pattern backtracks (overlapping alternatives or repeats, like (a|aa)+): rewrite it "
            "so each character can be matched one way only, then reload the lexicon",
            rule_id=rule_id,
        )
        self.budget = budget
        self.length = length


class NotFittedError(NotecheckError, ValueError, AttributeError):
    """The model has not been fitted or loaded yet."""
