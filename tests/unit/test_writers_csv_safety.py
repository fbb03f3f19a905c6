"""Every CSV the project writes shows crawled text as text: no cell runs as a spreadsheet formula."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from classifier.writers import open_writer, spreadsheet_safe
from serving.report.tables import Table, write_csv

DANGEROUS = ["=HYPERLINK(\"http://x\",\"点我\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
             "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_writers_spreadsheet_safe_prefixes_formula_starts(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "小红书", "-", "-3", "+1.5", "-12%", "0.25", "1e-5", "a=b",
                                  "#话题#"])
def test_writers_spreadsheet_safe_leaves_text_and_numbers(cell: str) -> None:
    assert spreadsheet_safe(cell) == cell


def _cells(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f))


def test_writers_csv_output_neutralises_formula_cells(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    rows = [{"id": cell, "author": {"name": cell}, "score": -0.5, "flag": True} for cell in DANGEROUS]
    with open_writer(path) as w:
        w.write(rows)
    header, *body = _cells(path)
    assert header == ["id", "author", "score", "flag"]
    for cell, row in zip(DANGEROUS, body, strict=True):
        assert row[0] == "'" + cell
        assert row[2:] == ["-0.5", "true"]  # numbers are not text: left alone
        assert not row[1].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_writers_report_csv_neutralises_formula_cells(tmp_path: Path) -> None:
    table = Table(name="creators", title="Creators", columns=("creator", "share", "@col"),
                  rows=tuple((cell, "-", "-12%") for cell in DANGEROUS))
    header, *body = _cells(write_csv(table, tmp_path / "r.creators.csv"), "utf-8-sig")
    assert header == ["creator", "share", "'@col"]
    assert [row[0] for row in body] == ["'" + cell for cell in DANGEROUS]
    assert all(row[1:] == ["-", "-12%"] for row in body)
