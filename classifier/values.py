"""Scalar values as dumps write them: counts (``"1.2万"``), booleans, times; one place for the
note reader (:mod:`classifier.notes`) and the comment reader (:mod:`classifier.comments`).

Every invalid value raises :class:`~classifier.errors.InputError` naming the field."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from classifier.errors import InputError

__all__ = ["parse_bool", "parse_count", "parse_time", "type_error"]

_COUNT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(万|w|W|亿|千|k|K)?\s*\+?$")
_MULTIPLIERS = {"万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "千": 1_000,
                "k": 1_000, "K": 1_000}
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


def parse_count(value: Any, *, field: str, row: int | None = None) -> int | None:
    """An engagement count or follower number: ``12``, ``12.0``, ``"1,234"``, ``"1.2万"``,
    ``"3w"``, ``"10+"``; ``None`` or ``""`` give ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise type_error(field, value, "a count such as 12, \"1.2万\" or \"10+\"", row)
    if isinstance(value, int):
        number: float = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise type_error(field, value, "a finite count", row)
        number = value
    elif isinstance(value, str):
        cleaned = value.strip().replace(",", "").replace("，", "")
        if not cleaned:
            return None
        match = _COUNT_RE.match(cleaned)
        if match is None:
            raise type_error(field, value, "a count such as 12, \"1.2万\" or \"10+\"", row)
        number = float(match.group(1)) * _MULTIPLIERS.get(match.group(2) or "", 1)
    else:
        raise type_error(field, value, "a count such as 12, \"1.2万\" or \"10+\"", row)
    if number < 0:
        raise InputError(f"expected a count >= 0, got {value!r}; fix or drop the value",
                         field=field, row=row)
    return round(number)


def parse_bool(value: Any, *, field: str, row: int | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise type_error(field, value, "a boolean (true/false, \"true\"/\"false\", 0/1)", row)


def parse_time(value: Any, *, field: str, row: int | None) -> str | None:
    """Epoch seconds or milliseconds (number or digit string) -> ISO 8601 in UTC; datetimes ->
    ISO 8601; any other string is kept as written."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\s*\d{9,14}(\.\d+)?\s*", value):
        value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            raise type_error(field, value, "an epoch time in seconds or milliseconds",
                              row) from None
    if isinstance(value, str):
        return value.strip() or None
    raise type_error(field, value, "a time (ISO string or epoch milliseconds)", row)


def type_error(field: str, value: Any, expected: str, row: int | None) -> InputError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InputError(f"expected {expected}, got {type(value).__name__} {shown}; "
                      "fix the value or drop the field", field=field, row=row)
