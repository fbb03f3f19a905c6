"""Batch scoring on Ray Data: ``notecheck score --engine ray [--address ...]``.

The same function scores a batch on both engines: :func:`serving.batch.local.score_records` turns read
records into verdicts and error rows (a batch that fails is retried note by note). The Ray job
around it::

    read (one task per file, row numbers kept; on --resume from the row after the checkpoint)
      -> map_batches(_ScoreActor, concurrency=num_actors)   # each actor loads the Pipeline once
      -> in input order (Ray Data's preserve_order)
      -> the driver appends each finished block to the verdicts and errors spools and records it
         in the checkpoint

Reading: JSONL is read as raw lines (a broken line, bytes that are not UTF-8 or an oversized line
becomes an error row, never a failed job) and Parquet batch by batch; both keep the 1-based row
number of :func:`classifier.formats.read_records`. Every line is parsed into a note inside the
actors with the local engine's own parser, so verdicts and error rows match ``score_file``'s row
for row (byte for byte on the fast path; with ``exact`` torch pads per batch and Ray cuts batches
elsewhere, so an encoder's score may differ in the sixth decimal). The input may be a local path
or any URI Ray reads (``s3://``, ``gs://``, ``hdfs://``, ``local://``); on a cluster it must be
readable by every node.

Writing: the driver writes the verdicts and the errors as JSONL spools (``NAME.partial.jsonl``),
fsynced and recorded in the checkpoint ``OUTPUT.progress.json`` after every block, and turns them
into the outputs (JSONL, CSV or Parquet by extension) only after the count check: verdicts +
errors must equal the records in the input, each row exactly once, or the job fails loudly.

Resuming: a job that fails (a node lost at 99%, a full disk, Ctrl-C) keeps every block it
recorded; ``resume=True`` (``--resume``) reads the input from the row after the checkpoint, so
the cluster scores only the rest, and the outputs equal those of one uninterrupted run. The files
and the checkpoint are the local engine's (:mod:`serving.batch.checkpoint`).

Ray is imported only inside the functions that need it: importing this module does not need Ray
installed (``notecheck score --engine ray`` says how to install it when it is missing).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from classifier.comments import CommentFile, read_comment_file
from classifier.errors import FormatError, NotecheckError
from classifier.formats import (
    Record,
    RowError,
    count_records,
    detect_format,
    iter_jsonl_lines,
    oversized_record,
    parse_jsonl_line,
    record_from_mapping,
)
from classifier.notes import DEFAULT_MAX_CHARS, READ_PICTURES
from classifier.onnx_backend import available_cpus
from classifier.pictures import PictureOptions
from classifier.pipeline import Pipeline
from classifier.types import Verdict
from classifier.writers import json_line
from serving.batch.checkpoint import RunFiles, write_line
from serving.batch.local import (
    Summary,
    default_errors_path,
    error_row,
    join_comments,
    read_pictures,
    score_records,
)

__all__ = ["ray_session", "score_with_ray"]

ROW_COLUMN = "__notecheck_row"
"""Column that carries the 1-based input row through a Parquet read."""

RAY_FORMATS = ("jsonl", "parquet")
_CHUNK = 1 << 16
_BLOCK_LINES = 4096
RECORD_BLOCK = 2048
"""Records per block of a job (about): a finished block is the unit the driver records, so a
failed job loses at most the blocks in flight."""
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_URI_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jl": "jsonl",
                   ".parquet": "parquet", ".pq": "parquet"}

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- per line


def record_from_line(row: int, line: bytes, oversize: int | None, max_chars: int) -> Record:
    """The :class:`Record` the local reader makes of one JSONL line."""
    if oversize is not None:
        return oversized_record(row, oversize, max_chars, line)
    return parse_jsonl_line(row, line, max_chars)


# ----------------------------------------------------------------------------- actors


class _ScoreActor:
    """One per Ray actor: loads the Pipeline once (and, with ``pictures``, its own picture
    reader: the actor reads and OCRs the pictures), then scores batches of input rows into result
    rows ``row, kind ("verdict"|"error"), label, decision, json``."""

    def __init__(self, model: str | None, policy: str | None, lexicon: str | None, fmt: str,
                 max_chars: int, exact: bool = False,
                 pictures: PictureOptions | None = None,
                 comments: CommentFile | None = None) -> None:
        self.pipeline = Pipeline.load(model, policy, lexicon, exact=exact)
        self.fmt = fmt
        self.max_chars = max_chars
        self.pictures = pictures.reader() if pictures is not None else None
        self.comments = comments

    def __call__(self, batch: Any) -> Any:
        token = READ_PICTURES.set(self.pictures is not None)
        try:
            records = self.records(batch)
        finally:
            READ_PICTURES.reset(token)
        joined: dict[int, tuple[str, int]] = {}  # by row: the note id joined by, and its comment rows
        if self.comments is not None:
            records, notes = join_comments(records, self.comments)
            joined = {row: (note, self.comments.rows_of[note]) for row, note in notes.items()}
        extra: dict[int, list[str]] = {}
        if self.pictures is not None:
            records, failures = read_pictures(records, self.pictures)
            for failure in failures:
                extra.setdefault(int(failure["row"]), []).append(json_line(failure))
        verdicts, errors = score_records(self.pipeline, records)
        return _result_table(verdicts, errors, {r.row: r.ignored for r in records if r.ignored},
                             extra, joined)

    def records(self, batch: Any) -> list[Record]:
        if self.fmt == "jsonl":
            return [record_from_line(r, line, over, self.max_chars) for r, line, over in zip(
                batch.column("row").to_pylist(), batch.column("line").to_pylist(),
                batch.column("oversize").to_pylist(), strict=True)]
        out = []
        for obj in batch.to_pylist():
            row = obj.pop(ROW_COLUMN)
            out.append(record_from_mapping(row, obj, self.max_chars))
        return out


RESULT_COLUMNS = ("row", "kind", "label", "decision", "json", "ignored", "picture_errors",
                  "comment_note", "comment_rows")


def _result_table(verdicts: list[tuple[int, Verdict]], errors: list[RowError],
                  ignored: dict[int, tuple[str, ...]] | None = None,
                  picture_errors: dict[int, list[str]] | None = None,
                  comments: dict[int, tuple[str, int]] | None = None) -> Any:
    """One row per input record, in row order: ``row, kind ("verdict"|"error"), label,
    decision, json`` (the line the outputs get), ``ignored`` (the record's unread fields),
    ``picture_errors`` (errors-file lines for its pictures not fetched; the note was scored) and
    ``comment_note``, ``comment_rows`` (the note id its comments were joined by, and that note's
    rows in the comment file; none and 0 without)."""
    import pyarrow as pa

    ignored = ignored or {}
    extra = picture_errors or {}
    joined = comments or {}
    none: tuple[str | None, int] = (None, 0)
    rows: list[tuple[int, str, str | None, str | None, str, list[str], list[str], str | None, int]] = [
        (r, "verdict", v.label, v.decision, json_line(v.to_dict()), list(ignored.get(r, ())),
         extra.get(r, []), *joined.get(r, none)) for r, v in verdicts]
    rows += [(e.row, "error", None, None, json_line(error_row(e)), list(ignored.get(e.row, ())),
              extra.get(e.row, []), *joined.get(e.row, none)) for e in errors]
    rows.sort(key=lambda r: r[0])
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(RESULT_COLUMNS)
    types = [pa.int64(), pa.string(), pa.string(), pa.string(), pa.string(),
             pa.list_(pa.string()), pa.list_(pa.string()), pa.string(), pa.int64()]
    return pa.table([pa.array(c, t) for c, t in zip(cols, types, strict=True)],
                    names=list(RESULT_COLUMNS))


# ----------------------------------------------------------------------------- reading


@cache
def _datasource_classes() -> tuple[type[Any], type[Any]]:
    """Ray datasources for JSONL lines and Parquet rows, built on first use so that Ray stays an
    optional import. Each file is read by one task from start to end, which keeps row numbers."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from ray.data.datasource import FileBasedDatasource

    line_schema = pa.schema([("row", pa.int64()), ("line", pa.binary()),
                             ("oversize", pa.int64())])

    class JsonlLines(FileBasedDatasource):
        def __init__(self, paths: str, *, max_chars: int, start_row: int = 1) -> None:
            super().__init__(paths)
            self.max_chars = max_chars
            self.start_row = start_row

        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            cols: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
            for item in iter_jsonl_lines(io.BufferedReader(f, _CHUNK), self.max_chars):
                if item[0] < self.start_row:
                    continue  # recorded by the run being resumed
                for col, value in zip(cols, item, strict=True):
                    col.append(value)
                if len(cols[0]) >= _BLOCK_LINES:
                    yield pa.table(list(cols), schema=line_schema)
                    cols = ([], [], [])
            if cols[0]:
                yield pa.table(list(cols), schema=line_schema)

    class ParquetRows(FileBasedDatasource):
        def __init__(self, paths: str, *, start_row: int = 1) -> None:
            super().__init__(paths)
            self.start_row = start_row

        def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
            return filesystem.open_input_file(path)  # Parquet needs random access

        def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
            try:
                pf = pq.ParquetFile(f)
            except (pa.ArrowException, OSError) as e:
                raise FormatError(f"cannot read {path!r} as Parquet ({e}); check that the file "
                                  f"is complete") from e
            if ROW_COLUMN in pf.schema_arrow.names:
                raise FormatError(f"{path!r} has a column named {ROW_COLUMN!r}, which the ray "
                                  f"engine uses for row numbers; rename it")
            row = 0
            for batch in pf.iter_batches(batch_size=1024):
                first, row = row + 1, row + batch.num_rows
                if row < self.start_row:
                    continue  # recorded by the run being resumed
                table = pa.Table.from_batches([batch]).append_column(
                    ROW_COLUMN, pa.array(range(first, row + 1), pa.int64()))
                yield table.slice(max(0, self.start_row - first))

    return JsonlLines, ParquetRows


def _is_uri(path: str) -> bool:
    return "://" in path


def _resolve_input(input_path: Path | str, fmt: str | None) -> tuple[str, str, Path | None]:
    """(source for Ray, format, local path or None for a URI)."""
    text = str(input_path)
    local = None if _is_uri(text) else Path(text)
    if fmt is None:
        if local is not None:
            fmt = detect_format(local)
        else:
            fmt = _URI_EXTENSIONS.get(Path(text.split("?", 1)[0]).suffix.lower())
            if fmt is None:
                raise FormatError(f"cannot tell the format of {text!r} from its extension; "
                                  f"use .jsonl or .parquet or pass the format")
    elif local is not None and not local.is_file():
        raise FormatError(f"no such file: {text!r}; check the path")
    if fmt not in RAY_FORMATS:
        raise FormatError(f"the ray engine reads JSONL and Parquet, not {fmt!r} ({text!r}); "
                          f"convert the dump to JSONL or use --engine local")
    source = str(local.resolve()) if local is not None else text
    return source, fmt, local


def _read(source: str, fmt: str, max_chars: int, start_row: int = 1,
          records: int | None = None) -> Any:
    """The input as a dataset from ``start_row`` on; knowing how many ``records`` remain, it is
    cut into blocks of about :data:`RECORD_BLOCK` records (the unit the driver records)."""
    import ray.data

    jsonl, parquet = _datasource_classes()
    datasource = (jsonl(source, max_chars=max_chars, start_row=start_row) if fmt == "jsonl"
                  else parquet(source, start_row=start_row))
    blocks = max(1, math.ceil(records / RECORD_BLOCK)) if records else None
    return ray.data.read_datasource(datasource, override_num_blocks=blocks)


# ----------------------------------------------------------------------------- the job


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to Ray for the duration of the block.

    If Ray is already initialised in this process (a notebook, a test fixture) that connection is
    used and left open. Otherwise ``address`` joins a running cluster (``auto``, ``HOST:6379`` or
    ``ray://HOST:10001``); without it a private local instance is started with ``num_cpus``
    logical CPUs (default: the CPUs this process may use), every service bound to 127.0.0.1, no
    dashboard and no usage reporting, and it is shut down at the end.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        yield
        return
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        ray.init(address=address, **common)
    else:
        with _loopback_only():
            ray.init(num_cpus=num_cpus or available_cpus(), include_dashboard=False, **common)
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def _loopback_only() -> Iterator[None]:
    """Make a local Ray start bind to 127.0.0.1 instead of the machine's address: Ray does so when
    its cluster mode is off (the default on macOS and Windows). The processes it starts read the
    environment variable; this process read it when it imported ray, hence the constant too."""
    from ray._private import ray_constants

    saved_env = os.environ.get(_LOOPBACK_ENV)
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_LOOPBACK_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(_LOOPBACK_ENV, None)
        else:
            os.environ[_LOOPBACK_ENV] = saved_env


@contextmanager
def _data_context(progress: bool) -> Iterator[None]:
    """Ray Data settings for the job: results in input order (so that the driver can record a
    finished prefix), progress bars and start-up messages only when asked."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    saved = ctx.enable_progress_bars, ctx.print_on_execution_start
    saved_order = ctx.execution_options.preserve_order
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    ctx.enable_progress_bars = ctx.print_on_execution_start = progress
    ctx.execution_options.preserve_order = True
    if not progress:
        data_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        ctx.enable_progress_bars, ctx.print_on_execution_start = saved
        ctx.execution_options.preserve_order = saved_order
        data_log.setLevel(saved_level)


def score_with_ray(
    input_path: Path | str,
    output: Path,
    *,
    errors: Path | None = None,
    fmt: str | None = None,
    model: Path | str | None = None,
    policy: Path | str | None = None,
    lexicon: Path | str | None = None,
    address: str | None = None,
    batch_size: int = 64,
    num_actors: int = 2,
    max_chars: int = DEFAULT_MAX_CHARS,
    num_cpus_per_actor: float = 1.0,
    progress: bool = False,
    exact: bool = False,
    resume: bool = False,
    pictures: PictureOptions | None = None,
    comments: Path | None = None,
) -> Summary:
    """Score a JSONL or Parquet dump on Ray Data; the outputs equal ``score_file``'s.

    ``address`` joins a Ray cluster (see :func:`ray_session`); without it a local instance is
    started. ``num_actors`` actors each load the Pipeline (``model``, ``policy``, ``lexicon``:
    paths that every node can read; ``None`` = the shipped defaults) once and take
    ``num_cpus_per_actor`` CPUs; ``exact`` as for :meth:`Pipeline.load`. ``pictures``
    (``--images``): each actor reads and OCRs the notes' pictures as the local engine does (the
    image root must be readable on every node). ``comments`` (``--comments``): a comment export
    read here and given to every actor, joined to the notes by id as the local engine does (its
    bad rows go to the errors file first, once). ``resume`` continues a
    job that stopped, scoring only the records after its checkpoint. Raises ``FormatError`` for
    an input it cannot read, ``NotecheckError`` when the verdicts and errors do not account for
    every input record and ``BatchIOError`` (one line, resumable) when a file cannot be written.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_actors < 1:
        raise ValueError(f"num_actors must be >= 1, got {num_actors}")
    output = Path(output)
    errors = Path(errors) if errors is not None else default_errors_path(output)
    source, fmt, local = _resolve_input(input_path, fmt)
    files = RunFiles(output, errors, local if local is not None else source, engine="ray",
                     in_place=False)
    _preflight(model, policy, lexicon, strict=address is None)
    expected = count_records(local, fmt) if local is not None else None
    summary = Summary(output=str(output), errors=str(errors))
    comment_file = (read_comment_file(Path(comments), max_chars=max_chars)
                    if comments is not None else None)
    actor_args = {"model": _opt_str(model), "policy": _opt_str(policy),
                  "lexicon": _opt_str(lexicon), "fmt": fmt, "max_chars": max_chars,
                  "exact": exact, "pictures": pictures, "comments": comment_file}
    try:
        state = files.begin(resume)
        if state is not None:
            summary.restore(state)
            summary.resumed_from_row = int(state["row"])
            if state.get("complete"):
                return summary
        first_errors: list[dict[str, Any]] = []
        if comment_file is not None:
            summary.index_comments(comment_file)
            if not summary.comments:  # a fresh run
                first_errors = summary.start_comments(comment_file)  # they open the errors file
        _run_job(source, fmt, files, summary, expected, actor_args, first_errors,
                 address=address,
                 batch_size=batch_size, num_actors=num_actors,
                 num_cpus_per_actor=num_cpus_per_actor, progress=progress)
    except OSError as e:
        raise files.io_error(e) from e
    return summary


def _run_job(source: str, fmt: str, files: RunFiles, summary: Summary, expected: int | None,
             actor_args: dict[str, Any], first_errors: list[dict[str, Any]], *,
             address: str | None, batch_size: int,
             num_actors: int, num_cpus_per_actor: float, progress: bool) -> None:
    import ray.exceptions

    needed = num_actors * num_cpus_per_actor + 1  # the actors, and one CPU to read with
    start_row = summary.resumed_from_row + 1
    with ray_session(address, num_cpus=max(available_cpus(), math.ceil(needed))), \
            _data_context(progress):
        _check_cpus(needed, num_actors, num_cpus_per_actor, strict=address is None)
        started = time.perf_counter()
        if expected is None:
            expected = int(_read(source, fmt, actor_args["max_chars"]).count())
        left = expected - summary.total
        scored = _read(source, fmt, actor_args["max_chars"], start_row, left).map_batches(
            _ScoreActor, batch_size=batch_size, batch_format="pyarrow",
            concurrency=num_actors, num_cpus=num_cpus_per_actor,
            fn_constructor_kwargs=actor_args,
        )
        batches = scored.iter_batches(batch_size=None, batch_format="pyarrow")
        try:
            _write_outputs(batches, files, expected, summary, first_errors)
        except ray.exceptions.RayError as exc:
            raise _job_error(exc, files.checkpoint.load_quietly()) from exc
        summary.elapsed_s = time.perf_counter() - started


def _check_cpus(needed: float, num_actors: int, per_actor: float, *, strict: bool) -> None:
    """Actors hold their CPUs for the whole job: without one more to read with it would hang.
    A cluster may still scale up, so there this is only a warning."""
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    have = float(resources.get("CPU", 0.0))
    if have >= needed:
        return
    message = (f"{num_actors} actors x {per_actor:g} CPU + 1 CPU for reading need {needed:g} "
               f"CPUs but the Ray cluster has {have:g}")
    if strict:
        raise ValueError(f"{message}; lower --num-actors")
    log.warning("%s; the job waits until the cluster grows", message)


def _opt_str(p: Path | str | None) -> str | None:
    return None if p is None else str(p)


def _preflight(model: Path | str | None, policy: Path | str | None,
               lexicon: Path | str | None, *, strict: bool) -> None:
    """Check the model folder, policy and lexicon here before starting Ray, for a clear error
    (inside an actor it would arrive as text). Joining a cluster, paths this machine lacks may
    exist on the nodes: those are left to the actors."""
    from classifier.model import default_model_dir, read_model_config
    from classifier.rules import Policy
    from classifier.signals import Lexicon

    model_dir = Path(model) if model is not None else default_model_dir()
    if strict or model_dir.exists():
        read_model_config(model_dir)
    if policy is not None and (strict or Path(policy).exists()):
        Policy.load(policy)
    if lexicon is not None and (strict or Path(lexicon).exists()):
        Lexicon.load(lexicon)


_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)
_RAY_WRAPPERS = frozenset({"RayTaskError", "UserCodeException", "ActorDiedError", "RayError"})


