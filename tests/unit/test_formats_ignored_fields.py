"""One reader: fields no note field is read from are ignored (never an error) and named."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from classifier.formats import read_records
from classifier.notes import NOTE_FIELDS, unknown_fields


def test_notes_unknown_fields_keeps_the_record_order() -> None:
    record = {"vertical": "food", "id": "1", "label": "sharing", "desc": "x", "ip_location": "沪"}
    assert unknown_fields(record) == ("vertical", "label", "ip_location")
    assert unknown_fields(dict.fromkeys(NOTE_FIELDS, None)) == ()


def test_formats_records_name_their_ignored_fields_in_every_format(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps({"id": "1", "text": "hi", "label": "sharing"}) + "\n"
                     + json.dumps({"id": "2", "label": "x", "content": "no text"}) + "\n", "utf-8")
    first, second = read_records(jsonl)
    assert first.note is not None and first.ignored == ("label",)
    assert second.error is not None and second.ignored == ("label", "content")

    csv = tmp_path / "in.csv"
    csv.write_text("id,text,author.name,label,empty\n1,hi,小王,sharing,\n", "utf-8")
    (rec,) = read_records(csv)
    assert rec.note is not None and rec.note.author.name == "小王"
    assert rec.ignored == ("label",)  # author.name is read; an empty cell is not a field

    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "1", "text": "hi", "writer": "w1"}]), parquet)
    (rec,) = read_records(parquet)
    assert rec.note is not None and rec.ignored == ("writer",)
