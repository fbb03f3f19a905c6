"""The reviewer console's API: explain one note, score an uploaded dump, record a correction.

* ``POST /v1/moderate/explain`` — one note -> its verdict, its canonical form and every lexical
  signal (kind, lexicon entry, offsets), so that the console can colour each evidence span.
* ``POST /v1/moderate/upload`` — a JSONL/JSON/CSV dump sent as text in a JSON envelope
  (``{"filename", "format", "content"}``; the API takes JSON bodies only) of at most
  ``max_upload_bytes`` -> the same detail for every valid row, and the invalid rows with the
  reason (row numbers as in :mod:`classifier.formats`), within ``upload_timeout_s``.
* ``POST /v1/feedback`` — a reviewer's label for a note, recorded in the review store (it decides
  the note's queue item when one waits; ``decision_id``) and appended to ``feedback_path``
  (:mod:`serving.http.feedback`): a labelled file ``notecheck train --data`` reads as it is, rotated
  at ``feedback_max_bytes`` (``feedback.1.jsonl`` ...).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from classifier.errors import FormatError, InputError
from classifier.formats import Record, RowError, detect_format, read_records
from classifier.notes import READ_PICTURES
from classifier.signals import Lexicon, extract_signals, field_text
from classifier.types import Note, Signal, Verdict
from serving.http.deps import ApiKey, RequestContextDep, Service, SettingsDep
from serving.http.errors import ERROR_RESPONSES, ApiError
from serving.http.feedback import FeedbackEntry, FeedbackStore, note_record
from serving.http.schemas import ModerateIn, NoteIn, Text, VerdictItem, WarningOut, Warnings
from serving.http.settings import MAX_NOTES_PER_BATCH, Settings
from serving.store import StoreError

log = logging.getLogger("notecheck.serving")

__all__ = ["FeedbackIn", "FeedbackOut", "ReviewItem", "UploadIn", "UploadOut", "router"]

router = APIRouter(tags=["console"], dependencies=[ApiKey], include_in_schema=False)

LabelName = Literal["sharing", "undisclosed_ad", "declared"]
UPLOAD_FORMATS = ("jsonl", "json", "csv")
_UPLOAD_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".jl": "jsonl", ".json": "json",
                      ".csv": "csv"}


def _reviewer(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("the reviewer is blank; give the reviewer's name")
    return value


Reviewer = Annotated[Text, Field(min_length=1, max_length=100), AfterValidator(_reviewer)]
Version = Annotated[Text, Field(min_length=1, max_length=200)]


# ----------------------------------------------------------------------------- schemas


class SignalOut(BaseModel):
    """A piece of lexical evidence: ``kind`` (disclosure, diversion, price ...), the lexicon
    ``entry`` id, and ``start``/``end`` offsets into ``field``."""

    kind: str
    entry: str
    text: str
    field: str = Field(description="title, text, comments[i], author.bio or images[i]")
    start: int
    end: int


class ReviewItem(BaseModel):
    """A note as the console shows it: ``row`` in the upload (``None`` for one note), the
    canonical ``note`` (what a correction stores), the verdict and the signals."""

    row: int | None = None
    note: dict[str, Any]
    verdict: VerdictItem
    signals: list[SignalOut]
    pictures: list[str] = Field(default=[], description=(
        "The text of each picture as offsets into images[i] count it (its OCR text, then its QR "
        "codes); empty when pictures are not read."))


class ExplainOut(ReviewItem):
    request_id: str
    took_ms: float
    warnings: Warnings = []


class UploadIn(BaseModel):
    """A dump as text. ``format`` defaults to the ``filename``'s extension, else it is sniffed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: Annotated[Text, Field(max_length=256)] | None = None
    format: Literal["jsonl", "json", "csv"] | None = None
    content: Text


class RowErrorOut(BaseModel):
    """A row that is not a valid note: where, which field, why, and the start of the row."""

    row: int
    field: str | None = None
    reason: str
    raw: str


class UploadOut(BaseModel):
    request_id: str
    took_ms: float
    filename: str | None
    format: str
    count: int
    error_count: int
    items: list[ReviewItem]
    errors: list[RowErrorOut]
    warnings: Warnings = []


