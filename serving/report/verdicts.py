"""Reading a scored file (what ``notecheck score`` writes) for the report, one row at a time.

Only ``id``, ``label``, ``decision`` and the places of the ``reasons``' fields are needed. JSONL is read line by line, CSV through the
streaming :mod:`csv` reader, Parquet in batches of those three columns; a file of millions of
verdicts is never held in memory. A bad row (broken JSON, missing id, unknown label) is skipped and
reported as a :class:`~classifier.formats.RowError`, never fatal.

:class:`VerdictIndex` keeps what the join with the notes needs in two flat arrays: a 64-bit hash of
each id (sorted) and one byte for its label and decision, about 9 bytes per verdict. Two different
ids share a hash with probability about n²/2⁶⁵ (1e-5 for ten million ids); such a note would take
the other's verdict.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.errors import FormatError
from classifier.formats import RowError, detect_format
from classifier.types import LABELS
from serving.report.evidence import evidence_places

__all__ = ["DECISIONS", "VerdictIndex", "VerdictRow", "decode", "encode", "read_rows", "read_verdicts"]

DECISIONS: tuple[str, str, str] = ("pass", "review", "block")
_RAW_LIMIT = 300


@dataclass(frozen=True)
class VerdictRow:
    """The part of a verdict the report uses; ``row`` is 1-based in the scored file; ``places``
    where its evidence was (:func:`serving.report.evidence.evidence_places`)."""

    row: int
    id: str
    label: str
    decision: str
    places: tuple[str, ...] = ()


def encode(label: str, decision: str) -> int:
    """One byte for a (label, decision) pair: ``3 * label index + decision index``."""
    return LABELS.index(label) * 3 + DECISIONS.index(decision)


def decode(code: int) -> tuple[str, str]:
    """The (label, decision) pair of :func:`encode`'s byte."""
    return LABELS[code // 3], DECISIONS[code % 3]


def read_verdicts(path: Path) -> Iterator[VerdictRow | RowError]:
    """Yield each verdict of ``path`` (JSONL, CSV or Parquet by extension or content) in order,
    or a :class:`RowError` for a row that is not a usable verdict.

    Raises :class:`FormatError` when the file is missing, is a JSON array, or (CSV, Parquet) lacks
    the ``id``, ``label`` or ``decision`` column.
    """
    rows = read_rows(path, ("id", "label", "decision"), ("reasons",))  # format errors raised here
    return (item if isinstance(item, RowError) else _check(*item) for item in rows)


def read_rows(path: Path, required: Sequence[str], optional: Sequence[str] = ()
              ) -> Iterator[tuple[int, Mapping[str, Any], str] | RowError]:
    """Each row of a scored file (JSONL, CSV or Parquet by extension or content) in order, as
    ``(row, fields, raw)`` (nested values are JSON text in CSV and Parquet cells), or a
    :class:`RowError` for a JSONL line that is not a JSON object. Parquet reads only the
    ``required`` and ``optional`` columns.

    Raises :class:`FormatError` when the file is missing, is a JSON array, or (CSV, Parquet) lacks
    a ``required`` column.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "parquet":
        return _read_parquet(path, required, optional)
    if fmt == "csv":
        return _read_csv(path, required)
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        raise FormatError(f"{str(path)!r} is a JSON array; expected the verdicts file written by "
                          "`notecheck score` (one JSON object per line, CSV or Parquet)")
    return _read_jsonl(path)


def _check(row: int, obj: Mapping[str, Any], raw: str) -> VerdictRow | RowError:
    note_id = obj.get("id")
    if isinstance(note_id, bool) or not isinstance(note_id, (str, int)) or not str(note_id).strip():
        return _bad(row, "id", f"expected a non-empty string id, got {note_id!r}", raw)
    label = obj.get("label")
    if label not in LABELS:
        return _bad(row, "label", f"expected one of {', '.join(LABELS)}, got {label!r}", raw)
    decision = obj.get("decision")
    if decision not in DECISIONS:
        return _bad(row, "decision", f"expected one of {', '.join(DECISIONS)}, got {decision!r}",
                    raw)
    return VerdictRow(row, str(note_id).strip(), str(label), str(decision),
                      evidence_places(obj.get("reasons")))


def _bad(row: int, field: str | None, reason: str, raw: str) -> RowError:
    raw = raw if len(raw) <= _RAW_LIMIT else raw[:_RAW_LIMIT] + "..."
    return RowError(row, field, reason + "; rescore the note or fix the row", raw)


def _read_jsonl(path: Path) -> Iterator[tuple[int, Mapping[str, Any], str] | RowError]:
    with path.open("rb") as f:
        for row, line in enumerate(f, start=1):
            if not line.strip():
                continue
            text = line.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield _bad(row, None, f"invalid JSON ({e.msg}, column {e.colno})", text)
                continue
            if not isinstance(obj, dict):
                yield _bad(row, None, f"expected a JSON object, got {type(obj).__name__}", text)
                continue
            yield row, obj, text


def _read_csv(path: Path, required: Sequence[str]) -> Iterator[tuple[int, Mapping[str, Any], str]]:
    csv.field_size_limit(2**31 - 1)
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise FormatError(f"{str(path)!r} has no column {', '.join(missing)}; expected the "
                              "verdicts CSV written by `notecheck score`")
        for row, record in enumerate(reader, start=1):
            yield row, record, ",".join(str(v) for v in record.values())


def _read_parquet(path: Path, required: Sequence[str], optional: Sequence[str]
                  ) -> Iterator[tuple[int, Mapping[str, Any], str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as e:
        raise FormatError(f"cannot read {str(path)!r} as Parquet ({e}); check that the file is "
                          "complete") from e
    missing = [c for c in required if c not in names]
    if missing:
        raise FormatError(f"{str(path)!r} has no column {', '.join(missing)}; expected the "
                          "verdicts Parquet written by `notecheck score`")
    return _iter_parquet(pf, [*required, *(c for c in optional if c in names)])


def _iter_parquet(pf: Any, columns: list[str]) -> Iterator[tuple[int, Mapping[str, Any], str]]:
    row = 0
    for batch in pf.iter_batches(batch_size=4096, columns=columns):
        for obj in batch.to_pylist():
            row += 1
            yield row, obj, json.dumps(obj, ensure_ascii=False, default=str)


class VerdictIndex:
    """id -> (label, decision) for the join, in about 9 bytes per verdict.

    ``add`` while reading, ``freeze`` once, then ``get``. The first verdict of an id wins; later
    ones are counted in ``duplicates``.
    """

    def __init__(self) -> None:
        self._hashes: array[int] = array("Q")
        self._codes: array[int] = array("B")
        self._keys: np.ndarray[Any, np.dtype[np.uint64]] | None = None
        self._values: np.ndarray[Any, np.dtype[np.uint8]] | None = None
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._hashes) if self._keys is None else len(self._keys)

    @staticmethod
    def _hash(note_id: str) -> int:
        return hash(note_id) & 0xFFFF_FFFF_FFFF_FFFF

    def add(self, note_id: str, label: str, decision: str) -> None:
        if self._keys is not None:
            raise RuntimeError("VerdictIndex.add after freeze(); build a new index")
        self._hashes.append(self._hash(note_id))
        self._codes.append(encode(label, decision))

    def freeze(self) -> None:
        """Sort the ids' hashes for lookups and drop later duplicates of an id."""
        if self._keys is not None:
            return
        hashes = np.frombuffer(self._hashes, dtype=np.uint64) if self._hashes else \
            np.zeros(0, dtype=np.uint64)
        codes = np.frombuffer(self._codes, dtype=np.uint8) if self._codes else \
            np.zeros(0, dtype=np.uint8)
        order = np.argsort(hashes, kind="stable")
        keys, values = hashes[order], codes[order]
        keep = np.ones(len(keys), dtype=bool)
        keep[1:] = keys[1:] != keys[:-1]
        self.duplicates = int(len(keys) - keep.sum())
        self._keys, self._values = keys[keep].copy(), values[keep].copy()
        self._hashes, self._codes = array("Q"), array("B")

    def get(self, note_id: str) -> tuple[str, str] | None:
        """The (label, decision) of ``note_id``, or ``None`` when it has no verdict."""
        if self._keys is None or self._values is None:
            raise RuntimeError("VerdictIndex.get before freeze(); call freeze() after adding")
        h = np.uint64(self._hash(note_id))
        i = int(np.searchsorted(self._keys, h))
        if i < len(self._keys) and self._keys[i] == h:
            return decode(int(self._values[i]))
        return None
