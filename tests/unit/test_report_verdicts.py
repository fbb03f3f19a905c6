"""Reading scored files for the report (JSONL, CSV, Parquet as `notecheck score` writes them),
bad rows reported not fatal, and the compact id index used for the join."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.errors import FormatError
from classifier.formats import RowError
from classifier.writers import open_writer
from serving.report.verdicts import VerdictIndex, VerdictRow, decode, encode, read_verdicts

VERDICTS = [
    {"id": "a", "label": "sharing", "scores": {"sharing": 0.9}, "decision": "pass",
     "reasons": [{"rule": "r", "evidence": "e", "field": "text", "start": 0, "end": 1}],
     "model_version": "m", "policy_version": "p", "model_scores": {}},
    {"id": "b", "label": "undisclosed_ad", "scores": {}, "decision": "block", "reasons": [],
     "model_version": "m", "policy_version": "p", "model_scores": {}},
    {"id": "c", "label": "declared", "scores": {}, "decision": "review", "reasons": [],
     "model_version": "m", "policy_version": "p", "model_scores": {}},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_report_reads_what_score_writes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"verdicts{suffix}"
    with open_writer(path) as writer:
        writer.write(VERDICTS)
    rows = list(read_verdicts(path))
    assert rows == [VerdictRow(i + 1, v["id"], v["label"], v["decision"], places)  # type: ignore[arg-type]
                    for i, (v, places) in enumerate(zip(VERDICTS, [("text",), (), ()], strict=True))]


def test_report_bad_verdict_rows_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text("\n".join([
        json.dumps(VERDICTS[0]), "{broken", "[1, 2]", json.dumps({"label": "sharing"}),
        json.dumps({"id": "x", "label": "spam", "decision": "pass"}), "",
        json.dumps({"id": "y", "label": "sharing", "decision": "later"}),
    ]) + "\n", "utf-8")
    rows = list(read_verdicts(path))
    assert isinstance(rows[0], VerdictRow)
    errors = [r for r in rows if isinstance(r, RowError)]
    assert [(e.row, e.field) for e in errors] == [(2, None), (3, None), (4, "id"), (5, "label"),
                                                 (7, "decision")]
    assert "expected one of sharing" in errors[3].reason


def test_report_unreadable_scored_files_fail_clearly(tmp_path: Path) -> None:
    array = tmp_path / "v.json"
    array.write_text(json.dumps(VERDICTS), "utf-8")
    with pytest.raises(FormatError, match="JSON array"):
        list(read_verdicts(array))
    csv = tmp_path / "v.csv"
    csv.write_text("id,score\na,1\n", "utf-8")
    with pytest.raises(FormatError, match="no column label, decision"):
        list(read_verdicts(csv))
    with pytest.raises(FormatError, match="no such file"):
        list(read_verdicts(tmp_path / "missing.jsonl"))


def test_report_verdict_index_joins_by_id() -> None:
    index = VerdictIndex()
    index.add("a", "sharing", "pass")
    index.add("b", "undisclosed_ad", "block")
    index.add("a", "declared", "review")  # a later duplicate: ignored
    with pytest.raises(RuntimeError, match="freeze"):
        index.get("a")
    index.freeze()
    assert index.get("a") == ("sharing", "pass")
    assert index.get("b") == ("undisclosed_ad", "block")
    assert index.get("zzz") is None
    assert index.duplicates == 1 and len(index) == 2
    with pytest.raises(RuntimeError, match="after freeze"):
        index.add("c", "sharing", "pass")


def test_report_verdict_codes_round_trip() -> None:
    pairs = [(label, decision) for label in ("sharing", "undisclosed_ad", "declared")
             for decision in ("pass", "review", "block")]
    assert sorted(encode(*p) for p in pairs) == list(range(9))
    assert all(decode(encode(*p)) == p for p in pairs)


def test_report_empty_index() -> None:
    index = VerdictIndex()
    index.freeze()
    assert index.get("a") is None and len(index) == 0
