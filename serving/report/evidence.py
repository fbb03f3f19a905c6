"""Where a verdict's evidence was: the note's text, its comments, the author's bio, its pictures.

Read from the fields of the verdict's reasons (``title``/``text`` -> ``text``, ``comments[i]`` ->
``comments``, ``author.bio`` -> ``bio``, ``images[i]`` -> ``pictures``); reasons without a field
(the model's scores, a product tag, the sponsor flag) point at no place. The report counts verdicts
by label for each place; a verdict with evidence in several places is counted in each of them, and
one with none in the ``none`` row, so the rows may add up to more than the verdicts.
"""

from __future__ import annotations

import json
from typing import Any

from classifier.types import LABELS
from serving.report.tables import Table, percent

__all__ = ["NO_PLACE", "PLACES", "EvidenceCounts", "evidence_places", "place_of"]

PLACES: tuple[str, ...] = ("text", "comments", "bio", "pictures")
NO_PLACE = "none"
"""The row of verdicts whose reasons point into no field (model scores and structural facts)."""


def place_of(field: str | None) -> str | None:
    """The place of a reason's field, or ``None`` (no field, or one of no place above)."""
    if field in ("title", "text"):
        return "text"
    if field == "author.bio":
        return "bio"
    if field is not None and field.startswith("comments["):
        return "comments"
    if field is not None and field.startswith("images["):
        return "pictures"
    return None


def evidence_places(reasons: Any) -> tuple[str, ...]:
    """The places (in :data:`PLACES` order) of a verdict's ``reasons``: a list of reason objects,
    or the JSON text of one (how CSV and Parquet outputs hold it). Anything else holds none."""
    if isinstance(reasons, str):
        try:
            reasons = json.loads(reasons) if reasons.strip() else []
        except json.JSONDecodeError:
            return ()
    if not isinstance(reasons, list):
        return ()
    found = {place_of(r.get("field")) for r in reasons if isinstance(r, dict)
             and (r.get("field") is None or isinstance(r.get("field"), str))}
    return tuple(p for p in PLACES if p in found)


class EvidenceCounts:
    """Verdicts by (place, label), counted one verdict at a time."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, int]] = {p: dict.fromkeys(LABELS, 0)
                                                 for p in (*PLACES, NO_PLACE)}
        self.total = 0

    def add(self, label: str, places: tuple[str, ...]) -> None:
        self.total += 1
        for place in places or (NO_PLACE,):
            self.cells[place][label] += 1

    def table(self) -> Table:
        rows = []
        for place in (*PLACES, NO_PLACE):
            cells = self.cells[place]
            n = sum(cells.values())
            rows.append((place, *(str(cells[label]) for label in LABELS), str(n),
                         percent(n, self.total)))
        return Table("evidence", "Verdicts by where their evidence was (a verdict with evidence "
                     "in several places is counted in each)",
                     ("evidence_in", *LABELS, "verdicts", "share"), tuple(rows))
