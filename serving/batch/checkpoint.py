"""The resumable files of a batch run, shared by the local and the Ray engine.

A run writes two files, the verdicts and the errors, each through a JSONL *spool*: the file itself
for a local JSONL output, else ``NAME.partial.jsonl`` beside it (CSV and Parquet outputs, and every
Ray output, which appears only when complete). After each batch both spools are flushed and
fsynced, then the checkpoint ``OUTPUT.progress.json`` (written to a temporary file, fsynced and
renamed) records the last input row written and both spools' byte sizes.

Resuming truncates both spools back to the checkpoint (dropping anything half-written after it)
and continues after that row. A spool *shorter* than the checkpoint says lost data the checkpoint
counts as written (e.g. a power cut before the data reached the disk): it is never padded; the
resume stops with one line.

Finishing converts a CSV/Parquet spool into a temporary file that is renamed over the output,
then marks the checkpoint complete, and only then renames the JSONL spools into place and deletes
the others; a resume of a complete run finishes those last steps. A kill at any point therefore
leaves a state that ``--resume`` completes.

An ``OSError`` (a full disk, a lost mount) becomes one :class:`BatchIOError` line from
:meth:`RunFiles.io_error`; the last checkpoint stays valid.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from classifier.errors import NotecheckError
from classifier.writers import json_line, open_writer, output_format

__all__ = ["BatchIOError", "Checkpoint", "RunFiles", "progress_path", "write_line"]


class BatchIOError(NotecheckError):
    """Reading or writing a batch run's files failed (a full disk, a lost mount, permissions);
    the message names the file and the cause, and the run can be resumed once that is fixed."""


def progress_path(output: Path) -> Path:
    return output.with_name(output.name + ".progress.json")


def write_line(f: IO[bytes], obj: Any) -> None:
    """One record as a JSON line (``obj`` may already be a JSON text)."""
    text = obj if isinstance(obj, str) else json_line(obj)
    f.write(text.encode("utf-8") + b"\n")


class Checkpoint:
    """``OUTPUT.progress.json``: which input (path and size, or a URI) and engine it belongs to,
    and the state a run saved after its last batch."""

    def __init__(self, path: Path, source: Path | str, engine: str = "local") -> None:
        self.path = path
        self.engine = engine
        if isinstance(source, Path) or "://" not in source:
            self.input = str(Path(source).resolve())
            self.input_size: int | None = Path(source).stat().st_size
        else:
            self.input, self.input_size = source, None

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
        engine = data.get("engine", "local")
        if engine != self.engine:
            raise ValueError(f"{self.path} was written by the {engine} engine; resume with "
                             f"--engine {engine} or rerun without --resume to start over")
        return data

    def load_quietly(self) -> dict[str, Any] | None:
        """The checkpoint if it is readable and belongs to this run, else ``None``."""
        try:
            return self.load()
        except (ValueError, OSError):
            return None

    def save(self, **state: Any) -> None:
        """Replace the checkpoint atomically and durably: write a temporary file, fsync it, rename
        it over the checkpoint and fsync the folder, so a power loss leaves the old or the new."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"input": self.input, "input_size": self.input_size,
                           "engine": self.engine, **state})
        with tmp.open("w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)


@dataclass(frozen=True)
class _File:
    path: Path
    fmt: str
    spool: Path


class RunFiles:
    """The verdicts and errors files of one run, their spools and the checkpoint.

    ``in_place``: a JSONL output is its own spool (the local engine); otherwise every output is
    written to ``NAME.partial.jsonl`` and appears only when the run is complete (the Ray engine).
    An errors file whose extension says nothing is JSONL.
    """

    def __init__(self, output: Path, errors: Path, source: Path | str, *, engine: str = "local",
                 in_place: bool = True) -> None:
        files = []
        for path, fmt in ((output, output_format(output)), (errors, output_format(errors, "jsonl"))):
            spool = path if in_place and fmt == "jsonl" else path.with_name(path.name + ".partial.jsonl")
            files.append(_File(path, fmt, spool))
        self.out, self.err = files
        self.output, self.errors = output, errors
        self.checkpoint = Checkpoint(progress_path(output), source, engine)

    def begin(self, resume: bool) -> dict[str, Any] | None:
        """The saved state to continue from (``None``: start afresh, with empty spools). A
        complete state is returned as it is, after finishing its last renames."""
        state = self.checkpoint.load() if resume else None
        if state is not None and state.get("complete"):
            self._settle()
            return state
        if state is not None:
            _truncate(self.out.spool, int(state["out_bytes"]), self.checkpoint.path)
            _truncate(self.err.spool, int(state["err_bytes"]), self.checkpoint.path)
            return state
        self.checkpoint.path.unlink(missing_ok=True)  # another run's: never resumed into these
        for f in (self.out, self.err):
            f.spool.parent.mkdir(parents=True, exist_ok=True)
            f.spool.write_bytes(b"")
        return None

    @contextmanager
    def open(self) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
        """The two spools, opened for appending."""
        with self.out.spool.open("ab") as out_f, self.err.spool.open("ab") as err_f:
            yield out_f, err_f

    def save(self, out_f: IO[bytes], err_f: IO[bytes], **state: Any) -> None:
        """Make both spools durable, then record ``state`` (``row`` and the counts) with their
        sizes in the checkpoint."""
        for f in (out_f, err_f):
            f.flush()
            os.fsync(f.fileno())
        self.checkpoint.save(out_bytes=out_f.tell(), err_bytes=err_f.tell(), complete=False,
                             **state)

    def finish(self, **state: Any) -> None:
        """Convert CSV/Parquet spools (temporary file, renamed), mark the checkpoint complete,
        then move the JSONL spools into place and delete the others."""
        for f in (self.out, self.err):
            if f.spool != f.path and f.fmt != "jsonl":
                _convert_spool(f.spool, f.path, f.fmt)
        self.checkpoint.save(out_bytes=0, err_bytes=0, complete=True, **state)
        self._settle()

    def _settle(self) -> None:
        for f in (self.out, self.err):
            if f.spool == f.path:
                continue
            if f.fmt == "jsonl":
                if f.spool.exists():
                    os.replace(f.spool, f.path)
            else:
                f.spool.unlink(missing_ok=True)
            fsync_dir(f.path.parent)

    def io_error(self, e: OSError) -> BatchIOError:
        """One line for an I/O failure: the file, the cause and what is kept for ``--resume``."""
        where = f"{e.filename}" if e.filename else f"{self.output} or {self.errors}"
        cause = e.strerror or str(e) or type(e).__name__
        name = errno.errorcode.get(e.errno) if e.errno is not None else None
        code = f" ({name})" if name else ""
        done = self.checkpoint.load_quietly()
        kept = (f"rows up to {done['row']} are safe in the checkpoint" if done
                else "no rows were saved")
        return BatchIOError(f"cannot read or write {where}: {cause}{code}; {kept}; fix the cause "
                            f"(e.g. free disk space) and rerun with --resume")


def _truncate(path: Path, size: int, checkpoint: Path) -> None:
    """Cut ``path`` back to the ``size`` bytes the checkpoint recorded. A shorter file lost data
    that the checkpoint counts as written: extending it would pad it with NUL bytes, so the
    resume stops instead."""
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


def _convert_spool(spool: Path, output: Path, fmt: str) -> None:
    """Write the spooled JSONL as ``fmt`` into a temporary file beside ``output``, fsync it and
    rename it over ``output``: a kill leaves the old output or the complete new one."""
    def rows() -> Iterator[dict[str, Any]]:
        with spool.open("rb") as f:
            for line in f:
                yield json.loads(line)

    tmp = output.with_name(output.name + ".tmp")
    try:
        with open_writer(tmp, fmt) as writer:
            writer.write(rows())
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(output.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere a folder cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
