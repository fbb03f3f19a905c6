"""The report's tables: one value object rendered both as an HTML table and as a CSV file, so the
two always show the same cells (the HTML shows the first rows, the CSV all of them)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from classifier.writers import spreadsheet_safe

__all__ = ["Table", "percent", "write_csv"]


@dataclass(frozen=True)
class Table:
    """``name`` is the CSV suffix (``creators`` -> ``report.creators.csv``); every cell is text."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.name!r} row {i} has {len(row)} cells, expected "
                                 f"{len(self.columns)} ({', '.join(self.columns)})")

    def csv_path(self, html_path: Path) -> Path:
        """``report.html`` -> ``report.<name>.csv`` beside it."""
        return html_path.with_name(f"{html_path.stem}.{self.name}.csv")


def write_csv(table: Table, path: Path) -> Path:
    """Write the table as UTF-8 CSV (with a BOM, so spreadsheet programs read the Chinese right).
    Cells that a spreadsheet would run as a formula (a nickname ``=HYPERLINK(...)``, ``@brand``)
    are written as text: see :func:`classifier.writers.spreadsheet_safe`."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([spreadsheet_safe(c) for c in table.columns])
        writer.writerows([spreadsheet_safe(c) for c in row] for row in table.rows)
    return path


def percent(part: int, whole: int) -> str:
    """``"42.9%"``; ``"-"`` when ``whole`` is zero."""
    return f"{100.0 * part / whole:.1f}%" if whole else "-"
