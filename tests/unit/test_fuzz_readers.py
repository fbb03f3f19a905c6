"""Property-based tests of the note readers: whatever a record holds, ``note_from_dict`` returns
a note or raises :class:`InputError`, and the dump readers account for every record (one
``Record`` per non-blank line, element or row, in order, each a note or an error) without any
other exception."""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.errors import InputError
from classifier.formats import Record, count_records, read_records
from classifier.notes import NOTE_FIELDS, note_from_dict
from classifier.types import Note

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_CHARS = 60

short_text = st.text(st.characters(codec="utf-8"), max_size=12)
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | short_text
           | st.sampled_from(["", " ", "1.5万", "10w+", "true", "no", "2024-01-02", "1700000000000",
                              "@a @b", "#t[话题]#", "[]", "{}", "¥9.9", "goods", "topic"]))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(sorted(NOTE_FIELDS)) | short_text, inner, max_size=4),
    max_leaves=10,
)
FIELDS = sorted(NOTE_FIELDS) + ["label", "ip_location", "author.followers", "author.account_type"]
records = st.dictionaries(st.sampled_from(FIELDS) | short_text, json_values, max_size=8)
# records that are often valid: an id and a body, then anything
likely_notes = st.builds(
    lambda rid, body, rest: {**rest, "id": rid, "text": body},
    st.integers(0, 10**6) | short_text, st.text(max_size=80), records,
)
any_records = likely_notes | records


def _is_note_or_error(record: Record) -> bool:
    return (record.note is None) != (record.error is None) and (
        record.error is None or record.error.row == record.row)


@contextmanager
def _file(name: str, write: Callable[[Path], Any]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write(path)
        yield path


def _read(path: Path, fmt: str | None) -> list[Record]:
    """All records, or ``[]`` when the file as a whole is refused (a FormatError); any other
    exception fails the test."""
    try:
        return list(read_records(path, fmt, max_chars=MAX_CHARS))
    except InputError:
        return []


@FUZZ
@given(any_records | json_values)
def test_note_from_dict_returns_a_note_or_raises_input_error(d: Any) -> None:
    try:
        note = note_from_dict(d, row=7, max_chars=MAX_CHARS)
    except InputError as exc:
        assert exc.row == 7
        return
    assert isinstance(note, Note) and note.id
    assert len(note.title) <= MAX_CHARS and len(note.text) <= MAX_CHARS


lines = st.one_of(
    any_records.map(lambda r: json.dumps(r, ensure_ascii=False).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b" ")),
    st.sampled_from([b"", b"   ", b"\r", b"{", b'{"id": 1, "text": "x"', b"\xef\xbb\xbf{}"]),
)


@FUZZ
@given(st.lists(lines, max_size=8))
def test_jsonl_reader_accounts_for_every_non_blank_line(body: list[bytes]) -> None:
    with _file("dump.jsonl", lambda p: p.write_bytes(b"\n".join(body))) as path:
        got = list(read_records(path, "jsonl", max_chars=MAX_CHARS))
        counted = count_records(path, "jsonl")  # the progress total and the Ray engine's expected count
    expected = [i for i, line in enumerate(body, start=1)
                if (line[3:] if i == 1 and line.startswith(b"\xef\xbb\xbf") else line).strip()]
    assert [r.row for r in got] == expected
    assert counted == len(got)
    assert all(_is_note_or_error(r) for r in got)


@FUZZ
@given(st.lists(any_records | json_values, max_size=8))
def test_json_array_reader_accounts_for_every_element(items: list[Any]) -> None:
    text = json.dumps(items, ensure_ascii=False)
    with _file("dump.json", lambda p: p.write_text(text, "utf-8")) as path:
        got = list(read_records(path, "json", max_chars=MAX_CHARS))
    assert [r.row for r in got] == list(range(1, len(items) + 1))
    assert all(_is_note_or_error(r) for r in got)


cells = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=15) | st.sampled_from(
    ["", "1", '["a","b"]', '{"followers": "1万"}', "a,b", "true", "  "])


@FUZZ
@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=6, unique=True), st.data())
def test_csv_reader_accounts_for_every_non_blank_row(header: list[str], data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)),
                              max_size=6))

    def write(path: Path) -> None:
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)

    with _file("dump.csv", write) as path:
        got = list(read_records(path, "csv", max_chars=MAX_CHARS))
    expected = [i for i, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    assert [r.row for r in got] == expected
    assert all(_is_note_or_error(r) for r in got)


@FEW
@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5, unique=True), st.data())
def test_parquet_reader_accounts_for_every_row(columns: list[str], data: st.DataObject) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = data.draw(st.integers(0, 6))
    table = pa.table({c: data.draw(st.lists(st.none() | cells, min_size=n, max_size=n))
                      for c in columns})
    with _file("dump.parquet", lambda p: pq.write_table(table, p)) as path:
        got = list(read_records(path, "parquet", max_chars=MAX_CHARS))
    assert [r.row for r in got] == list(range(1, n + 1))
    assert all(_is_note_or_error(r) for r in got)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["dump.json", "dump.txt", "dump"]))
def test_readers_raise_only_input_errors_on_arbitrary_bytes(blob: bytes, name: str) -> None:
    with _file(name, lambda p: p.write_bytes(blob)) as path:
        for record in _read(path, None):
            assert _is_note_or_error(record)