def _job_error(exc: BaseException, kept: dict[str, Any] | None = None) -> NotecheckError:
    """A one-line error for a failed Ray job. Ray keeps only the text of an exception raised in
    an actor or task, so the last ``NameError: message`` line of that text is the cause; one of
    ours (``ModelError`` ...) becomes that class again. ``kept``: the checkpoint the job left,
    which ``--resume`` continues from."""
    from classifier import errors as error_tree

    resume = (f"; rows up to {kept['row']} are saved: rerun with --resume to score only the rest"
              if kept and kept.get("row") else "")
    found = [m for m in _ERROR_LINE.finditer(str(exc)) if m.group(1) not in _RAY_WRAPPERS]
    if not found:
        return NotecheckError(f"the Ray job failed ({type(exc).__name__}); its logs are under "
                              f"the Ray session folder (/tmp/ray/session_latest/logs locally)"
                              f"{resume}")
    name, message = found[-1].group(1), found[-1].group(2).strip()
    cls = getattr(error_tree, name, None)
    if isinstance(cls, type) and issubclass(cls, NotecheckError):
        return cls(message + resume)
    return NotecheckError(f"the Ray job failed: {name}: {message}{resume}")


def _write_outputs(batches: Iterable[Any], files: RunFiles, expected: int,
                   summary: Summary, first_errors: Iterable[dict[str, Any]] = ()) -> None:
    """Append each result block to the spools in input order, recording it in the checkpoint;
    when every input record is accounted for, turn the spools into the outputs.
    ``first_errors`` (a fresh run's comment-file errors) open the errors file."""
    last = summary.resumed_from_row
    with files.open() as (out_f, err_f):
        for line in first_errors:
            write_line(err_f, line)
        for batch in batches:
            rows = batch.column("row").to_pylist()
            if not rows:
                continue
            if rows[0] <= last or any(a >= b for a, b in pairwise(rows)):
                raise NotecheckError(f"the ray engine returned input row {_repeat(last, rows)} "
                                     f"twice or out of order; rerun the job and report a bug")
            last = rows[-1]
            _append(batch, out_f, err_f, summary)
            files.save(out_f, err_f, row=last, **summary.state())
    if summary.total != expected:
        raise NotecheckError(
            f"the ray engine lost records: the input has {expected} records but the job returned "
            f"{summary.scored} verdicts + {summary.failed} errors = {summary.total}; the partial "
            f"outputs are in {files.out.spool} and {files.err.spool}; rerun the job and report a "
            f"bug")
    files.finish(row=last, **summary.state())


