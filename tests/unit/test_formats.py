"""Readers, writers and format detection: row numbering, malformed records, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifier.errors import FormatError, InputError
from classifier.formats import (
    Record,
    RowError,
    count_records,
    detect_format,
    read_records,
)
from classifier.writers import open_writer

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _errors(records: list[Record]) -> dict[int, RowError]:
    return {r.row: r.error for r in records if r.error is not None}


def _notes(records: list[Record]) -> dict[int, str]:
    return {r.row: r.note.id for r in records if r.note is not None}


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("a.jsonl", b'{"id": 1}\n', "jsonl"),
    ("a.ndjson", b"", "jsonl"),
    ("a.csv", b"id,text\n", "csv"),
    ("a.json", b'  [{"id": 1}]', "json"),
    ("a.json", b'{"id": 1, "text": "x"}\n{"id": 2, "text": "y"}\n', "jsonl"),
    ("a.json", b'{\n  "notes": []\n}\n', "json"),
    ("a.json", b'{"notes": [{"id": 1}]}', "json"),
    ("a.txt", b'\xef\xbb\xbf{"id": 1}\n{"id": 2}\n', "jsonl"),
    ("a", b"[]", "json"),
    ("a.txt", b"id,title,text\n1,a,b\n", "csv"),
    ("a.dat", b"PAR1....", "parquet"),
    ("a.txt", b"", "jsonl"),
])
def test_formats_detect(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert detect_format(path) == expected


def test_formats_detect_parquet_by_extension_and_content(tmp_path: Path) -> None:
    path = tmp_path / "notes.bin"
    pq.write_table(pa.table({"id": ["1"], "text": ["x"]}), path)
    assert detect_format(path) == "parquet"
    assert detect_format(path.rename(tmp_path / "notes.parquet")) == "parquet"


@pytest.mark.parametrize(("name", "content"), [("a.txt", b"just some words"),
                                               ("a.json", b"hello")])
def test_formats_detect_unknown_raises(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FormatError, match="format|extension"):
        detect_format(path)


def test_formats_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        list(read_records(tmp_path / "missing.jsonl"))
    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(FormatError, match="unknown format"):
        list(read_records(tmp_path / "a.jsonl", "xml"))


# ----------------------------------------------------------------------------- JSONL


def test_formats_jsonl_malformed_rows_get_row_and_field() -> None:
    records = list(read_records(DATA / "malformed.jsonl"))
    assert _notes(records) == {1: "m1", 13: "m13"}
    errors = _errors(records)
    assert sorted(errors) == [2, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # line 3 is blank
    expected_fields = {2: None, 4: "text", 5: "text", 6: "mentions", 7: None, 8: None,
                       9: "author.followers", 10: "author.account_type", 11: "sponsor_flag",
                       12: "id"}
    assert {row: e.field for row, e in errors.items()} == expected_fields
    assert "invalid JSON" in errors[2].reason
    assert "UTF-8" in errors[8].reason and "\ufffd" in errors[8].raw
    assert "JSON object" in errors[7].reason and errors[7].raw == "[1, 2]"
    assert all(e.row == row for row, e in errors.items())


def test_formats_jsonl_oversized_note(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    lines = [json.dumps({"id": "small", "text": "ok"}),
             json.dumps({"id": "big", "text": "长" * 100_001}, ensure_ascii=False),
             json.dumps({"id": "after", "text": "ok"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = list(read_records(path))
    assert _notes(records) == {1: "small", 3: "after"}
    error = _errors(records)[2]
    assert error.field == "text" and "100,000" in error.reason
    assert len(error.raw) <= 510


def test_formats_jsonl_record_over_byte_limit_is_skipped_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"id": "huge", "text": "a" * 3000}) + "\n"
                    + json.dumps({"id": "next", "text": "b"}) + "\n", encoding="utf-8")
    records = list(read_records(path, max_chars=10))  # limit 60 + 1 MiB bytes: not reached
    assert _errors(records)[1].field == "text"
    path.write_text(json.dumps({"id": "huge", "text": "a" * (2 << 20)}) + "\n"
                    + json.dumps({"id": "next", "text": "b"}) + "\n", encoding="utf-8")
    records = list(read_records(path, max_chars=10))
    assert "bytes" in _errors(records)[1].reason
    assert _notes(records) == {2: "next"}


def test_formats_empty_files_give_no_records(tmp_path: Path) -> None:
    for name, content in [("e.jsonl", ""), ("e.json", ""), ("e2.json", "[]"), ("e.csv", ""),
                          ("h.csv", "id,text\n"), ("b.jsonl", "\n\n  \n")]:
        path = tmp_path / name
        path.write_text(content)
        assert list(read_records(path)) == [], name


def test_formats_start_row_skips_and_keeps_numbering() -> None:
    records = list(read_records(DATA / "malformed.jsonl", start_row=9))
    assert [r.row for r in records] == [9, 10, 11, 12, 13]


# ----------------------------------------------------------------------------- JSON array


def test_formats_json_array_crawler_export() -> None:
    records = list(read_records(DATA / "crawler_sample.json"))
    assert [r.row for r in records] == [1, 2, 3]
    first = records[0].note
    assert first is not None
    assert first.topics == ("露营", "周末去哪儿") and first.mentions == ("山野小记",)
    assert first.likes == 12000 and first.collects == 10
    assert _errors(records)[2].field == "text"
    third = records[2].note
    assert third is not None and third.sponsor_flag and third.product_tags[0].name == "修护面霜"


def test_formats_json_array_isolates_bad_elements(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    tricky = 'quote \\" and brackets ] } [ , inside'
    path.write_text('[{"id": "1", "text": "x"}, {"id": 2 "text": "y"}, 5, "s",\n'
                    f'{{"id": "4", "text": "{tricky}", "n": [1, [2, {{}}]]}}, null]',
                    encoding="utf-8")
    records = list(read_records(path))
    assert _notes(records) == {1: "1", 5: "4"}
    errors = _errors(records)
    assert sorted(errors) == [2, 3, 4, 6]
    assert "invalid JSON" in errors[2].reason
    assert "got int" in errors[3].reason and "got null" in errors[6].reason
    note = records[4].note
    assert note is not None and note.text == 'quote " and brackets ] } [ , inside'


def test_formats_json_array_streams_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    items = [{"id": str(i), "text": "文本" * (i % 50 + 1) + "\\\"" * (i % 3)}
             for i in range(3000)]
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    records = list(read_records(path))
    assert len(records) == 3000 and all(r.note is not None for r in records)
    assert [r.row for r in records[:3]] == [1, 2, 3]
    assert records[-1].note is not None and records[-1].note.text == items[-1]["text"]
    assert [r.row for r in read_records(path, start_row=2999)] == [2999, 3000]


def test_formats_json_array_oversized_element_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    big = {"id": "2", "text": 'a\\"' * (1 << 19)}
    path.write_text(json.dumps([{"id": "1", "text": "x"}, big, {"id": "3", "text": "y"}]))
    records = list(read_records(path, max_chars=10))
    assert _notes(records) == {1: "1", 3: "3"}
    error = _errors(records)[2]
    assert error.field == "text" and "characters or more" in error.reason
    assert len(error.raw) <= 510


def test_formats_json_array_truncated_reports_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[{"id": "1", "text": "x"}, {"id": "2", "text": "unfinished', encoding="utf-8")
    records = list(read_records(path))
    assert _notes(records) == {1: "1"}
    assert 2 in _errors(records)


def test_formats_json_array_non_utf8_element(tmp_path: Path) -> None:
    path = tmp_path / "bytes.json"
    path.write_bytes(b'[{"id": "1", "text": "\xff"}, {"id": "2", "text": "ok"}]')
    records = list(read_records(path))
    assert "UTF-8" in _errors(records)[1].reason and _notes(records) == {2: "2"}


def test_formats_json_object_wrapper_and_single_note(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"notes": [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]},
                               indent=2))
    assert _notes(list(read_records(path))) == {1: "a", 2: "b"}
    path.write_text(json.dumps({"id": "solo", "text": "x"}, indent=2))
    assert _notes(list(read_records(path))) == {1: "solo"}


def test_formats_json_not_array_raises(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text("42")
    with pytest.raises(FormatError, match="JSON array"):
        list(read_records(path, "json"))


# ----------------------------------------------------------------------------- CSV


def test_formats_csv_sample() -> None:
    records = list(read_records(DATA / "sample.csv"))
    assert _notes(records) == {1: "c1", 2: "c2", 5: "c5"}  # row 3 is empty, row 4 invalid
    assert _errors(records)[4].field == "author.followers"
    c1, c2 = records[0].note, records[1].note
    assert c1 is not None and c2 is not None
    assert "\n" in c1.text and c1.mentions == ("奶茶店官方",) and c1.topics == ("奶茶",)
    assert c1.author.followers == 120 and c1.sponsor_flag is False
    assert c2.mentions == ("品牌官方号",) and c2.topics == ("护肤", "面霜")
    assert c2.product_tags[0].price == 199.0 and c2.sponsor_flag is True
    assert c2.author.account_type == "creator" and c2.author.has_store is True
    assert c2.likes == 1204


def test_formats_csv_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,ok\n2,ok,extra\n3,\xff\xfe\n4,fine\n")
    records = list(read_records(path))
    assert _notes(records) == {1: "1", 4: "4"}
    errors = _errors(records)
    assert "cells" in errors[2].reason
    assert errors[3].field == "text" and "UTF-8" in errors[3].reason


def test_formats_csv_crawler_export(tmp_path: Path) -> None:
    path = tmp_path / "crawler.csv"
    path.write_text("note_id,title,desc,liked_count,tag_list,time\n"
                    'n1,标题,"好看 #穿搭[话题]# @小红薯",1.2万,"穿搭,日常",1717200000000\n',
                    encoding="utf-8")
    (record,) = list(read_records(path))
    assert record.note is not None
    assert record.note.text == "好看 #穿搭# @小红薯" and record.note.topics == ("穿搭", "日常")
    assert record.note.likes == 12000 and record.note.published_at is not None


# ----------------------------------------------------------------------------- Parquet


def test_formats_parquet_reader(tmp_path: Path) -> None:
    path = tmp_path / "notes.parquet"
    table = pa.table({
        "id": ["p1", "p2", None, "p4"],
        "text": ["正文 #话题#", "x", "no id", None],
        "mentions": [["a"], None, None, None],
        "author": [{"account_type": "creator", "followers": 10}, None, None, None],
        "likes": [1, None, 3, 4],
    })
    pq.write_table(table, path, row_group_size=2)
    records = list(read_records(path))
    assert _notes(records) == {1: "p1", 2: "p2"}
    assert {r: e.field for r, e in _errors(records).items()} == {3: "id", 4: "text"}
    note = records[0].note
    assert note is not None and note.mentions == ("a",) and note.author.followers == 10
    assert [r.row for r in read_records(path, start_row=3)] == [3, 4]
    assert count_records(path) == 4


def test_formats_corrupt_parquet_raises(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet PAR1")
    with pytest.raises(FormatError, match="Parquet"):
        list(read_records(path))


# ----------------------------------------------------------------------------- counting


def test_formats_count_records() -> None:
    assert count_records(DATA / "malformed.jsonl") == 12
    assert count_records(DATA / "sample.csv") == 6  # an upper bound: a quoted newline
    assert count_records(DATA / "crawler_sample.json") is None
    assert count_records(EXAMPLES / "notes_crawler.jsonl") == 24


# ----------------------------------------------------------------------------- writers

ROWS: list[dict[str, Any]] = [
    {"id": "a", "label": "sharing", "scores": {"sharing": 0.9, "declared": 0.1},
     "reasons": [{"rule": "r1", "evidence": "广告"}], "ok": True, "n": 1, "x": 0.5, "note": None},
    {"id": "b", "label": "declared", "scores": {"sharing": 0.2}, "reasons": [], "ok": False,
     "n": 2, "x": 1, "note": "中文"},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_formats_writer_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with open_writer(path) as writer:
        writer.write(ROWS[:1])
        writer.write(iter(ROWS[1:]))
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        assert "中文" in text and "广告" in text  # ensure_ascii=False
        assert [json.loads(line) for line in text.splitlines()] == ROWS
        return
    if suffix == ".csv":
        import csv

        with path.open(encoding="utf-8", newline="") as f:
            got: list[dict[str, Any]] = list(csv.DictReader(f))
        assert got[0]["ok"] == "true" and got[1]["note"] == "中文" and got[0]["note"] == ""
    else:
        got = pq.read_table(path).to_pylist()
        assert got[0]["ok"] is True and got[0]["n"] == 1 and got[1]["x"] == 1.0
        assert got[0]["note"] is None and got[1]["note"] == "中文"
    assert json.loads(got[0]["scores"]) == ROWS[0]["scores"]
    assert json.loads(got[0]["reasons"]) == ROWS[0]["reasons"]
    assert [g["id"] for g in got] == ["a", "b"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_formats_written_notes_read_back(tmp_path: Path, suffix: str) -> None:
    source = list(read_records(EXAMPLES / "notes_canonical.jsonl"))
    lines = (EXAMPLES / "notes_canonical.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    columns = sorted({k for row in rows for k in row})
    path = tmp_path / f"notes{suffix}"
    with open_writer(path, columns=columns) as writer:
        writer.write(rows)
    again = list(read_records(path))
    assert [r.note for r in again] == [r.note for r in source]
    assert all(r.note is not None for r in source)


def test_formats_parquet_writer_batches_and_keeps_schema(tmp_path: Path) -> None:
    path = tmp_path / "many.parquet"
    with open_writer(path) as writer:
        writer.write({"id": str(i), "v": i, "tags": [i], "s": None if i < 1500 else i}
                     for i in range(2500))
    table = pq.read_table(path)
    assert table.num_rows == 2500 and table.schema.field("tags").type == pa.string()
    assert table.column("s").to_pylist()[1500] == "1500"  # all-null first batch: string


def test_formats_writer_rejects_new_columns_and_unknown_formats(tmp_path: Path) -> None:
    with open_writer(tmp_path / "o.csv") as writer:
        writer.write([{"id": "a"}])
        with pytest.raises(InputError, match="columns="):
            writer.write([{"id": "b", "extra": 1}])
    with pytest.raises(FormatError):
        open_writer(tmp_path / "o.xlsx")
    with pytest.raises(FormatError, match="appended"):
        open_writer(tmp_path / "o.parquet", append=True)


def test_formats_writer_append_resumes(tmp_path: Path) -> None:
    for suffix in (".jsonl", ".csv"):
        path = tmp_path / f"r{suffix}"
        with open_writer(path) as writer:
            writer.write([{"id": "a", "v": 1}])
        with open_writer(path, append=True) as writer:
            writer.write([{"id": "b", "v": 2}])
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == (2 if suffix == ".jsonl" else 3), suffix


@pytest.mark.parametrize("columns", [None, ["id", "label"]])
def test_formats_empty_writers_make_readable_files(tmp_path: Path,
                                                   columns: list[str] | None) -> None:
    for suffix in (".jsonl", ".csv", ".parquet"):
        path = tmp_path / f"empty{suffix}"
        with open_writer(path, columns=columns):
            pass
        assert list(read_records(path)) == [], suffix


# ----------------------------------------------------------------------------- examples


def test_formats_bundled_examples_read_cleanly() -> None:
    crawler = list(read_records(EXAMPLES / "notes_crawler.jsonl"))
    canonical = list(read_records(EXAMPLES / "notes_canonical.jsonl"))
    assert len(crawler) == 24 and len(canonical) == 8
    assert all(r.error is None for r in crawler + canonical)
    assert all("[话题]" not in r.note.text for r in crawler if r.note is not None)


@pytest.mark.parametrize(("body", "rows"), [(b"\xef\xbb\xbf", []), (b"\xef\xbb\xbf  \n", []),
                                            (b'\xef\xbb\xbf\n{"id": "a", "text": "x"}\n', [2]),
                                            (b'\xef\xbb\xbf{"id": "a", "text": "x"}\n', [1])])
def test_a_first_line_that_is_only_the_bom_is_blank(tmp_path: Path, body: bytes, rows: list[int]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(body)
    got = list(read_records(path, "jsonl"))
    assert [r.row for r in got] == rows and all(r.note is not None for r in got)
    assert count_records(path) == len(rows)  # the Ray engine checks its output against this count