class FeedbackIn(BaseModel):
    """A correction: the note, the right ``label``, who says so, and what the verdict said
    (its label, decision and versions; the versions in service are recorded when left out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: NoteIn
    label: LabelName
    reviewer: Reviewer
    predicted_label: LabelName | None = None
    predicted_decision: Literal["pass", "review", "block"] | None = None
    model_version: Version | None = None
    policy_version: Version | None = None
    comment: Annotated[Text, Field(max_length=2000)] | None = None


class FeedbackOut(BaseModel):
    stored: bool = True
    id: str
    label: LabelName
    reviewer: str
    at: str
    model_version: str | None = None
    policy_version: str | None = None
    decision_id: int | None = Field(default=None, description="The decision in the review "
                                    "store (null: the store is off or was unavailable).")
    warnings: Warnings = []


# ----------------------------------------------------------------------------- routes


@router.post("/v1/moderate/explain", response_model=ExplainOut,
             summary="Moderate one note, with its canonical form and every evidence span",
             responses=ERROR_RESPONSES)
async def explain(body: ModerateIn, service: Service, ctx: RequestContextDep) -> ExplainOut:
    """The verdict for one note plus what the console needs to show it: the canonical note and
    the lexical signals (kind, lexicon entry, character offsets)."""
    request_id = ctx.use_request_id(body.request_id)
    notes, warnings = service.to_notes([body])
    notes = await service.read_pictures(notes)
    ctx.record_notes(notes, service.settings.log_note_text)
    verdicts = await service.moderate(notes)
    item = (await _review_items(service.pipeline().lexicon, notes, verdicts, [None]))[0]
    return ExplainOut(**item.model_dump(), request_id=request_id, took_ms=ctx.took_ms(),
                      warnings=warnings)


@router.post("/v1/moderate/upload", response_model=UploadOut,
             summary="Moderate a JSONL/JSON/CSV dump sent as text",
             responses=ERROR_RESPONSES)
async def upload(body: UploadIn, service: Service, ctx: RequestContextDep) -> UploadOut:
    """Every valid row's verdict and signals, and every invalid row's error. At most
    ``max_upload_bytes`` of content (413 beyond), answered within ``upload_timeout_s`` (504
    beyond: parsing and scoring every row, all batches together)."""
    settings = service.settings
    size = len(body.content.encode("utf-8"))
    if size > settings.max_upload_bytes:
        raise ApiError(413, "payload_too_large", f"the dump is {size:,} bytes, over the limit of "
                       f"{settings.max_upload_bytes:,}; split it or raise "
                       "NOTECHECK_MAX_UPLOAD_BYTES", field="content")
    try:
        async with asyncio.timeout(settings.upload_timeout_s):
            return await _score_upload(body, service, ctx)
    except TimeoutError:
        raise ApiError(504, "deadline_exceeded", f"the upload was not scored within "
                       f"{settings.upload_timeout_s:g} s; split the dump into smaller files or "
                       "raise NOTECHECK_UPLOAD_TIMEOUT_S", field="content") from None


async def _score_upload(body: UploadIn, service: Service, ctx: RequestContextDep) -> UploadOut:
    settings = service.settings
    fmt, records = await run_in_threadpool(read_upload, body.content, body.format, body.filename,
                                           settings.max_text_chars, service.pictures is not None)
    records = await _with_pictures(service, records)
    notes = [r.note for r in records if r.note is not None]
    rows = [r.row for r in records if r.note is not None]
    ctx.record_notes(notes, settings.log_note_text)
    verdicts: list[Verdict] = []
    for start in range(0, len(notes), MAX_NOTES_PER_BATCH):
        verdicts.extend(await service.moderate(notes[start:start + MAX_NOTES_PER_BATCH],
                                               source="upload"))
    items = await _review_items(service.pipeline().lexicon, notes, verdicts, rows) if notes else []
    errors = [RowErrorOut(row=r.error.row, field=r.error.field, reason=r.error.reason,
                          raw=r.error.raw) for r in records if r.error is not None]
    warnings = [WarningOut.unknown(list(r.ignored), f"row {r.row}") for r in records
                if r.ignored and r.note is not None]
    return UploadOut(request_id=ctx.request_id, took_ms=ctx.took_ms(), filename=body.filename,
                     format=fmt, count=len(items), error_count=len(errors), items=items,
                     errors=errors, warnings=warnings)


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=201,
             summary="Record a reviewer's label for a note (appended to the feedback file)",
             responses={**ERROR_RESPONSES, 503: {**ERROR_RESPONSES[503], "description":
                        "The feedback file cannot be written."}})
async def feedback(body: FeedbackIn, request: Request, settings: SettingsDep,
                   service: Service) -> FeedbackOut:
    """Append the note, the reviewer's ``label``, ``reviewer``, ``at`` and the verdict's versions
    to the feedback file (JSONL; ``notecheck train --data FILE`` reads it)."""
    (note,), warnings = service.to_notes([body.note], prefix="note", indexed=False)
    pipeline = service.batcher.pipeline
    entry = FeedbackEntry(
        note=note, label=body.label, reviewer=body.reviewer, at=FeedbackStore.now(),
        model_version=body.model_version or (pipeline.model_version if pipeline else None),
        policy_version=body.policy_version or (pipeline.policy.version if pipeline else None),
        predicted_label=body.predicted_label, predicted_decision=body.predicted_decision,
        comment=body.comment)
    store = _store(request, settings)
    try:
        record = await run_in_threadpool(store.append, entry)
    except OSError as exc:
        raise ApiError(503, "feedback_unavailable", f"cannot write the feedback file "
                       f"{store.path.name!r} ({exc.strerror or exc}); check NOTECHECK_FEEDBACK "
                       "and the folder's permissions", field="feedback_path") from None
    decision_id = await _to_store(service, entry)
    return FeedbackOut(id=note.id, label=body.label, reviewer=record["reviewer"], at=record["at"],
                       model_version=record.get("model_version"),
                       policy_version=record.get("policy_version"), decision_id=decision_id,
                       warnings=warnings)


async def _to_store(service: Service, entry: FeedbackEntry) -> int | None:
    """The correction into the review store too (it decides the note's queue item when one
    waits); ``None`` when the store is off or unavailable (the file has it)."""
    review = service.review
    if not review.enabled:
        return None

    def run() -> int:
        made = review.store().record_correction(
            entry.note, entry.label, entry.reviewer, comment=entry.comment,
            predicted_label=entry.predicted_label, predicted_decision=entry.predicted_decision)
        review.notify(made, None)
        return made.id

    try:
        return await run_in_threadpool(run)
    except StoreError as exc:
        log.warning("feedback: the correction is in the file only: %s", exc)
        return None


# ----------------------------------------------------------------------------- helpers


async def _with_pictures(service: Service, records: list[Record]) -> list[Record]:
    """The records with their notes' pictures read (when the server reads pictures); a note
    whose picture cannot be read becomes that row's error, naming ``images[i]``."""
    read = await service.read_pictures_each([r.note for r in records if r.note is not None])
    out, it = [], iter(read)
    for rec in records:
        if rec.note is not None:
            got = next(it)
            rec = (Record(rec.row, got, None, rec.ignored) if not isinstance(got, InputError) else
                   Record(rec.row, None, RowError(rec.row, got.field, got.reason, rec.note.id),
                          rec.ignored))
        out.append(rec)
    return out