def _append(batch: Any, out_f: IO[bytes], err_f: IO[bytes], summary: Summary) -> None:
    kinds = batch.column("kind").to_pylist()
    texts = batch.column("json").to_pylist()
    labels = batch.column("label").to_pylist()
    decisions = batch.column("decision").to_pylist()
    ignored = (batch.column("ignored").to_pylist() if "ignored" in batch.column_names
               else [None] * len(kinds))
    pictures = (batch.column("picture_errors").to_pylist()
                if "picture_errors" in batch.column_names else [None] * len(kinds))
    if summary.comments and "comment_note" in batch.column_names:
        summary.count_joined({note: rows for note, rows in zip(
            batch.column("comment_note").to_pylist(), batch.column("comment_rows").to_pylist(), strict=True)
            if note is not None})
    if "verdict" in kinds:  # one model and policy in a run, a resumed run included
        first = json.loads(texts[kinds.index("verdict")])
        summary.check_versions((first["model_version"], first["policy_version"]))
    for kind, text, label, decision, names, unfetched in zip(kinds, texts, labels, decisions,
                                                             ignored, pictures, strict=True):
        for line in unfetched or ():
            write_line(err_f, line)
            summary.picture_failures += 1
        if kind == "verdict":
            write_line(out_f, text)
            summary.scored += 1
            summary.labels[label] += 1
            summary.decisions[(label, decision)] += 1
        else:
            write_line(err_f, text)
            summary.failed += 1
        summary.count_ignored(names or ())


def _repeat(last: int, rows: list[int]) -> int:
    seq = [last, *rows]
    return next(b for a, b in pairwise(seq) if a >= b)

