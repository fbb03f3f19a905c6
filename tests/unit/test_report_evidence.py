"""The report counts verdicts by where their evidence was (text, comments, bio, pictures), from
the fields of their reasons, in the HTML page and in its CSV table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from classifier.writers import open_writer
from serving.report.build import build_report
from serving.report.evidence import EvidenceCounts, evidence_places, place_of


def verdict(note_id: str, label: str, *fields: str | None) -> dict[str, object]:
    return {"id": note_id, "label": label, "scores": {}, "decision": "review",
            "reasons": [{"rule": "R", "evidence": "e", "field": f, "start": None, "end": None}
                        for f in fields],
            "model_version": "m", "policy_version": "p", "model_scores": {}}


VERDICTS = [
    verdict("t", "undisclosed_ad", "text", None),
    verdict("c", "undisclosed_ad", "comments[3]", "title"),
    verdict("b", "undisclosed_ad", "author.bio"),
    verdict("p", "undisclosed_ad", "images[0]", "images[2]"),
    verdict("d", "declared", "images[1]"),
    verdict("n", "sharing", None),
    verdict("e", "sharing"),
]


@pytest.mark.parametrize(("field", "place"), [
    ("title", "text"), ("text", "text"), ("comments[12]", "comments"), ("author.bio", "bio"),
    ("images[0]", "pictures"), (None, None), ("author.nickname", None),
])
def test_report_evidence_place_of_field(field: str | None, place: str | None) -> None:
    assert place_of(field) == place


def test_report_evidence_places_from_reasons_list_or_json() -> None:
    reasons = VERDICTS[1]["reasons"]
    assert evidence_places(reasons) == ("text", "comments")
    assert evidence_places(json.dumps(reasons)) == ("text", "comments")
    assert evidence_places("not json") == evidence_places(None) == evidence_places([3]) == ()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_report_evidence_table_in_page_and_csv(tmp_path: Path, suffix: str) -> None:
    scored = tmp_path / f"v{suffix}"
    with open_writer(scored) as writer:
        writer.write(VERDICTS)
    result = build_report(scored, tmp_path / "r.html")
    with (tmp_path / "r.evidence.csv").open(encoding="utf-8-sig") as f:
        rows = {r["evidence_in"]: r for r in csv.DictReader(f)}
    got = {place: (int(r["sharing"]), int(r["undisclosed_ad"]), int(r["declared"]), r["share"])
           for place, r in rows.items()}
    assert got == {"text": (0, 2, 0, "28.6%"), "comments": (0, 1, 0, "14.3%"),
                   "bio": (0, 1, 0, "14.3%"), "pictures": (0, 1, 1, "28.6%"),
                   "none": (2, 0, 0, "28.6%")}
    assert result.verdicts == 7
    page = result.html.read_text(encoding="utf-8")
    assert '<section id="evidence">' in page and "r.evidence.csv" in page
    section = page.split('<section id="evidence">', 1)[1].split("</section>", 1)[0]
    assert "<td>pictures</td>" in section or ">pictures<" in section


def test_report_evidence_counts_each_place_once_per_verdict() -> None:
    counts = EvidenceCounts()
    counts.add("undisclosed_ad", ("comments", "pictures"))
    counts.add("sharing", ())
    table = {row[0]: row for row in counts.table().rows}
    assert table["comments"][1:] == ("0", "1", "0", "1", "50.0%")
    assert table["pictures"][1:] == ("0", "1", "0", "1", "50.0%")
    assert table["none"][1:] == ("1", "0", "0", "1", "50.0%")
    assert table["text"][1:] == ("0", "0", "0", "0", "0.0%")
