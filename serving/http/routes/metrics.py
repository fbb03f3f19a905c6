"""``GET /metrics``: Prometheus text exposition."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from serving.http.deps import ApiKey, Service
from serving.http.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"], dependencies=[ApiKey])


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(service: Service) -> PlainTextResponse:
    return PlainTextResponse(service.metrics.render(), media_type=CONTENT_TYPE)
