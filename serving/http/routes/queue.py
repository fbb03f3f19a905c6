"""The review queue: list, claim, decide, undo, stats, and a note's history.

* ``GET /v1/queue`` — items, oldest first; filters ``label``, ``rule``, ``decision``,
  ``min_age_s``/``max_age_s`` (seconds waiting), ``claimed`` (true: under a live lease), ``state``
  (open by default); ``limit`` and ``cursor`` (pass ``next_cursor`` back).
* ``GET /v1/queue/stats`` — depth, age percentiles, decisions per hour, override rate per rule and
  per label, agreement on items reviewed twice.
* ``POST /v1/queue/next`` — claim the oldest free item (``{"reviewer", "lease_s", "label", "rule",
  "decision"}``, all optional); ``{"item": null}`` when the queue is empty.
* ``GET /v1/queue/{item_id}``; ``POST /v1/queue/{item_id}/claim`` (``{"reviewer", "lease_s"}``;
  409 when another reviewer holds it); ``POST /v1/queue/{item_id}/release``.
* ``POST /v1/queue/{item_id}/decision`` — ``{"label", "reviewer", "comment"}`` (201); 409 when
  another reviewer holds the item or it is no longer open. Sent to the webhook when configured.
* ``POST /v1/queue/undo`` — undo the reviewer's own last decision (the item is reopened for them).
* ``GET /v1/notes/{note_id}`` — every version of the note with its verdicts and decisions.

The reviewer is the name the API key stands for (``NOTECHECK_REVIEWER_KEYS``) when it names one
(a body naming another reviewer is refused, 403), else ``reviewer`` from the body (422 without).
A database that is down: 503 ``store_unavailable`` (``/v1/moderate`` keeps answering).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from serving.http.deps import ApiKey, PresentedKey, Service, SettingsDep
from serving.http.errors import ERROR_RESPONSES, ApiError
from serving.http.review import ReviewService
from serving.http.schemas import Text
from serving.http.settings import Settings
from serving.store import (
    Conflict,
    DecisionRecord,
    InvalidArgument,
    NotFound,
    QueueFilter,
    QueueItem,
    StoreError,
    StoreUnavailable,
)
from serving.store.store import MAX_AGE_S

__all__ = ["router"]

router = APIRouter(tags=["review queue"], dependencies=[ApiKey], responses={
    **ERROR_RESPONSES,
    404: {**ERROR_RESPONSES[422], "description": "No such queue item or note."},
    409: {**ERROR_RESPONSES[422], "description": "Another reviewer holds the item, or it is "
          "no longer open."},
    503: {**ERROR_RESPONSES[503], "description": "The review store (database) is unavailable."}})

LabelName = Literal["sharing", "undisclosed_ad", "declared"]
ReviewerName = Annotated[Text, Field(min_length=1, max_length=100)]
Lease = Annotated[float, Field(gt=0, le=86400, description="Seconds the claim lasts.")]
ItemId = Annotated[int, Path(ge=1, le=2**62, description="The queue item's id.")]
_T = TypeVar("_T")


# ----------------------------------------------------------------------------- schemas


class QueueItemOut(BaseModel):
    """An item: the note (canonical JSON), the verdict that queued it, who holds it."""

    id: int
    note_id: str
    note_version: int
    state: Literal["open", "decided", "superseded"]
    label: str = Field(description="The verdict's label.")
    decision: str = Field(description="The verdict's decision (review, or block).")
    rules: list[str]
    claimed_by: str | None = Field(description="Who holds it under a live lease (else null).")
    lease_until: datetime | None
    created_at: datetime
    decided_at: datetime | None
    age_s: float
    reviews_required: int
    reviews_done: int
    note: dict[str, Any]
    verdict: dict[str, Any]

    @classmethod
    def of(cls, item: QueueItem, now: datetime) -> QueueItemOut:
        held = item.claimed(now)
        return cls(id=item.id, note_id=item.note_id, note_version=item.note_version,
                   state=item.state,  # type: ignore[arg-type]
                   label=item.label, decision=item.decision, rules=list(item.rules),
                   claimed_by=item.claimed_by if held else None,
                   lease_until=item.lease_until if held else None, created_at=item.created_at,
                   decided_at=item.decided_at, age_s=(now - item.created_at).total_seconds(),
                   reviews_required=item.reviews_required, reviews_done=item.reviews_done,
                   note=item.note, verdict=item.verdict)


class QueuePageOut(BaseModel):
    items: list[QueueItemOut]
    next_cursor: str | None = Field(description="Pass it as ?cursor= for the next page; null: "
                                                "this was the last.")


class NextOut(BaseModel):
    item: QueueItemOut | None


class DecisionOut(BaseModel):
    id: int
    item_id: int | None
    note_id: str
    note_version: int
    label: str
    reviewer: str
    comment: str | None
    predicted_label: str | None
    predicted_decision: str | None
    decided_at: datetime
    undone: bool
    undone_at: datetime | None

    @classmethod
    def of(cls, d: DecisionRecord) -> DecisionOut:
        return cls.model_validate(vars(d))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimIn(_In):
    reviewer: ReviewerName | None = None
    lease_s: Lease | None = None


class NextIn(ClaimIn):
    label: LabelName | None = None
    rule: Annotated[Text, Field(max_length=100)] | None = None
    decision: Literal["review", "block"] | None = None


class ReviewerIn(_In):
    reviewer: ReviewerName | None = None


class DecisionIn(_In):
    label: LabelName
    reviewer: ReviewerName | None = None
    comment: Annotated[Text, Field(max_length=2000)] | None = None


class RateOut(BaseModel):
    n: int
    overridden: int
    rate: float | None


class StatsOut(BaseModel):
    depth: int = Field(description="Open items.")
    claimed: int = Field(description="Open items held under a live lease.")
    age_s: dict[str, float | None] = Field(description="p50, p90, p99 and max seconds waiting.")
    decisions_last_hour: int
    decisions_per_hour_24h: float
    override_by_label: dict[str, RateOut] = Field(
        description="Per label the model gave: decisions, and how many changed it.")
    override_by_rule: dict[str, RateOut]
    items_reviewed_twice: int
    items_agreeing: int
    agreement: float | None
    at: datetime


class VerdictOutRecord(BaseModel):
    id: int
    source: str
    created_at: datetime
    updated_at: datetime
    times_seen: int
    verdict: dict[str, Any]


class NoteVersionOut(BaseModel):
    version: int
    content_hash: str
    created_at: datetime
    note: dict[str, Any]
    verdicts: list[VerdictOutRecord]
    decisions: list[DecisionOut]
    item: QueueItemOut | None


class NoteHistoryOut(BaseModel):
    note_id: str
    versions: list[NoteVersionOut]


# ----------------------------------------------------------------------------- routes


@router.get("/v1/queue", response_model=QueuePageOut, summary="List the review queue")
async def list_queue(
    service: Service,
    label: Annotated[LabelName | None, Query(description="The verdict's label.")] = None,
    rule: Annotated[str | None, Query(max_length=100, description="A rule id it fired.")] = None,
    decision: Annotated[Literal["review", "block"] | None, Query()] = None,
    min_age_s: Annotated[float | None, Query(ge=0, le=MAX_AGE_S,
                                             description="Waiting at least.")] = None,
    max_age_s: Annotated[float | None, Query(ge=0, le=MAX_AGE_S,
                                             description="Waiting at most.")] = None,
    claimed: Annotated[bool | None, Query(description="Held under a live lease.")] = None,
    state: Annotated[Literal["open", "decided", "superseded", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> QueuePageOut:
    """Items oldest first, ``limit`` at a time; ``next_cursor`` leads to the next page."""
    review = service.review
    filters = QueueFilter(label=label, rule=rule, decision=decision, min_age_s=min_age_s,
                          max_age_s=max_age_s, claimed=claimed, state=state)
    page = await _call(review, lambda: review.store().list_queue(filters, limit=limit,
                                                                  cursor=cursor))
    now = _now(review)
    return QueuePageOut(items=[QueueItemOut.of(i, now) for i in page.items],
                        next_cursor=page.next_cursor)


@router.get("/v1/queue/stats", response_model=StatsOut, summary="Queue statistics")
async def queue_stats(service: Service) -> StatsOut:
    """Depth, how long items wait, decisions per hour, how often reviewers change the model's
    label (per label and per rule), and agreement on items decided by two reviewers."""
    review = service.review
    s = await _call(review, lambda: review.store().stats())

    def rates(found: dict[str, Any]) -> dict[str, RateOut]:
        return {k: RateOut(n=r.n, overridden=r.overridden, rate=r.rate)
                for k, r in sorted(found.items())}

    return StatsOut(depth=s.depth, claimed=s.claimed, age_s=vars(s.age_s),
                    decisions_last_hour=s.decisions_last_hour,
                    decisions_per_hour_24h=s.decisions_per_hour_24h,
                    override_by_label=rates(s.override_by_label),
                    override_by_rule=rates(s.override_by_rule),
                    items_reviewed_twice=s.items_reviewed_twice,
                    items_agreeing=s.items_agreeing, agreement=s.agreement, at=s.at)


@router.post("/v1/queue/next", response_model=NextOut, summary="Claim the oldest free item")
async def claim_next(body: NextIn, service: Service, settings: SettingsDep,
                     key: PresentedKey) -> NextOut:
    review = service.review
    who = reviewer_of(settings, key, body.reviewer)
    filters = QueueFilter(label=body.label, rule=body.rule, decision=body.decision,
                          claimed=None)
    item = await _call(review, lambda: review.store().claim_next(who, filters,
                                                                  lease_s=body.lease_s))
    return NextOut(item=None if item is None else QueueItemOut.of(item, _now(review)))


@router.post("/v1/queue/undo", response_model=DecisionOut,
             summary="Undo one's own last decision")
async def undo(body: ReviewerIn, service: Service, settings: SettingsDep,
               key: PresentedKey) -> DecisionOut:
    """The reviewer's latest decision is marked undone (kept in the history) and its item
    reopened, claimed by them; 404 when they have no decision to undo."""
    review = service.review
    who = reviewer_of(settings, key, body.reviewer)
    return DecisionOut.of(await _call(review, lambda: review.store().undo_last(who)))


@router.get("/v1/queue/{item_id:int}", response_model=QueueItemOut, summary="One queue item")
async def get_item(item_id: ItemId, service: Service) -> QueueItemOut:
    review = service.review
    item = await _call(review, lambda: review.store().get_item(item_id))
    return QueueItemOut.of(item, _now(review))


@router.post("/v1/queue/{item_id:int}/claim", response_model=QueueItemOut,
             summary="Claim an item (a lease that expires)")
async def claim(item_id: ItemId, body: ClaimIn, service: Service, settings: SettingsDep,
                key: PresentedKey) -> QueueItemOut:
    """Hold the item for ``lease_s`` seconds (``NOTECHECK_LEASE_S`` by default); claiming an
    item one holds renews the lease; 409 when another reviewer holds it."""
    review = service.review
    who = reviewer_of(settings, key, body.reviewer)
    item = await _call(review, lambda: review.store().claim(item_id, who, lease_s=body.lease_s))
    return QueueItemOut.of(item, _now(review))


@router.post("/v1/queue/{item_id:int}/release", response_model=QueueItemOut,
             summary="Give a claimed item back")
async def release(item_id: ItemId, body: ReviewerIn, service: Service, settings: SettingsDep,
                  key: PresentedKey) -> QueueItemOut:
    review = service.review
    who = reviewer_of(settings, key, body.reviewer)

    def run() -> QueueItem:
        store = review.store()
        store.release(item_id, who)
        return store.get_item(item_id)

    return QueueItemOut.of(await _call(review, run), _now(review))


@router.post("/v1/queue/{item_id:int}/decision", response_model=DecisionOut, status_code=201,
             summary="Decide an item")
async def decide(item_id: ItemId, body: DecisionIn, service: Service, settings: SettingsDep,
                 key: PresentedKey) -> DecisionOut:
    """Record the reviewer's ``label`` (and ``comment``) for the item; the item leaves the queue
    once it has ``NOTECHECK_REVIEWS_REQUIRED`` decisions. The webhook, when configured, gets the
    decision in the background."""
    review = service.review
    who = reviewer_of(settings, key, body.reviewer)

    def run() -> DecisionRecord:
        store = review.store()
        made = store.decide(item_id, body.label, who, body.comment)
        if review.webhook is not None:
            review.notify(made, store.get_item(item_id))
        return made

    return DecisionOut.of(await _call(review, run))


@router.get("/v1/notes/{note_id}", response_model=NoteHistoryOut,
            summary="A note with every verdict and decision")
async def note_history(note_id: Annotated[str, Path(min_length=1, max_length=200)],
                       service: Service) -> NoteHistoryOut:
    review = service.review
    history = await _call(review, lambda: review.store().note_history(note_id))
    now = _now(review)
    return NoteHistoryOut(note_id=history.note_id, versions=[NoteVersionOut(
        version=v.version, content_hash=v.content_hash, created_at=v.created_at, note=v.note,
        verdicts=[VerdictOutRecord.model_validate(vars(r)) for r in v.verdicts],
        decisions=[DecisionOut.of(d) for d in v.decisions],
        item=None if v.item is None else QueueItemOut.of(v.item, now))
        for v in history.versions])


# ----------------------------------------------------------------------------- helpers


def reviewer_of(settings: Settings, key: str | None, given: str | None) -> str:
    """The acting reviewer: the API key's (a different ``given`` is refused), else ``given``."""
    named = settings.reviewer_of(key)
    given = given.strip() if given else None
    if named is not None:
        if given and given != named:
            raise ApiError(403, "forbidden", f"this API key acts for reviewer {named!r}; it may "
                           f"not act for {given!r} (leave reviewer out, or use their key)",
                           field="reviewer")
        return named
    if not given:
        raise ApiError(422, "invalid_input", "the reviewer is missing; send \"reviewer\" in the "
                       "body, or use an API key mapped to a reviewer (NOTECHECK_REVIEWER_KEYS)",
                       field="reviewer")
    return given


def _now(review: ReviewService) -> datetime:
    return review.now()


async def _call(review: ReviewService, fn: Callable[[], _T]) -> _T:
    """Run a store call off the event loop; the store's errors as the API's."""
    try:
        return await run_in_threadpool(fn)
    except StoreUnavailable as exc:
        raise ApiError(503, "store_unavailable", str(exc), field="db_url",
                       headers={"Retry-After": "5"}) from None
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc), field=exc.field) from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc), field="item_id") from None
    except InvalidArgument as exc:
        raise ApiError(422, "invalid_input", str(exc), field=exc.field) from None
    except StoreError as exc:
        raise ApiError(500, "internal", f"the review store failed: {exc}") from None
