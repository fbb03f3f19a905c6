"""Batch scoring of a note dump: streaming, checkpointed, resumable, never losing a record.

Every input record ends up in exactly one place: a verdict in the output (same order as the input)
or a line in the errors file (row number, field, reason, raw text). After each batch both files
are flushed and fsynced and a checkpoint ``OUTPUT.progress.json`` records the last input row
handled and both files' byte sizes; ``resume=True`` continues after that row: no duplicates, no
gaps. Non-JSONL outputs (CSV, Parquet) are spooled as JSONL and converted at the end. The files,
the checkpoint and what survives a kill, a power cut or a full disk: :mod:`serving.batch.checkpoint`.

Fields of a record that no note field is read from (a ``label``, a crawler's ``ip_location``)
are ignored, and the summary lists them with counts.

``comments=PATH`` joins a comment export (MediaCrawler's ``comments.jsonl``: one row per comment
with its ``note_id``) to the notes by id: a note's comments are those of its record followed by the
file's. Every comment row is accounted for in the summary: joined to a note, an error line in the
errors file (``source: "comments"``, its row, field and reason; written once, not again on resume),
or counted as matching no note of the dump.

``pictures`` reads the notes' pictures (``--images``). A picture that cannot be read (outside the
image root, missing, not an image) makes its note an error row naming ``images[i]``; a picture
URL whose fetch (``--fetch-images``) is refused or fails is written to the errors file
(``source: "images"``, the row, field ``images[i]``, the reason, ``"scored": true``) and the note is
scored on the rest (its text and the pictures that were read); the summary counts these lines in
``picture_failures``.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from classifier.comments import MAX_COMMENTS, CommentFile, mark_author, read_comment_file
from classifier.errors import InputError
from classifier.formats import Record, RowError, count_records, detect_format, read_records
from classifier.notes import READ_PICTURES
from classifier.pictures import PictureReader
from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from serving.batch.checkpoint import BatchIOError, RunFiles, progress_path, write_line

__all__ = ["BatchIOError", "Summary", "default_errors_path", "error_row", "progress_path",
           "score_file", "score_records"]

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
MAX_IGNORED_NAMES = 50
"""Distinct ignored field names a summary lists; any others are counted as ``OTHER_FIELDS``."""
OTHER_FIELDS = "(other fields)"


class JoinedNotes:
    """Which note ids of a comment file have had their rows counted as joined: one bit per note id,
    in the file's order, so that a checkpoint holds the set as compressed bits (a few bytes per
    thousand notes), not the ids, and refuses a resume whose comment file has other note ids."""

    def __init__(self, note_ids: Iterable[str]) -> None:
        self.index: dict[str, int] = {}
        digest = hashlib.blake2b(digest_size=8)  # names the id list, no file: not classifier.model.file_sha256
        for note_id in note_ids:
            self.index[note_id] = len(self.index)
            digest.update(note_id.encode("utf-8") + b"\n")
        self.digest = digest.hexdigest()
        self.bits = bytearray((len(self.index) + 7) // 8)

    def add(self, note_id: str) -> bool:
        """Mark a note id of the file joined; false when it already was."""
        i = self.index[note_id]
        byte, mask = i >> 3, 1 << (i & 7)
        if self.bits[byte] & mask:
            return False
        self.bits[byte] |= mask
        return True

    def __len__(self) -> int:
        return sum(b.bit_count() for b in self.bits)

    def state(self) -> dict[str, Any]:
        return {"notes": len(self.index), "digest": self.digest,
                "bits": base64.b64encode(zlib.compress(bytes(self.bits))).decode("ascii")}

    def restore(self, saved: Any) -> None:
        """Take over a checkpoint's :meth:`state` (or, from checkpoints before the bits, its list of
        note ids)."""
        again = "resume with the same --comments file, or rerun without --resume"
        if isinstance(saved, list):
            for note_id in map(str, saved):
                if note_id not in self.index:
                    raise ValueError(f"cannot resume: note id {note_id!r}, joined in the checkpoint's run, is "
                                     f"not in the comment file; {again}")
                self.add(note_id)
            return
        if saved.get("notes") != len(self.index) or saved.get("digest") != self.digest:
            raise ValueError(
                f"cannot resume: the comment file's note ids are not those of the checkpoint's run "
                f"({saved.get('notes')} note ids, digest {saved.get('digest')}; now {len(self.index)}, "
                f"{self.digest}); {again}")
        self.bits = bytearray(zlib.decompress(base64.b64decode(saved["bits"])))


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
    """``(model_version, policy_version)`` of the verdicts (the ray engine: when it saw any)."""
    ignored_fields: Counter[str] = field(default_factory=Counter)
    """Input fields that no note field is read from, with the number of records holding each."""
    comments: dict[str, int] = field(default_factory=dict)
    """With a comment file: its ``rows``, and how many were ``joined`` to a note, ``failed`` (in
    the errors file) or ``unmatched`` (their note is not in the dump)."""
    joined_notes: JoinedNotes | None = None
    """The comment file's note ids whose rows are counted as joined (a note id the dump repeats joins
    its comments to every copy, but its rows count once); kept by the checkpoint for a resumed run."""
    saved_joined: Any = None
    """A resumed checkpoint's ``joined_notes``, kept as saved until :meth:`index_comments`."""
    picture_failures: int = 0
    """Picture fetches refused or failed (each a line in the errors file; the note was scored)."""

    @property
    def total(self) -> int:
        return self.scored + self.failed

    def start_comments(self, comments: CommentFile) -> list[dict[str, Any]]:
        """A fresh run with a comment file: its counts start here (every readable row unmatched
        until joined); returns the errors-file lines of its bad rows, which open the errors file."""
        self.comments = {"rows": comments.rows, "joined": 0, "failed": len(comments.errors),
                         "unmatched": comments.rows - len(comments.errors)}
        return [{"source": "comments", "row": row, "field": fld, "reason": reason, "raw": raw}
                for row, fld, reason, raw in comments.errors]

    def index_comments(self, comments: CommentFile) -> None:
        """Count joins against this comment file's note ids (a run with a comment file calls this
        before :meth:`count_joined`, after :meth:`restore` when it resumes)."""
        self.joined_notes = JoinedNotes(comments.rows_of)
        if self.saved_joined is not None:
            self.joined_notes.restore(self.saved_joined)
            self.saved_joined = None

    def count_joined(self, rows_by_note: Mapping[str, int]) -> None:
        """The comment file's rows of these notes (note id -> rows) were joined: no longer
        unmatched. A note id already counted (the dump repeats it) counts nothing again."""
        if self.joined_notes is None:
            raise RuntimeError("count_joined before index_comments")
        for note_id, rows in rows_by_note.items():
            if self.joined_notes.add(note_id):
                self.comments["joined"] += rows
                self.comments["unmatched"] -= rows

    def count_ignored(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.ignored_fields and len(self.ignored_fields) >= MAX_IGNORED_NAMES:
                name = OTHER_FIELDS
            self.ignored_fields[name] += 1

    def state(self) -> dict[str, Any]:
        """The counts, as a checkpoint saves them (JSON)."""
        return {
            "scored": self.scored, "failed": self.failed, "labels": dict(self.labels),
            "decisions": {f"{k[0]}/{k[1]}": v for k, v in self.decisions.items()},
            "ignored_fields": dict(self.ignored_fields.most_common()),
            "versions": list(self.versions) if self.versions else None,
            **({"comments": dict(self.comments), "joined_notes": self._joined_state()} if self.comments else {}),
            **({"picture_failures": self.picture_failures} if self.picture_failures else {}),
        }

    def _joined_state(self) -> Any:
        return self.joined_notes.state() if self.joined_notes is not None else self.saved_joined

    def check_versions(self, versions: tuple[str, str]) -> None:
        """Take ``versions`` as the run's, refusing ones other than a resumed run's."""
        if self.versions is not None and tuple(self.versions) != tuple(versions):
            raise ValueError(
                f"cannot resume: the checkpoint's verdicts come from model {self.versions[0]} | "
                f"policy {self.versions[1]}, this run's from model {versions[0]} | policy "
                f"{versions[1]}; resume with the same --model and --policy, or rerun without "
                f"--resume")
        self.versions = versions

    def restore(self, state: dict[str, Any]) -> None:
        """Take over the counts of a checkpoint's :meth:`state` (a resumed run)."""
        self.scored, self.failed = int(state["scored"]), int(state["failed"])
        self.labels.update(state.get("labels", {}))
        self.decisions.update({_pair(k): v for k, v in state.get("decisions", {}).items()})
        self.ignored_fields.update(state.get("ignored_fields", {}))
        self.comments = {k: int(v) for k, v in state.get("comments", {}).items()}
        self.saved_joined = state.get("joined_notes")
        self.picture_failures = int(state.get("picture_failures", 0))
        versions = state.get("versions")
        self.versions = (versions[0], versions[1]) if versions else self.versions

    def to_dict(self) -> dict[str, Any]:
        counts = self.state()
        del counts["versions"]
        counts.pop("joined_notes", None)  # the checkpoint's, for a resumed run; not a count
        return {
            "total": self.total,
            "resumed_from_row": self.resumed_from_row, "elapsed_s": round(self.elapsed_s, 3),
            **counts, "output": self.output, "errors": self.errors,
        }


def default_errors_path(output: Path) -> Path:
    name = output.name
    for suffix in (*JSONL_SUFFIXES, ".csv", ".parquet"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return output.with_name(name + ".errors.jsonl")


def error_row(err: RowError) -> dict[str, Any]:
    return {"row": err.row, "field": err.field, "reason": err.reason, "raw": err.raw}


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
    comments: Path | None = None,
    pictures: PictureReader | None = None,
) -> Summary:
    """Score ``input_path`` into ``output``; see the module docstring for the guarantees.
    ``comments`` names a comment export joined to the notes by ``note_id``; ``pictures`` reads
    the notes' pictures (``--images``; a picture it refuses makes the note an error row naming
    ``images[i]``).

    ``limit`` stops after that many records (this run), leaving a checkpoint to resume from.
    Raises ``FormatError`` when the input cannot be read at all, ``ValueError`` when a resume is
    impossible and :class:`BatchIOError` (one line) when a file cannot be read or written.
    """
    input_path, output = Path(input_path), Path(output)
    errors = Path(errors) if errors is not None else default_errors_path(output)
    fmt = fmt or detect_format(input_path)
    files = RunFiles(output, errors, input_path, engine="local", in_place=True)
    summary = Summary(output=str(output), errors=str(errors))
    joined = read_comment_file(Path(comments), max_chars=max_chars) if comments is not None else None
    token = READ_PICTURES.set(pictures is not None)
    try:
        _score_file(pipeline, input_path, fmt, files, summary, resume=resume,
                    batch_size=batch_size, limit=limit, progress=progress, max_chars=max_chars,
                    on_batch=on_batch, joined=joined, pictures=pictures)
    except OSError as e:
        raise files.io_error(e) from e
    finally:
        READ_PICTURES.reset(token)
    return summary


def _score_file(
    pipeline: Pipeline, input_path: Path, fmt: str, files: RunFiles, summary: Summary, *,
    resume: bool, batch_size: int, limit: int | None, progress: bool, max_chars: int,
    on_batch: Callable[[Summary], None] | None, joined: CommentFile | None = None,
    pictures: PictureReader | None = None,
) -> None:
    state = files.begin(resume)
    start_row = int(state["row"]) if state is not None else 0
    if state is not None:
        summary.restore(state)
        summary.resumed_from_row = start_row
        if state.get("complete"):
            return
    if joined is not None:
        summary.index_comments(joined)
    summary.check_versions((pipeline.model_version, pipeline.policy.version))

    records = read_records(input_path, fmt, max_chars=max_chars, start_row=start_row + 1)
    total = count_records(input_path, fmt)
    bar = _progress_bar(total, start_row, progress)
    started = time.perf_counter()
    handled = 0
    last_row = start_row
    with files.open() as (out_f, err_f):
        if joined is not None and not summary.comments:  # a fresh run: the comment file's errors
            for line in summary.start_comments(joined):
                write_line(err_f, line)
        for batch in _batches(records, start_row, batch_size, limit):
            if joined is not None:
                batch, notes = join_comments(batch, joined)
                summary.count_joined({n: joined.rows_of[n] for n in notes.values()})
            failures: list[dict[str, Any]] = []
            if pictures is not None:
                batch, failures = read_pictures(batch, pictures)
            verdicts, row_errors = score_records(pipeline, batch)
            for _, verdict in verdicts:
                write_line(out_f, verdict.to_dict())
                summary.scored += 1
                summary.labels[verdict.label] += 1
                summary.decisions[(verdict.label, verdict.decision)] += 1
            lines = [(int(f["row"]), 0, f) for f in failures]  # a row's unfetched pictures first
            lines += [(err.row, 1, error_row(err)) for err in row_errors]
            for _, kind, line in sorted(lines, key=lambda x: x[:2]):
                write_line(err_f, line)
                summary.failed += kind
                summary.picture_failures += 1 - kind
            for rec in batch:
                summary.count_ignored(rec.ignored)
            last_row = batch[-1].row
            handled += len(batch)
            files.save(out_f, err_f, row=last_row, **summary.state())
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(summary)
    bar.close()
    summary.elapsed_s = time.perf_counter() - started
    if limit is None or handled < limit:
        files.finish(row=last_row, **summary.state())


def join_comments(batch: list[Record], joined: CommentFile) -> tuple[list[Record], dict[int, str]]:
    """The batch with each note's comments from the comment file appended (the author's marked by
    the note's author id), and for each record given comments, by row, the note id they were
    joined by (its rows: ``joined.rows_of``)."""
    out = []
    notes_joined: dict[int, str] = {}
    for rec in batch:
        extra = joined.by_note.get(rec.note.id, ()) if rec.note is not None else ()
        if rec.note is not None and extra:
            notes_joined[rec.row] = rec.note.id
            comments = mark_author((rec.note.comments + extra)[:MAX_COMMENTS], rec.note.author.id)
            rec = replace(rec, note=replace(rec.note, comments=comments))
        out.append(rec)
    return out, notes_joined


def read_pictures(batch: list[Record], pictures: PictureReader
                  ) -> tuple[list[Record], list[dict[str, Any]]]:
    """The batch with each note's pictures read, and an errors-file line for each picture fetch
    that was refused or failed (the note is still scored). A note with a picture that cannot be
    read otherwise becomes an error record (its field ``images[i]``, the reason, the note id)."""
    out, failures = [], []
    for rec in batch:
        note = rec.note
        if note is not None and note.images:
            try:
                read, fetch_failures = pictures.read_reporting(note)
                rec = replace(rec, note=read)
                failures += [{"source": "images", "row": rec.row, "field": e.field,
                              "reason": e.reason, "raw": note.id, "scored": True}
                             for e in fetch_failures]
            except InputError as e:
                rec = replace(rec, note=None, error=RowError(row=rec.row, field=e.field,
                                                             reason=e.reason, raw=note.id))
        out.append(rec)
    return out, failures


def _pair(key: str) -> tuple[str, str]:
    label, _, decision = key.partition("/")
    return label, decision


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


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress_bar(total: int | None, start: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="note", dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30.0, desc="scoring")
