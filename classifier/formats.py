"""Streaming readers for note dumps: JSONL, JSON arrays, CSV and Parquet.

Reading never fails on one bad record: :func:`read_records` yields a :class:`Record` holding
either a :class:`~classifier.types.Note` or a :class:`RowError` (broken JSON, not an object, an
invalid field, bytes that are not UTF-8, a record over the size limit). It raises
:class:`~classifier.errors.FormatError` only when the input as a whole cannot be read (missing
file, unknown format, corrupt Parquet, a JSON document that is not an array or an object).

Memory stays flat whatever the file size: JSONL is read line by line in binary and each line is
decoded on its own; CSV goes through the streaming :mod:`csv` reader; Parquet through
``iter_batches``; a JSON array through a small incremental scanner that cuts one element at a time
out of a 64 KiB window. Limits: a record larger than :func:`record_byte_limit` is reported, not
parsed; a JSON document whose top level is an *object* (one note, or ``{"notes": [...]}``) is
loaded whole; after a syntax error that unbalances quotes or brackets inside a JSON array, the
element boundaries that follow cannot be trusted, so the array reader reports that element and
stops.

Row numbers are 1-based: the line for JSONL (blank lines are skipped but counted), the data row
for CSV (header not counted), the element for JSON arrays, the row for Parquet.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from classifier.errors import FormatError, InputError
from classifier.notes import DEFAULT_MAX_CHARS, note_from_dict, unknown_fields
from classifier.types import Note

__all__ = [
    "FORMATS",
    "Record",
    "RowError",
    "count_records",
    "detect_format",
    "iter_jsonl_lines",
    "oversized_record",
    "parse_jsonl_line",
    "read_records",
    "record_byte_limit",
    "record_from_mapping",
]

FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "parquet")
RAW_LIMIT = 500
"""How much of a bad record's text a :class:`RowError` keeps."""

_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jl": "jsonl", ".json": "json",
               ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_CHUNK = 1 << 16
_SNIFF = 1 << 16
UTF8_BOM = b"\xef\xbb\xbf"  # dropped from a file's first line by the JSONL reader and count_records alike
_BATCH_ROWS = 1024
# Fields whose CSV/Parquet cells may hold JSON (lists, objects) or, for the two name lists,
# comma-joined strings.
_STRUCTURED = frozenset({"mentions", "topics", "product_tags", "author", "user", "at_user_list",
                         "tag_list", "image_list", "interact_info", "cooperate_binds"})
_COMMA_LISTS = frozenset({"mentions", "topics"})
_LONE_SURROGATE = re.compile(r"[\udc80-\udcff]")
_WRAPPER_KEYS = ("notes", "data", "items", "records")


@dataclass(frozen=True)
class RowError:
    """Why one record could not become a note; ``raw`` is the start of the record as read."""

    row: int
    field: str | None
    reason: str
    raw: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", field {self.field!r}" if self.field else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class Record:
    """One record of a dump: exactly one of ``note`` and ``error`` is set. ``ignored`` names the
    record's fields that no note field is read from (see :func:`classifier.notes.unknown_fields`);
    a run lists them with counts in its summary."""

    row: int
    note: Note | None
    error: RowError | None
    ignored: tuple[str, ...] = ()


def record_byte_limit(max_chars: int = DEFAULT_MAX_CHARS) -> int:
    """Largest record that is parsed at all (bytes of a JSONL line, characters of a JSON array
    element): room for ``max_chars`` characters written as ``\\uXXXX`` escapes plus 1 MiB for the
    other fields. A larger record becomes a RowError without being held in memory."""
    return max_chars * 6 + (1 << 20)


# ----------------------------------------------------------------------------- detection


