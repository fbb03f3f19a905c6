"""``GET /v1/model``: versions, labels, thresholds, bands and the policy's rules in force."""

from __future__ import annotations

from fastapi import APIRouter

from serving.http.deps import ApiKey, Service
from serving.http.errors import ERROR_RESPONSES
from serving.http.schemas import ModelInfoOut

router = APIRouter(prefix="/v1", tags=["model"], dependencies=[ApiKey],
                   responses={k: ERROR_RESPONSES[k] for k in (401, 503)})


@router.get("/model", response_model=ModelInfoOut, summary="The model and policy in force")
async def model_info(service: Service) -> ModelInfoOut:
    return service.model_info()
