"""FastAPI dependencies as ``Annotated`` aliases: the service, the settings, the request context
and the API-key checks. All are ``async def`` although none awaits: FastAPI runs a plain ``def``
dependency in its thread pool, a hop per dependency per request.

Keys: when ``NOTECHECK_API_KEYS`` or ``NOTECHECK_ADMIN_KEYS`` is set, every route but
``/healthz`` and ``/readyz`` needs a key, sent as ``X-API-Key: KEY`` or
``Authorization: Bearer KEY``; admin keys are valid everywhere. With no key configured at all the
API is open (local use) except the admin routes (policy reload): they always need an admin key,
and are refused (403) while ``NOTECHECK_ADMIN_KEYS`` is empty.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from classifier.types import Note
from serving.http.errors import ApiError
from serving.http.service import ModerationService
from serving.http.settings import Settings

__all__ = ["AdminKey", "ApiKey", "Context", "PresentedKey", "RequestContextDep", "Service",
           "SettingsDep"]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                               description="An API key from NOTECHECK_API_KEYS.")
_bearer = HTTPBearer(auto_error=False, description="The same key as a Bearer token.")


async def get_service(request: Request) -> ModerationService:
    service: ModerationService = request.app.state.service
    return service


async def get_app_settings(request: Request) -> Settings:
    service: ModerationService = request.app.state.service
    return service.settings


Service = Annotated[ModerationService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


@dataclass
class Context:
    """The request's id and start time (set by :class:`serving.http.middleware.RequestContext`)."""

    state: dict[str, Any]

    @property
    def request_id(self) -> str:
        return str(self.state.get("request_id", ""))

    def use_request_id(self, request_id: str | None) -> str:
        """Prefer the body's ``request_id`` over the header's; return the one in use."""
        if request_id:
            self.state["request_id"] = request_id
        return self.request_id

    def took_ms(self) -> float:
        started = float(self.state.get("started", time.perf_counter()))
        return round((time.perf_counter() - started) * 1000, 2)

    def record_notes(self, notes: list[Note], with_text: bool) -> None:
        """For the access log: how many notes, and with ``with_text`` their ids and texts."""
        self.state["n_notes"] = len(notes)
        if with_text:
            self.state["notes"] = [{"id": n.id, "title": n.title, "text": n.text} for n in notes]


async def get_context(request: Request) -> Context:
    state: dict[str, Any] = request.scope.setdefault("state", {})
    return Context(state)


RequestContextDep = Annotated[Context, Depends(get_context)]


async def _presented_key(
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str | None:
    if api_key:
        return api_key
    return bearer.credentials if bearer is not None else None


def _matches(key: str, keys: Iterable[str]) -> bool:
    found = False
    for candidate in keys:  # compare against every key: no early exit, constant time each
        found |= hmac.compare_digest(key.encode("utf-8", "replace"),
                                     candidate.encode("utf-8", "replace"))
    return found


async def require_api_key(settings: SettingsDep,
                          key: Annotated[str | None, Depends(_presented_key)]) -> None:
    if not settings.auth_enabled:
        return
    if key is None:
        raise ApiError(401, "unauthorized", "an API key is required; send it as 'X-API-Key: KEY' "
                       "or 'Authorization: Bearer KEY'", field="X-API-Key",
                       headers={"WWW-Authenticate": "Bearer"})
    if not _matches(key, settings.api_keys | settings.admin_keys):
        raise ApiError(401, "unauthorized", "the API key is not valid; check it against "
                       "NOTECHECK_API_KEYS", field="X-API-Key",
                       headers={"WWW-Authenticate": "Bearer"})


async def require_admin_key(settings: SettingsDep,
                            key: Annotated[str | None, Depends(_presented_key)]) -> None:
    """Admin routes: always an admin key, whatever else is configured (never open)."""
    if not settings.admin_keys:
        raise ApiError(403, "forbidden", "admin routes (policy reload) need an admin key and "
                       "none is configured; set NOTECHECK_ADMIN_KEYS and send one of its keys",
                       field="X-API-Key")
    await require_api_key(settings, key)
    if key is None or not _matches(key, settings.admin_keys):
        raise ApiError(403, "forbidden", "this key may not reload the policy; use a key from "
                       "NOTECHECK_ADMIN_KEYS", field="X-API-Key")


ApiKey = Depends(require_api_key)
"""Router-level dependency: ``APIRouter(dependencies=[ApiKey])``."""
AdminKey = Annotated[None, Depends(require_admin_key)]
PresentedKey = Annotated[str | None, Depends(_presented_key)]
"""The key the request presented (``None``: none); the queue routes map it to a reviewer."""