def detect_format(path: Path) -> str:
    """One of :data:`FORMATS`, from the extension and, for ``.json`` and unknown extensions
    (``.txt``, none), from the first 64 KiB: ``PAR1`` is Parquet, ``[`` a JSON array; ``{`` is
    JSONL when the first line holds a whole object and more follows, else one JSON object (a note
    or a ``{"notes": [...]}`` wrapper); a first line with commas is CSV. An empty file is JSONL
    (or JSON for ``.json``): both read as no records."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"no such file: {str(path)!r}; check the path")
    ext = _EXTENSIONS.get(path.suffix.lower())
    if ext in ("jsonl", "csv", "parquet"):
        return ext
    with path.open("rb") as f:
        head = f.read(_SNIFF)
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(UTF8_BOM + b" \t\r\n")
    if not stripped:
        return ext or "jsonl"
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        first_line, _, rest = stripped.partition(b"\n")
        try:
            json.loads(first_line.decode("utf-8", errors="replace"))
        except ValueError:
            return "json"
        # one object alone in a small file is read whole, so that {"notes": [...]} works too
        return "json" if not rest.strip() and len(head) < _SNIFF else "jsonl"
    if ext == "json":
        raise FormatError(f"{str(path)!r} has a .json extension but starts with "
                          f"{stripped[:20]!r}, not '[' or '{{'; check the file")
    if b"," in stripped.split(b"\n", 1)[0]:
        return "csv"
    raise FormatError(f"cannot tell the format of {str(path)!r} (starts with {stripped[:20]!r}); "
                      f"use an extension .jsonl, .json, .csv or .parquet or pass the format")


def _resolve(path: Path, fmt: str | None) -> str:
    if fmt is None:
        return detect_format(path)
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not Path(path).is_file():
        raise FormatError(f"no such file: {str(path)!r}; check the path")
    return fmt


# ----------------------------------------------------------------------------- reading


def read_records(path: Path, fmt: str | None = None, *, max_chars: int = DEFAULT_MAX_CHARS,
                 start_row: int = 1) -> Iterator[Record]:
    """Yield one :class:`Record` per record of the dump, in order.

    ``start_row`` skips the records before it cheaply (without validating them) so that a job can
    resume; row numbers stay those of the whole file.
    """
    path = Path(path)
    fmt = _resolve(path, fmt)
    readers = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv,
               "parquet": _read_parquet}
    return readers[fmt](path, max_chars, max(1, start_row))


def _build(row: int, obj: Any, raw: str | None, max_chars: int) -> Record:
    if not isinstance(obj, Mapping):
        kind = {list: "an array", str: "a string", type(None): "null"}.get(type(obj),
                                                                        type(obj).__name__)
        return _error(row, None, f"expected a JSON object (one note), got {kind}", raw or obj)
    ignored = unknown_fields(obj)
    try:
        return Record(row, note_from_dict(obj, row=row, max_chars=max_chars), None, ignored)
    except InputError as e:
        failed = _error(row, e.field, e.reason, raw if raw is not None else obj)
    except (TypeError, ValueError, KeyError, AttributeError) as e:  # keep the batch alive
        failed = _error(row, None, f"unexpected {type(e).__name__}: {e}", raw or obj)
    return replace(failed, ignored=ignored)


def _error(row: int, field: str | None, reason: str, raw: Any) -> Record:
    if not isinstance(raw, str):
        try:
            raw = json.dumps(raw, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            raw = repr(raw)
    raw = _LONE_SURROGATE.sub("\ufffd", raw)
    if len(raw) > RAW_LIMIT:
        raw = raw[:RAW_LIMIT] + "..."
    return Record(row, None, RowError(row, field, reason, raw))


def oversized_record(row: int, size: int, max_chars: int, head: bytes | str) -> Record:
    """The error :class:`Record` of a record over the size limit (``head``: its first bytes)."""
    unit = "bytes" if isinstance(head, bytes) else "characters"
    if isinstance(head, bytes):
        head = head[:RAW_LIMIT * 4].decode("utf-8", errors="replace")
    return _error(row, "text", f"record is {size:,} {unit} or more, over the limit of "
                  f"{record_byte_limit(max_chars):,} for max_chars={max_chars:,}; split the "
                  f"note or raise max_chars", head)


def _read_jsonl(path: Path, max_chars: int, start_row: int) -> Iterator[Record]:
    with path.open("rb") as f:
        for row, line, oversize in iter_jsonl_lines(f, max_chars):
            if row < start_row:
                continue
            if oversize is not None:
                yield oversized_record(row, oversize, max_chars, line)
            else:
                yield parse_jsonl_line(row, line, max_chars)


def iter_jsonl_lines(
    f: IO[bytes], max_chars: int = DEFAULT_MAX_CHARS
) -> Iterator[tuple[int, bytes, int | None]]:
    """``(row, line, oversize)`` for each non-blank line of a JSONL stream: ``row`` is the 1-based
    line number (blank lines counted), a UTF-8 BOM is dropped from line 1, and a line longer than
    :func:`record_byte_limit` is drained without being held: ``line`` is then its head and
    ``oversize`` its full size in bytes (otherwise ``None``). Both engines cut lines with this."""
    limit = record_byte_limit(max_chars)
    row = 0
    while line := f.readline(limit):
        row += 1
        size = len(line)
        if not line.endswith(b"\n") and size >= limit:  # oversized: drain the rest
            while (chunk := f.readline(_CHUNK)) and not chunk.endswith(b"\n"):
                size += len(chunk)
            size += len(chunk)
            yield row, line[: RAW_LIMIT * 4], size
            continue
        line = line.removeprefix(UTF8_BOM) if row == 1 else line
        if not line.strip():  # blank, also a first line that is only the BOM
            continue
        yield row, line, None


def parse_jsonl_line(row: int, line: bytes, max_chars: int) -> Record:
    """The :class:`Record` of one JSONL line (bytes): a note, or an error naming the reason."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return _error(row, None, f"line is not valid UTF-8 (byte 0x{line[e.start]:02x} at "
                      f"offset {e.start}); re-save the file as UTF-8",
                      line.decode("utf-8", errors="replace"))
    text = text.strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return _error(row, None, f"invalid JSON ({e.msg}, column {e.colno}); each line must be "
                      f"one complete JSON object", text)
    return _build(row, obj, text, max_chars)


