"""Batch scoring of a note dump: streaming, checkpointed, resumable, never losing a record.

Every input record ends up in exactly one place: a verdict in the output (same order as the input)
or a line in the errors file (row number, field, reason, raw text). After each batch the output
and errors files are flushed and fsynced, then a checkpoint ``OUTPUT.progress.json`` (itself
written to a temporary file, fsynced and renamed) records the last input row handled and both
files' byte sizes. ``resume=True`` truncates both files back to the checkpoint (dropping anything
half-written after it) and continues after that row: no duplicates, no gaps. A file *shorter*
than its checkpoint says (lost by the disk) is never padded: the resume stops with one line.

Non-JSONL outputs (CSV, Parquet) are spooled as JSONL next to the output and converted at the end
into a temporary file that is renamed over the output; the spool is deleted only after the
checkpoint says the run is complete, so a kill at any point leaves a state ``--resume`` finishes.

A full disk or any other I/O error ends the run with one :class:`BatchIOError` line; the last
checkpoint stays valid, so ``--resume`` continues once the cause is fixed.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from classifier.errors import NotecheckError
from classifier.formats import Record, RowError, count_records, detect_format, read_records
from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from classifier.writers import json_line, open_writer, output_format

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


class BatchIOError(NotecheckError):
    """Reading or writing a batch run's files failed (a full disk, a lost mount, permissions);
    the message names the file and the cause, and the run can be resumed once that is fixed."""


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

    def load_quietly(self) -> dict[str, Any] | None:
        """The checkpoint if it is readable and belongs to this input, else ``None``."""
        try:
            return self.load()
        except (ValueError, OSError):
            return None

    def save(self, **state: Any) -> None:
        """Replace the checkpoint atomically and durably: write a temporary file, fsync it, rename
        it over the checkpoint and fsync the folder, so a power loss leaves the old or the new."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"input": self.input, "input_size": self.input_size, **state})
        with tmp.open("w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)


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
    output_format(output)  # an output name it cannot write fails now, not after the scoring
    checkpoint = _Checkpoint(progress_path(output), input_path)
    try:
        return _score_file(pipeline, input_path, output, errors, fmt, checkpoint, resume=resume,
                           batch_size=batch_size, limit=limit, progress=progress,
                           max_chars=max_chars, on_batch=on_batch)
    except OSError as e:
        where = f"{e.filename}" if e.filename else f"{output} or {errors}"
        cause = e.strerror or str(e) or type(e).__name__
        name = errno.errorcode.get(e.errno) if e.errno is not None else None
        code = f" ({name})" if name else ""
        done = checkpoint.load_quietly()
        kept = f"rows up to {done['row']} are safe in the checkpoint" if done else "no rows were saved"
        raise BatchIOError(f"cannot read or write {where}: {cause}{code}; {kept}; fix the cause "
                           f"(e.g. free disk space) and rerun with --resume") from e


def _score_file(
    pipeline: Pipeline, input_path: Path, output: Path, errors: Path, fmt: str,
    checkpoint: _Checkpoint, *, resume: bool, batch_size: int, limit: int | None, progress: bool,
    max_chars: int, on_batch: Callable[[Summary], None] | None,
) -> Summary:
    spool = _spool_path(output)
    summary = Summary(output=str(output), errors=str(errors))

    state = checkpoint.load() if resume else None
    if state is not None and state.get("complete"):
        summary.scored, summary.failed = state["scored"], state["failed"]
        summary.resumed_from_row = state["row"]
        _restore_counts(summary, state)
        if spool != output:
            spool.unlink(missing_ok=True)  # a kill after the checkpoint, before the delete
        return summary
    if state is not None:
        _truncate(spool, state["out_bytes"], checkpoint.path)
        _truncate(errors, state["err_bytes"], checkpoint.path)
        summary.scored, summary.failed = state["scored"], state["failed"]
        summary.resumed_from_row = start_row = int(state["row"])
        _restore_counts(summary, state)
    else:
        start_row = 0
        checkpoint.path.unlink(missing_ok=True)  # another run's: never resumed into these files
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
            for f in (out_f, err_f):  # on the disk before the checkpoint says so
                f.flush()
                os.fsync(f.fileno())
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
        if spool != output:
            spool.unlink()
    return summary


def _restore_counts(summary: Summary, state: dict[str, Any]) -> None:
    summary.labels.update(state.get("labels", {}))
    summary.decisions.update({_pair(k): v for k, v in state.get("decisions", {}).items()})


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


def _truncate(path: Path, size: int, checkpoint: Path) -> None:
    """Cut ``path`` back to the ``size`` bytes the checkpoint recorded. A shorter file lost data
    that the checkpoint counts as written (e.g. a power loss before it reached the disk):
    extending it would pad it with NUL bytes, so the resume stops instead."""
    if not path.exists():
        raise ValueError(f"cannot resume: {path} is missing; rerun without --resume to start over")
    have = path.stat().st_size
    if have < size:
        raise ValueError(f"cannot resume: {path} has {have:,} bytes but {checkpoint} says "
                         f"{size:,} were written (data lost, e.g. in a power cut); rerun without "
                         f"--resume to start over")
    with path.open("r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


def _convert_spool(spool: Path, output: Path) -> None:
    """Write the spooled JSONL as ``output``'s format into a temporary file beside it, fsync it
    and rename it over ``output``: a kill leaves either no output or a complete one."""
    def rows() -> Iterator[dict[str, Any]]:
        with spool.open("rb") as f:
            for line in f:
                yield json.loads(line)

    tmp = output.with_name(output.name + ".tmp")
    try:
        with open_writer(tmp, output_format(output)) as writer:
            writer.write(rows())
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(output.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere a rename is already durable or a
    folder cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress_bar(total: int | None, start: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="note", dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30.0, desc="scoring")
