"""Dates of notes for the report: parsing what ``Note.published_at`` holds and bucketing by period.

``published_at`` is ISO 8601 when the dump gave an epoch time (see :mod:`classifier.notes`) and
otherwise the string as written; :func:`parse_date` understands ISO dates and datetimes (``Z`` or an
offset is converted to UTC), ``YYYY/MM/DD`` and ``YYYY.MM.DD``; anything else counts as undated.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Literal

__all__ = ["PERIODS", "Period", "choose_period", "parse_date", "period_key"]

Period = Literal["week", "month"]
PERIODS: tuple[str, ...] = ("auto", "week", "month")
WEEKLY_MAX_DAYS = 182
"""``auto`` picks weeks when the dated notes span at most this many days, months otherwise."""

_SEPARATORS = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})")


def parse_date(value: str | None) -> date | None:
    """The calendar day of a note's ``published_at`` (UTC when the time carries an offset), or
    ``None`` when it is missing or not a date this function knows."""
    if not value:
        return None
    text = value.strip()
    m = _SEPARATORS.match(text)
    if m is not None:
        text = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}{text[m.end():]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def choose_period(first: date | None, last: date | None, wanted: str = "auto") -> Period:
    """``week`` or ``month``: ``wanted`` unless it is ``auto``, then by the span of the dates."""
    if wanted not in PERIODS:
        raise ValueError(f"expected a period among {', '.join(PERIODS)}, got {wanted!r}")
    if wanted in ("week", "month"):
        return "week" if wanted == "week" else "month"
    if first is None or last is None:
        return "month"
    return "week" if (last - first).days <= WEEKLY_MAX_DAYS else "month"


def period_key(day: date, period: Period) -> str:
    """A sortable label: ``2024-W07`` (ISO week) or ``2024-02``."""
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"