def _read_csv(path: Path, max_chars: int, start_row: int) -> Iterator[Record]:
    csv.field_size_limit(2**31 - 1)
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for row, cells in enumerate(reader, start=1):
            if row < start_row or not any(c.strip() for c in cells):
                continue
            raw = ",".join(cells)
            if len(cells) > len(header):
                yield _error(row, None, f"row has {len(cells)} cells but the header has "
                             f"{len(header)}; quote cells that contain commas", raw)
                continue
            bad = next((h for h, c in zip(header, cells) if _LONE_SURROGATE.search(c)), None)
            if bad is not None:
                yield _error(row, bad, "cell is not valid UTF-8; re-save the file as UTF-8", raw)
                continue
            record = {h: c for h, c in zip(header, cells) if h and c.strip()}
            yield _build(row, _decode_cells(record), raw, max_chars)


def record_from_mapping(row: int, cells: dict[str, Any], max_chars: int) -> Record:
    """The :class:`Record` of one table row (a Parquet or CSV row as a mapping of cells)."""
    return _build(row, _decode_cells(cells), None, max_chars)


def _decode_cells(record: dict[str, Any]) -> dict[str, Any]:
    """Turn text cells of structured fields (CSV, Parquet from our writer) back into values:
    JSON lists/objects, comma-joined name lists, and ``author.x`` columns into ``author``."""
    out: dict[str, Any] = {}
    author: dict[str, Any] = {}
    for key, value in record.items():
        if value is None:
            continue
        if key.startswith("author.") and len(key) > 7:
            author[key[7:]] = value
            continue
        if key in _STRUCTURED and isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text[:1] in ("[", "{") else value
            except ValueError:
                pass  # leave the text: note_from_dict names the field and the problem
            if isinstance(value, str) and key in _COMMA_LISTS:
                value = [v.strip() for v in re.split(r"[,，]", text) if v.strip()]
        out[key] = value
    if author:
        base = out.get("author")
        out["author"] = {**base, **author} if isinstance(base, Mapping) else author
    return out


def _read_parquet(path: Path, max_chars: int, start_row: int) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # opened here, not lazily, so that a corrupt file fails when read_records is called
        pf = pq.ParquetFile(path)
        groups, row = [], 0
        for i in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(i).num_rows
            if row + n >= start_row:
                groups.append(i)
            else:
                row += n
    except (pa.ArrowException, OSError) as e:
        raise FormatError(f"cannot read {str(path)!r} as Parquet ({e}); check that the file is "
                          f"complete") from e
    return _iter_parquet(path, pf, groups, row, max_chars, start_row)


def _iter_parquet(path: Path, pf: Any, groups: list[int], row: int, max_chars: int,
                  start_row: int) -> Iterator[Record]:
    import pyarrow as pa

    if not groups:
        return
    batches = pf.iter_batches(batch_size=_BATCH_ROWS, row_groups=groups)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            raise FormatError(f"cannot read {str(path)!r} after row {row} ({e}); the Parquet "
                              f"file is corrupt") from e
        for obj in batch.to_pylist():
            row += 1
            if row >= start_row:
                yield record_from_mapping(row, obj, max_chars)


def _read_json(path: Path, max_chars: int, start_row: int) -> Iterator[Record]:
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape") as f:
        scanner = _ArrayScanner(f, record_byte_limit(max_chars))
        first = scanner.peek()
        if first == "":
            return
        if first == "{":
            yield from _json_object(path, f, scanner, max_chars, start_row)
            return
        if first != "[":
            raise FormatError(f"{str(path)!r} is not a JSON array or object (starts with "
                              f"{first!r}); check the file or pass the format")
        scanner.take_open()
        row = 0
        while (element := scanner.next_element()) is not None:
            row += 1
            text, complete, size = element
            if row < start_row:
                pass
            elif size > scanner.limit:
                yield oversized_record(row, size, max_chars, text)
            elif _LONE_SURROGATE.search(text):
                yield _error(row, None, "element is not valid UTF-8; re-save the file as UTF-8",
                             text)
            else:
                yield _json_element(row, text, max_chars)
            if not complete:
                return


