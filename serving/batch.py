"""Batch scoring of a note dump: streaming, checkpointed, resumable, never losing a record.

Every input record ends up in exactly one place: a verdict in the output (same order as the input)
or a line in the errors file (row number, field, reason, raw text). After each batch the output
and errors files are flushed and a checkpoint ``OUTPUT.progress.json`` records the last input row
handled and both files' byte sizes. ``resume=True`` truncates both files back to the checkpoint
(dropping anything half-written after it) and continues after that row: no duplicates, no gaps.

Non-JSONL outputs (CSV, Parquet) are spooled as JSONL next to the output and converted at the end,
so they resume the same way.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from classifier.formats import Record, RowError, count_records, detect_format, read_records
from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from classifier.writers import json_line, open_writer

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass
class Summary:
    """What a batch run did. ``scored + failed`` equals the records read (this run + resumed)."""

    scored: int = 0
    failed: int = 0
    resumed_from_row: int = 0
    elapsed_s: float = 0.0
    labels: Counter[str] = field(default_factory=Counter)
    decisions: Counter[tuple[str, str]] = field(default_factory=Counter)
    output: str = ""
    errors: str = ""
    versions: tuple[str, str] | None = None
    """``(model_version, policy_version)`` of the verdicts, when the run saw any (ray engine)."""

    @property
    def total(self) -> int:
        return self.scored + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "resumed_from_row": self.resumed_from_row, "elapsed_s": round(self.elapsed_s, 3),
            **_counts(self), "output": self.output, "errors": self.errors,
        }


def default_errors_path(output: Path) -> Path:
    name = output.name
    for suffix in (*JSONL_SUFFIXES, ".csv", ".parquet"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return output.with_name(name + ".errors.jsonl")


def progress_path(output: Path) -> Path:
    return output.with_name(output.name + ".progress.json")


def _spool_path(output: Path) -> Path:
    return output if output.suffix in JSONL_SUFFIXES else output.with_name(output.name + ".partial.jsonl")


def error_row(err: RowError) -> dict[str, Any]:
    return {"row": err.row, "field": err.field, "reason": err.reason, "raw": err.raw}


class _Checkpoint:
    def __init__(self, path: Path, input_path: Path) -> None:
        self.path = path
        self.input = str(input_path.resolve())
        self.input_size = input_path.stat().st_size

    def load(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("input") != self.input or data.get("input_size") != self.input_size:
            raise ValueError(
                f"{self.path} belongs to another input ({data.get('input')}, {data.get('input_size')} "
                f"bytes), not {self.input} ({self.input_size} bytes); rerun without --resume to start over"
            )
        return data

    def save(self, **state: Any) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"input": self.input, "input_size": self.input_size, **state}), "utf-8")
        os.replace(tmp, self.path)


def score_file(
    pipeline: Pipeline,
    input_path: Path,
    output: Path,
    *,
    errors: Path | None = None,
    fmt: str | None = None,
    resume: bool = False,
    batch_size: int = 64,
    limit: int | None = None,
    progress: bool = True,
    max_chars: int = 100_000,
    on_batch: Callable[[Summary], None] | None = None,
) -> Summary:
    """Score ``input_path`` into ``output``; see the module docstring for the guarantees.

    ``limit`` stops after that many records (this run), leaving a checkpoint to resume from.
    Raises ``FormatError`` when the input cannot be read at all.
    """
    input_path, output = Path(input_path), Path(output)
    errors = Path(errors) if errors is not None else default_errors_path(output)
    fmt = fmt or detect_format(input_path)
    spool = _spool_path(output)
    checkpoint = _Checkpoint(progress_path(output), input_path)
    summary = Summary(output=str(output), errors=str(errors))

    state = checkpoint.load() if resume else None
    if state is not None and state.get("complete"):
        summary.scored, summary.failed = state["scored"], state["failed"]
        summary.resumed_from_row = state["row"]
        return summary
    if state is not None:
        _truncate(spool, state["out_bytes"])
        _truncate(errors, state["err_bytes"])
        summary.scored, summary.failed = state["scored"], state["failed"]
        summary.resumed_from_row = start_row = int(state["row"])
        summary.labels.update(state.get("labels", {}))
        summary.decisions.update(
            {_pair(k): v for k, v in state.get("decisions", {}).items()}
        )
    else:
        start_row = 0
        for p in (spool, errors):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"")

    records = read_records(input_path, fmt, max_chars=max_chars, start_row=start_row + 1)
    total = count_records(input_path, fmt)
    bar = _progress_bar(total, start_row, progress)
    started = time.perf_counter()
    handled = 0
    last_row = start_row
    with spool.open("ab") as out_f, errors.open("ab") as err_f:
        for batch in _batches(records, start_row, batch_size, limit):
            verdicts, row_errors = score_records(pipeline, batch)
            for _, verdict in verdicts:
                _write_line(out_f, verdict.to_dict())
                summary.scored += 1
                summary.labels[verdict.label] += 1
                summary.decisions[(verdict.label, verdict.decision)] += 1
            for err in row_errors:
                _write_line(err_f, error_row(err))
                summary.failed += 1
            out_f.flush()
            err_f.flush()
            last_row = batch[-1].row
            handled += len(batch)
            checkpoint.save(row=last_row, out_bytes=out_f.tell(), err_bytes=err_f.tell(),
                            complete=False, **_counts(summary))
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(summary)
    bar.close()
    summary.elapsed_s = time.perf_counter() - started
    summary.resumed_from_row = start_row
    finished = limit is None or handled < limit
    if finished:
        if spool != output:
            _convert_spool(spool, output)
        checkpoint.save(row=last_row, out_bytes=0, err_bytes=0, complete=True, **_counts(summary))
    return summary


def _pair(key: str) -> tuple[str, str]:
    label, _, decision = key.partition("/")
    return label, decision


def _counts(summary: Summary) -> dict[str, Any]:
    return {
        "scored": summary.scored, "failed": summary.failed, "labels": dict(summary.labels),
        "decisions": {f"{k[0]}/{k[1]}": v for k, v in summary.decisions.items()},
    }


def _batches(records: Iterator[Record], start_row: int, size: int, limit: int | None) -> Iterator[list[Record]]:
    batch: list[Record] = []
    taken = 0
    for rec in records:
        if rec.row <= start_row:
            continue
        if limit is not None and taken >= limit:
            break
        batch.append(rec)
        taken += 1
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def score_records(
    pipeline: Pipeline, records: Sequence[Record]
) -> tuple[list[tuple[int, Verdict]], list[RowError]]:
    """Score one batch of read records: ``(row, verdict)`` pairs and error rows, each in row order.

    The one scoring step of both engines (local and Ray). Records that were already errors pass
    through; a note whose scoring fails becomes an error row (``field`` None, ``raw`` the note id),
    and the rest of the batch is still scored.
    """
    notes = [(rec.row, rec.note) for rec in records if rec.note is not None]
    errors = [rec.error for rec in records if rec.note is None and rec.error is not None]
    verdicts: list[tuple[int, Verdict]] = []
    results = _score_safely(pipeline, [note for _, note in notes])
    for (row, note), result in zip(notes, results, strict=True):
        if isinstance(result, Verdict):
            verdicts.append((row, result))
        else:
            errors.append(RowError(row=row, field=None, reason=f"scoring failed: {result}",
                                   raw=note.id))
    errors.sort(key=lambda e: e.row)
    return verdicts, errors


def _score_safely(pipeline: Pipeline, notes: list[Note]) -> list[Verdict | str]:
    """Score a batch; if the batch fails, score note by note so one bad note loses nothing else."""
    if not notes:
        return []
    try:
        return list(pipeline.score_batch(notes))
    except Exception:  # noqa: BLE001 - isolate the failing note below
        results: list[Verdict | str] = []
        for note in notes:
            try:
                results.append(pipeline.score_batch([note])[0])
            except Exception as exc:  # noqa: BLE001 - recorded in the errors file
                results.append(f"{type(exc).__name__}: {exc}")
        return results


def _write_line(f: IO[bytes], obj: dict[str, Any]) -> None:
    f.write(json_line(obj).encode("utf-8") + b"\n")


def _truncate(path: Path, size: int) -> None:
    if not path.exists():
        raise ValueError(f"cannot resume: {path} is missing; rerun without --resume to start over")
    with path.open("r+b") as f:
        f.truncate(size)


def _convert_spool(spool: Path, output: Path) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        with spool.open("rb") as f:
            for line in f:
                yield json.loads(line)

    with open_writer(output) as writer:
        writer.write(rows())
    spool.unlink()


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress_bar(total: int | None, start: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="note", dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30.0, desc="scoring")