def read_upload(content: str, fmt: str | None, filename: str | None,
                max_chars: int, pictures: bool = False) -> tuple[str, list[Record]]:
    """Parse an uploaded dump with :func:`classifier.formats.read_records` (through a temporary
    file); returns the format used and every record (``pictures``: with the notes' ``images``).
    Raises :class:`InputError` (``field`` ``content``/``format``) when the dump as a whole cannot
    be read."""
    token = READ_PICTURES.set(pictures)
    try:
        return _read_upload(content, fmt, filename, max_chars)
    finally:
        READ_PICTURES.reset(token)


def _read_upload(content: str, fmt: str | None, filename: str | None,
                 max_chars: int) -> tuple[str, list[Record]]:
    name = filename or "the upload"
    if fmt is None and filename:
        suffix = Path(filename).suffix.lower()
        fmt = _UPLOAD_EXTENSIONS.get(suffix)
        if suffix in (".parquet", ".pq"):
            raise InputError("Parquet dumps cannot be uploaded here; convert the file to JSONL "
                             "or CSV, or score it with `notecheck score`", field="format")
    with tempfile.TemporaryDirectory(prefix="notecheck-upload-") as tmp:
        path = Path(tmp) / f"upload.{fmt or 'txt'}"
        path.write_bytes(content.encode("utf-8"))
        try:
            used = fmt or detect_format(path)
            if used not in UPLOAD_FORMATS:
                raise InputError(f"{name} looks like {used}; upload JSONL, JSON or CSV text",
                                 field="format")
            records = list(read_records(path, used, max_chars=max_chars))
        except FormatError as exc:
            reason = exc.reason.replace(repr(str(path)), repr(name)).replace(str(path), name)
            raise InputError(reason + " (or choose the format)", field="content") from None
    return used, records


def _signal_out(s: Signal) -> SignalOut:
    return SignalOut(kind=s.kind, entry=s.entry, text=s.text, field=s.field, start=s.start,
                     end=s.end)


async def _review_items(lexicon: Lexicon, notes: Sequence[Note], verdicts: Sequence[Verdict],
                        rows: Sequence[int | None]) -> list[ReviewItem]:
    def build() -> list[ReviewItem]:
        return [ReviewItem(row=row, note=note_record(note), verdict=VerdictItem.from_verdict(v),
                           signals=[_signal_out(s) for s in extract_signals(note, lexicon)],
                           pictures=[field_text(note, f"images[{i}]")
                                     for i in range(len(note.images))])
                for note, v, row in zip(notes, verdicts, rows, strict=True)]

    return await run_in_threadpool(build)


def _store(request: Request, settings: Settings) -> FeedbackStore:
    """The app's feedback store, made on first use (one per app, so one lock per file)."""
    store: FeedbackStore | None = getattr(request.app.state, "feedback_store", None)
    if store is None or store.path != settings.feedback_path:
        store = FeedbackStore(settings.feedback_path, max_bytes=settings.feedback_max_bytes,
                              backups=settings.feedback_backups)
        request.app.state.feedback_store = store
    return store