def _json_element(row: int, text: str, max_chars: int) -> Record:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return _error(row, None, f"invalid JSON in array element ({e.msg}, line {e.lineno} "
                      f"column {e.colno} of the element); fix the element", text.strip())
    return _build(row, obj, text.strip(), max_chars)


def _json_object(path: Path, f: IO[str], scanner: _ArrayScanner, max_chars: int,
                 start_row: int) -> Iterator[Record]:
    """A top-level object: one note, or a wrapper such as ``{"notes": [...]}`` (loaded whole)."""
    text = scanner.rest() + f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{str(path)!r} is not valid JSON ({e}); fix the file") from e
    items = next((doc[k] for k in _WRAPPER_KEYS if isinstance(doc.get(k), list)), [doc])
    for row, obj in enumerate(items, start=1):
        if row >= start_row:
            yield _build(row, obj, None, max_chars)


class _ArrayScanner:
    """Cuts the elements of a JSON array out of a text stream without parsing them, tracking
    string and bracket state across 64 KiB reads. Consumed text is dropped between elements and
    an element over ``limit`` characters is skipped while scanning, so memory stays bounded."""

    _OUTSIDE = re.compile(r'[{}\[\]",]')
    _INSIDE = re.compile(r'["\\]')

    def __init__(self, f: IO[str], limit: int) -> None:
        self.f, self.limit = f, limit
        self.buf, self.pos, self.eof, self.done = "", 0, False, False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def peek(self) -> str:
        """The next non-whitespace character, or ``""`` at the end."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            self.buf, self.pos = "", 0
            if not self._fill():
                return ""

    def take_open(self) -> None:
        self.pos += 1

    def rest(self) -> str:
        return self.buf[self.pos:]

    def next_element(self) -> tuple[str, bool, int] | None:
        """``(text, complete, size)`` of the next element; ``None`` after the closing ``]``.
        ``complete`` is false when the input ends inside the element."""
        if self.done:
            return None
        if self.peek() in ("]", ""):
            self.done = True
            return None
        if self.pos > _CHUNK:  # drop consumed text now and then, not per element
            self.buf, self.pos = self.buf[self.pos:], 0
        start = i = self.pos
        depth, in_string, dropped, end = 0, False, 0, -1
        while end < 0:
            m = (self._INSIDE if in_string else self._OUTSIDE).search(self.buf, i)
            if m is None or (in_string and m.group() == "\\" and m.end() >= len(self.buf)):
                i = len(self.buf) if m is None else m.start()
                if i - start > self.limit:  # oversized: keep a head for the report only
                    keep = start + RAW_LIMIT * 2
                    dropped += i - keep
                    self.buf = self.buf[:keep] + self.buf[i:]
                    i = keep
                if not self._fill():
                    self.done = True
                    return self.buf[start:], False, len(self.buf) - start + dropped
                continue
            c, i = m.group(), m.end()
            if in_string:
                if c == "\\":
                    i += 1
                else:
                    in_string = False
                    end = i if depth == 0 else -1
            elif c == '"':
                in_string = True
            elif c in "{[":
                depth += 1
            elif c in "}]":
                if depth == 0:  # the array closes right after a scalar element
                    end = m.start()
                else:
                    depth -= 1
                    end = i if depth == 0 else -1
            elif depth == 0:  # a comma ends a scalar element
                end = m.start()
        text, self.pos = self.buf[start:end], end
        if self.peek() == ",":
            self.pos += 1
        return text, True, len(text) + dropped


# ----------------------------------------------------------------------------- counting


def count_records(path: Path, fmt: str | None = None) -> int | None:
    """How many records the dump holds, quickly, for progress bars: non-blank lines for JSONL,
    non-blank lines minus the header for CSV (an upper bound when quoted cells span lines), the
    metadata row count for Parquet; ``None`` for JSON (unknown without parsing)."""
    path = Path(path)
    fmt = _resolve(path, fmt)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowException, OSError) as e:
            raise FormatError(f"cannot read {str(path)!r} as Parquet ({e})") from e
    if fmt == "json":
        return None
    lines = 0
    with path.open("rb") as f:
        for number, line in enumerate(iter(lambda: f.readline(_CHUNK), b"")):
            if (line.removeprefix(UTF8_BOM) if number == 0 else line).strip():  # as the reader
                lines += 1
            while not line.endswith(b"\n") and len(line) == _CHUNK:
                line = f.readline(_CHUNK)
    return max(0, lines - 1) if fmt == "csv" else lines


