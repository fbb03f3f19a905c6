"""``GET /healthz`` (the process is alive) and ``GET /readyz`` (the model is loaded and warm)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.http.deps import Service
from serving.http.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
async def healthz() -> HealthOut:
    return HealthOut()


@router.get("/readyz", response_model=ReadyOut, summary="Readiness: the model is loaded and warm",
            responses={503: {"model": ReadyOut, "description": "Loading, failed or stopping."}})
async def readyz(service: Service) -> JSONResponse:
    ready = service.readiness()
    status = 200 if ready.status == "ready" else 503
    headers = {} if status == 200 else {"Retry-After": "5"}
    return JSONResponse(ready.model_dump(exclude_none=True), status_code=status, headers=headers)
