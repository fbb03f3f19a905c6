"""The feedback store: reviewer corrections appended to a JSONL file that training reads as is.

Each line is one canonical note (the fields of :class:`classifier.types.Note`, as
:func:`classifier.notes.note_from_dict` reads them back) plus the review::

    {"id": "n1", "title": "...", "text": "...", "mentions": [], "topics": [], "product_tags": [],
     "sponsor_flag": false, "author": {"account_type": "personal", "has_store": false},
     "label": "undisclosed_ad", "reviewer": "li", "at": "2026-05-01T08:00:00+00:00",
     "model_version": "notecheck-lexical@1", "policy_version": "policy-2026.11.0",
     "predicted_label": "sharing", "predicted_decision": "pass"}

``notecheck train --data feedback.jsonl`` (``training.data.load_labelled``) takes the file
directly: the ``label`` column is the target and the review fields are ignored as note fields.
The file is append-only: a note corrected twice has two lines, the later one being the newer
judgement (``at`` orders them). It is rotated by size: an entry that would take the file past
``max_bytes`` first renames ``feedback.jsonl`` to ``feedback.1.jsonl`` (and ``feedback.1.jsonl``
to ``feedback.2.jsonl`` ...); ``backups`` rotated files are kept and the oldest beyond them is
deleted (with a warning in the log), so the files never hold more than
``(backups + 1) * max_bytes``. Train on all of them: ``--data feedback.jsonl feedback.*.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.types import LABELS, Note

__all__ = ["FeedbackEntry", "FeedbackStore", "note_record"]

log = logging.getLogger("notecheck.serving")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_BACKUPS = 5


def note_record(note: Note) -> dict[str, Any]:
    """The canonical JSON form of a note: every field, ``None`` values left out, lists as lists.

    ``note_from_dict(note_record(note)) == note`` (mentions and topics are written out, so they
    are not re-extracted from the text)."""
    author = {k: v for k, v in (("account_type", note.author.account_type),
                                ("has_store", note.author.has_store),
                                ("followers", note.author.followers),
                                ("id", note.author.id),
                                ("name", note.author.name),
                                ("bio", note.author.bio)) if v is not None}
    tags = [{k: v for k, v in (("name", t.name), ("store", t.store), ("price", t.price))
             if v is not None} for t in note.product_tags]
    record: dict[str, Any] = {
        "id": note.id,
        "title": note.title,
        "text": note.text,
        "mentions": list(note.mentions),
        "topics": list(note.topics),
        "product_tags": tags,
        "sponsor_flag": note.sponsor_flag,
        "author": author,
    }
    for name in ("published_at", "likes", "collects", "comment_count", "shares", "views"):
        value = getattr(note, name)
        if value is not None:
            record[name] = value
    if note.comments:
        record["comments"] = [{k: v for k, v in vars(c).items() if v is not None} for c in note.comments]
    if note.images:  # with their text as read (OCR) and their QR codes, when read
        record["images"] = [{k: (list(v) if k == "qr" else v) for k, v in vars(p).items()
                             if v is not None and v != ()} for p in note.images]
    return record


@dataclass(frozen=True)
class FeedbackEntry:
    """One correction: the note, the label the reviewer chose, who and when, and what the model
    said (the verdict's label, decision and versions, where known)."""

    note: Note
    label: str
    reviewer: str
    at: datetime
    model_version: str | None = None
    policy_version: str | None = None
    predicted_label: str | None = None
    predicted_decision: str | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {', '.join(LABELS)}, got {self.label!r}")
        if not self.reviewer.strip():
            raise ValueError("reviewer is empty; give the reviewer's name")
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware (UTC); use datetime.now(UTC)")

    def to_record(self) -> dict[str, Any]:
        """The JSONL line's object: the canonical note, ``label``, ``reviewer``, ``at`` and the
        verdict's versions (fields that are ``None`` are left out)."""
        review: dict[str, Any] = {
            "label": self.label,
            "reviewer": self.reviewer.strip(),
            "at": self.at.astimezone(UTC).isoformat(timespec="seconds"),
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "predicted_label": self.predicted_label,
            "predicted_decision": self.predicted_decision,
            "review_comment": self.comment,
        }
        return {**note_record(self.note), **{k: v for k, v in review.items() if v is not None}}


class FeedbackStore:
    """Appends :class:`FeedbackEntry` lines to ``path`` (created with its folder on first use),
    rotating it when an entry would take it past ``max_bytes`` (see the module docstring).

    Each entry is written with a single ``write`` on a file opened with ``O_APPEND``, under a
    lock: lines from concurrent requests never interleave (nor do lines from other processes;
    rotation, though, assumes one server process writes the file). Raises ``OSError`` when the
    file cannot be written."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        if max_bytes < 1 or backups < 1:
            raise ValueError(f"max_bytes and backups must be >= 1, got {max_bytes} and "
                             f"{backups}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()

    def backup_path(self, n: int) -> Path:
        """The ``n``-th rotated file: ``feedback.1.jsonl`` is the newest."""
        return self.path.with_name(f"{self.path.stem}.{n}{self.path.suffix}")

    def append(self, entry: FeedbackEntry) -> dict[str, Any]:
        """Write one entry; returns the record written."""
        record = entry.to_record()
        try:
            line = json.dumps(record, ensure_ascii=False) + "\n"
            data = line.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (cannot come through the API): escape them
            data = (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")
        with self._lock:
            if self.path.parent != Path(""):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._rotate_for(len(data))
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, data)
                while written < len(data):  # a short write (rare): finish the line
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)
        return record

    def _rotate_for(self, n_bytes: int) -> None:
        """Rotate when ``n_bytes`` more would take a non-empty file past ``max_bytes``."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + n_bytes <= self.max_bytes:
            return
        oldest = self.backup_path(self.backups)
        if oldest.exists():
            log.warning("feedback: deleting %s (%d rotated files are kept; raise "
                        "NOTECHECK_FEEDBACK_BACKUPS or move old files away to keep more)",
                        oldest, self.backups)
            oldest.unlink()
        for n in range(self.backups - 1, 0, -1):
            if self.backup_path(n).exists():
                os.replace(self.backup_path(n), self.backup_path(n + 1))
        os.replace(self.path, self.backup_path(1))
        log.info("feedback: %s reached %d bytes; rotated to %s", self.path, size,
                 self.backup_path(1))

    def files(self) -> list[Path]:
        """The feedback files that exist, oldest first (rotated ones, then the current one)."""
        rotated = [self.backup_path(n) for n in range(self.backups, 0, -1)]
        return [p for p in (*rotated, self.path) if p.is_file()]

    def count(self) -> int:
        """How many entries the current file holds (0 when it does not exist yet)."""
        if not self.path.is_file():
            return 0
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
