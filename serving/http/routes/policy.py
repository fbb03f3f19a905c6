"""``POST /v1/policy/reload``: hot reload of the policy and lexicon (always an admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from serving.http.deps import AdminKey, Service
from serving.http.errors import ERROR_RESPONSES
from serving.http.schemas import RELOAD_EXAMPLES, ErrorOut, PolicyReloadIn, PolicyReloadOut

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.post(
    "/reload", response_model=PolicyReloadOut, summary="Reload the policy and lexicon",
    responses={**{k: ERROR_RESPONSES[k] for k in (400, 401, 413, 415, 422, 503)},
               403: {"model": ErrorOut, "description": "The key is not an admin key, or no "
                     "admin key is configured (NOTECHECK_ADMIN_KEYS)."}},
)
async def reload_policy(
    _: AdminKey,
    service: Service,
    body: Annotated[PolicyReloadIn | None, Body(openapi_examples=RELOAD_EXAMPLES)] = None,
) -> PolicyReloadOut:
    """Without a body (or with ``{}``), re-read the policy and lexicon files the server was
    started with; with ``{"policy": {...}}`` and/or ``{"lexicon": {...}}``, use those documents.
    Needs a key from ``NOTECHECK_ADMIN_KEYS``, and is refused (403) while none is configured.
    Both documents are validated, and their patterns run over probe texts, in a separate process
    killed after ``reload_timeout_s``, before anything changes: an invalid or too slow one is
    refused with 422 naming the rule or entry id, and the rules in force stay. Verdicts in
    flight finish with the old rules."""
    return await run_in_threadpool(service.reload, body)
