"""``POST /v1/moderate`` (one note) and ``POST /v1/moderate/batch`` (up to 100 notes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from serving.http.deps import ApiKey, RequestContextDep, Service
from serving.http.errors import ERROR_RESPONSES
from serving.http.schemas import (
    BATCH_EXAMPLES,
    NOTE_EXAMPLES,
    BatchIn,
    BatchOut,
    ModerateIn,
    VerdictItem,
    VerdictOut,
)

router = APIRouter(prefix="/v1/moderate", tags=["moderation"], dependencies=[ApiKey],
                   responses=ERROR_RESPONSES)


@router.post("", response_model=VerdictOut, summary="Moderate one note")
async def moderate(body: Annotated[ModerateIn, Body(openapi_examples=NOTE_EXAMPLES)],
                   service: Service, ctx: RequestContextDep) -> VerdictOut:
    """The verdict for one note: label (sharing / undisclosed_ad / declared), scores, decision
    (pass / review / block) and the reasons with character offsets. The note may be canonical,
    a MediaCrawler export row or a platform note object, read as ``notecheck score`` reads it;
    fields the reader does not know are ignored and listed in ``warnings``."""
    request_id = ctx.use_request_id(body.request_id)
    notes, warnings = service.to_notes([body])
    notes = await service.read_pictures(notes)
    ctx.record_notes(notes, service.settings.log_note_text)
    verdicts = await service.moderate(notes)
    return VerdictOut.build(verdicts[0], request_id, ctx.took_ms(), warnings)


@router.post("/batch", response_model=BatchOut, summary="Moderate up to 100 notes")
async def moderate_batch(body: Annotated[BatchIn, Body(openapi_examples=BATCH_EXAMPLES)],
                         service: Service, ctx: RequestContextDep) -> BatchOut:
    """Verdicts for up to 100 notes, in the order sent (each read as ``POST /v1/moderate``
    reads one; ``warnings`` name the notes, ``notes[3]``, with ignored fields)."""
    request_id = ctx.use_request_id(body.request_id)
    notes, warnings = service.to_notes(body.notes, prefix="notes")
    notes = await service.read_pictures(notes, prefix="notes")
    ctx.record_notes(notes, service.settings.log_note_text)
    verdicts = await service.moderate(notes)
    return BatchOut(request_id=request_id, took_ms=ctx.took_ms(), count=len(verdicts),
                    verdicts=[VerdictItem.from_verdict(v) for v in verdicts], warnings=warnings)
