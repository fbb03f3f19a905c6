"""The store's command-line parts: ``notecheck export-labels`` and ``notecheck score --db``.

``notecheck export-labels --db URL -o labels.jsonl [--since DATE]`` writes the reviewed notes as
canonical labelled JSONL (``notecheck train --data labels.jsonl`` reads it): per note the latest
decision not undone wins; notes whose decisions disagree are written to ``--conflicts`` (default
``labels.conflicts.jsonl`` beside the output, only when there are any) and counted on stderr.

``notecheck score IN -o OUT --db URL [--queue-block]`` (off by default: the file workflow is
unchanged) records every verdict with its note in the store (source ``batch``) and queues those
to review. :class:`RecordingPipeline` wraps the pipeline: verdicts are kept as each batch is
scored and written to the store after the batch is written to OUT (one transaction per batch); a
database error stops the run (the verdicts written to OUT stay; rerunning without ``--resume``
records them again, idempotently).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from serving.store.errors import InvalidArgument
from serving.store.store import Store

__all__ = ["RecordingPipeline", "add_db_options", "add_export_command", "parse_since",
           "run_export"]


class RecordingPipeline:
    """A :class:`classifier.pipeline.Pipeline` that keeps each scored batch for the store;
    ``flush()`` writes what was kept (``source`` batch). Every other attribute is the pipeline's."""

    def __init__(self, pipeline: Pipeline, store: Store, *, source: str = "batch") -> None:
        self._inner = pipeline
        self.store = store
        self.source = source
        self.recorded = 0
        self.queued = 0
        self._pending: list[tuple[Note, Verdict]] = []

    def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
        verdicts = list(self._inner.score_batch(list(notes)))
        self._pending.extend(zip(notes, verdicts, strict=True))
        return verdicts

    def flush(self, *_: Any) -> None:
        pending, self._pending = self._pending, []
        if pending:
            done = self.store.record_verdicts(pending, source=self.source)
            self.recorded += len(done)
            self.queued += sum(1 for r in done if r.enqueued)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def add_db_options(p: argparse.ArgumentParser) -> None:
    """``--db URL`` and ``--queue-block`` on ``notecheck score``."""
    p.add_argument("--db", metavar="URL",
                   help="also record every verdict in the review store and queue those to review "
                        "(sqlite:///PATH.db or postgresql+psycopg://USER@HOST/DB; off by default)")
    p.add_argument("--queue-block", action="store_true",
                   help="with --db: block verdicts enter the review queue too")


def open_for_score(args: argparse.Namespace) -> Store | None:
    if getattr(args, "db", None) is None:
        return None
    decisions = ("review", "block") if args.queue_block else ("review",)
    return Store.open(args.db, queue_decisions=decisions)


def add_export_command(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "export-labels", help="write the review store's decisions as labelled notes for training",
        description="Write the reviewed notes as canonical labelled JSONL (notecheck train --data "
                    "reads it): per note the latest decision not undone wins; notes whose "
                    "decisions disagree are listed in the conflicts file.")
    p.add_argument("--db", metavar="URL", required=True,
                   help="the review store (sqlite:///PATH.db or postgresql+psycopg://...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="labels JSONL to write")
    p.add_argument("--since", type=parse_since, metavar="DATE",
                   help="only decisions made at or after DATE (YYYY-MM-DD or ISO 8601; UTC when "
                        "no zone is given)")
    p.add_argument("--conflicts", type=Path,
                   help="where to list conflicting notes (default: OUTPUT.conflicts.jsonl)")
    p.set_defaults(run=run_export)
    return p


def parse_since(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since {value!r} is not a date; write YYYY-MM-DD or "
                                         "an ISO 8601 time (2026-05-01T08:00:00+08:00)") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def run_export(args: argparse.Namespace) -> int:
    if args.output.suffix == "":
        raise InvalidArgument(f"-o {str(args.output)!r} has no extension; write labels.jsonl",
                              field="output")
    store = Store.open(args.db)
    try:
        result = store.export_labels(since=args.since)
    finally:
        store.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(args.output, result.records)
    conflicts_path = args.conflicts or args.output.with_name(args.output.stem + ".conflicts.jsonl")
    if result.conflicts:
        _write_jsonl(conflicts_path, [
            {"note_id": c.note_id, "chosen": c.chosen,
             "decisions": [{"reviewer": r, "label": lab, "at": at} for r, lab, at in c.decisions]}
            for c in result.conflicts])
    elif conflicts_path.exists() and args.conflicts is None:
        conflicts_path.unlink()  # a stale list from an earlier export would mislead
    print(f"wrote {len(result.records)} labelled notes to {args.output}"
          + (f"; {len(result.conflicts)} with conflicting decisions listed in {conflicts_path} "
             "(the latest decision was kept)" if result.conflicts else "; no conflicts"),
          file=sys.stderr)
    return 0


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
