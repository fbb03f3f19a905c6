"""``GET /``: the reviewer console (plain HTML/CSS/JS from ``serving/http/static``, no build step).

The page and its static files are served without an API key (they hold no data); every call
the page makes goes to the ``/v1`` API with the key the reviewer types in (kept in the tab's
``sessionStorage``, sent as ``X-API-Key``). The page is served with a strict
Content-Security-Policy: scripts and styles only from this origin, no inline script, no
``innerHTML`` (Trusted Types), no framing.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from serving.http.deps import SettingsDep
from serving.http.errors import ApiError

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_STATIC = {"console.css": "text/css; charset=utf-8",
           "console.js": "text/javascript; charset=utf-8",
           "queue.js": "text/javascript; charset=utf-8"}


def _static_text(name: str) -> str:
    return resources.files("serving.http").joinpath("static", name).read_text("utf-8")


@router.get("/")
async def console(settings: SettingsDep) -> HTMLResponse:
    """The console page; the limits and whether a key is needed travel in ``<meta>`` tags."""
    page = (_static_text("index.html")
            .replace("{{max_upload_bytes}}", str(int(settings.max_upload_bytes)))
            .replace("{{auth_enabled}}", "true" if settings.auth_enabled else "false"))
    return HTMLResponse(page, headers=_SECURITY_HEADERS)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """``console.css``, ``console.js`` and ``queue.js``; nothing else is served from here."""
    media = _STATIC.get(name)
    if media is None:
        raise ApiError(404, "not_found", f"no static file {name!r}; the console serves only "
                       f"{', '.join(sorted(_STATIC))}", field="path")
    return Response(_static_text(name), media_type=media, headers=_SECURITY_HEADERS)
