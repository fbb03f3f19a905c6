"""Writers for result rows: JSONL, CSV and Parquet (flat rows; nested values become JSON text)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

from classifier.errors import FormatError, InputError

__all__ = ["RecordWriter", "json_line", "open_writer", "output_format", "spreadsheet_safe"]

_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jl": "jsonl", ".json": "json",
               ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_BATCH_ROWS = 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")


class RecordWriter(Protocol):
    """Writes result rows (flat dicts; nested values become JSON) to a file; a context manager."""

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


def output_format(path: Path, default: str | None = None) -> str:
    """``jsonl``, ``csv`` or ``parquet`` from ``path``'s extension (``default`` for another one);
    raises ``FormatError`` naming the path when it cannot tell."""
    fmt = _EXTENSIONS.get(Path(path).suffix.lower(), default)
    if fmt is None:
        raise FormatError(f"cannot tell the output format of {str(path)!r}; use an "
                          f"extension .jsonl, .csv or .parquet or pass the format")
    return "jsonl" if fmt == "json" else fmt


def open_writer(path: Path, fmt: str | None = None, *, append: bool = False,
                columns: Sequence[str] | None = None) -> RecordWriter:
    """A writer chosen by ``fmt`` or the extension: ``.jsonl``/``.json`` -> JSONL, ``.csv``,
    ``.parquet``. ``append`` continues an existing JSONL or CSV file (resume); ``columns`` fixes
    the CSV/Parquet columns (default: the keys of the first row)."""
    path = Path(path)
    if fmt is None:
        fmt = output_format(path)
    if fmt == "json":
        fmt = "jsonl"
    if fmt == "jsonl":
        return _JsonlWriter(path, append)
    if fmt == "csv":
        return _CsvWriter(path, append, columns)
    if fmt == "parquet":
        if append:
            raise FormatError("Parquet files cannot be appended to; write a new file or use "
                              "JSONL/CSV output to resume")
        return _ParquetWriter(path, columns)
    raise FormatError(f"unknown output format {fmt!r}; expected jsonl, csv or parquet")


def _json_default(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def json_line(row: Any) -> str:
    """One record as a line of JSON, as every output writes it: UTF-8 text, except that a record
    holding a lone surrogate (an input's ``\\ud800`` escape, e.g. in a note id) is written with
    ASCII escapes, as it came in, instead of failing the run."""
    line = json.dumps(row, ensure_ascii=False, default=_json_default)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row, ensure_ascii=True, default=_json_default)
    return line


def _text(value: str) -> str:
    """``value`` if it is valid UTF-8 text; a lone surrogate becomes the escape ``\\ud800``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _flat(value: Any) -> Any:
    """A cell value: scalars stay, nested values become JSON text; text is always valid UTF-8."""
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (Mapping, list, tuple, set, frozenset)) or is_dataclass(value):
        return json_line(value)
    return _text(str(value))


class _BaseWriter:
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class _JsonlWriter(_BaseWriter):
    def __init__(self, path: Path, append: bool) -> None:
        self._f = path.open("a" if append else "w", encoding="utf-8", newline="\n")

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self._f.write(json_line(row) + "\n")

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


class _CsvWriter(_BaseWriter):
    def __init__(self, path: Path, append: bool, columns: Sequence[str] | None) -> None:
        self._path = path
        self._columns = list(columns) if columns is not None else None
        existing = append and path.is_file() and path.stat().st_size > 0
        if existing:
            with path.open("r", encoding="utf-8-sig", newline="") as f:
                self._columns = next(csv.reader(f), self._columns)
        self._f: IO[str] = path.open("a" if append else "w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._f)
        self._header_written = bool(existing)

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            if self._columns is None:
                self._columns = list(row)
            if not self._header_written:
                self._writer.writerow(self._columns)
                self._header_written = True
            extra = [k for k in row if k not in self._columns]
            if extra:
                raise InputError(f"row has columns {extra} that the CSV header "
                                 f"{self._columns} lacks; pass columns= to open_writer",
                                 field=extra[0])
            self._writer.writerow([_csv_cell(row.get(c)) for c in self._columns])

    def close(self) -> None:
        if not self._f.closed:
            if not self._header_written and self._columns:
                self._writer.writerow(self._columns)
            self._f.close()


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula: text that begins
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (as the
    console's CSV download does). A cell that is only a number (``-3``, ``+1.5``, ``-12%``) or the
    placeholder ``-`` is left as it is: it cannot hold a formula. Every CSV the project writes
    passes its text cells through here (``score -o x.csv``, the report's tables)."""
    if not cell.startswith(_FORMULA_START) or cell == "-" or _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    flat = _flat(value)
    return spreadsheet_safe(flat) if isinstance(flat, str) else flat


class _ParquetWriter(_BaseWriter):
    def __init__(self, path: Path, columns: Sequence[str] | None) -> None:
        self._path = path
        self._columns = list(columns) if columns is not None else None
        self._pending: list[dict[str, Any]] = []
        self._writer: Any = None
        self._schema: Any = None
        self._closed = False

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            if self._columns is None:
                self._columns = list(row)
            extra = [k for k in row if k not in self._columns]
            if extra:
                raise InputError(f"row has columns {extra} that the Parquet schema "
                                 f"{self._columns} lacks; pass columns= to open_writer",
                                 field=extra[0])
            self._pending.append({c: _flat(row.get(c)) for c in self._columns})
            if len(self._pending) >= _BATCH_ROWS:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending and self._writer is not None:
            return
        if self._schema is None:
            self._schema = _infer_schema(self._pending, self._columns or [])
            self._writer = pq.ParquetWriter(self._path, self._schema)
        text_columns = [f.name for f in self._schema if pa.types.is_string(f.type)]
        for row in self._pending:  # keep string columns strings whatever later rows hold
            for c in text_columns:
                if row.get(c) is not None and not isinstance(row[c], str):
                    row[c] = json.dumps(row[c]) if isinstance(row[c], bool) else str(row[c])
        try:
            table = pa.Table.from_pylist(self._pending, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            raise FormatError(f"rows do not fit the Parquet schema taken from the first batch "
                              f"({self._schema}): {e}; keep each column's type stable") from e
        self._writer.write_table(table)
        self._pending = []

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        self._writer.close()


def _infer_schema(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    """One Arrow type per column: bool, int64, float64 (ints and floats mixed) or string; a
    column with only nulls is a string column so later batches can fill it."""
    import pyarrow as pa

    fields = []
    for c in columns:
        kinds = {type(r[c]) for r in rows if r.get(c) is not None}
        if kinds == {bool}:
            arrow = pa.bool_()
        elif kinds == {int}:
            arrow = pa.int64()
        elif kinds and kinds <= {int, float}:
            arrow = pa.float64()
        else:
            arrow = pa.string()
        fields.append(pa.field(c, arrow))
    return pa.schema(fields)

