"""Two pure-ASGI middlewares, outermost first:

* :class:`RequestContext` gives every request an id (``X-Request-ID`` header, else generated;
  a route may replace it with the body's ``request_id``), echoes it in the response header,
  counts the request in the metrics and writes one access-log line.
* :class:`BodyGuard` checks a request body before anything parses it: ``application/json``
  (415), at most ``max_body_bytes`` (413, also for chunked bodies), UTF-8 (400). It reads the
  body once and replays it to the app.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.http.access_log import log_access
from serving.http.errors import error_response
from serving.http.metrics import ApiMetrics

__all__ = ["REQUEST_ID_HEADER", "BodyGuard", "RequestContext"]

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


class RequestContext:
    """``known_paths`` (the app's route paths, all static) name the route of a request refused
    before routing (413, 415 ...), so that it is counted under its route, not ``<unmatched>``."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, log_note_text: bool = False,
                 known_paths: Callable[[], Collection[str]] = frozenset) -> None:
        self.app = app
        self.metrics = metrics
        self.log_note_text = log_note_text
        self.known_paths = known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = _state(scope)
        state["started"] = started
        state["n_notes"] = 0
        given = Headers(scope=scope).get(REQUEST_ID_HEADER)
        state["request_id"] = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = str(state["request_id"])
            await send(message)

        try:
            if given is not None and not _REQUEST_ID.fullmatch(given) and \
                    str(scope.get("path", "")).startswith("/v1/"):
                response = error_response(
                    422, "invalid_input", "expected 1-128 visible ASCII characters (a UUID or "
                    "trace id); fix or drop the header", field=REQUEST_ID_HEADER,
                    request_id=state["request_id"])
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - started)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        template = self._template(scope)
        method = str(scope.get("method", ""))
        self.metrics.observe_request(template, method, status, seconds)
        payload: dict[str, Any] = {
            "route": template, "method": method, "status": status, "ms": round(seconds * 1000, 2),
            "request_id": state.get("request_id"), "n_notes": state.get("n_notes", 0),
        }
        if self.log_note_text and state.get("notes"):
            payload["notes"] = state["notes"]
        log_access(payload)

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path", "<unmatched>"))
        path = str(scope.get("path", ""))
        return path if path in self.known_paths() else "<unmatched>"


class BodyGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = _state(scope).get("request_id")
        length = headers.get("content-length")
        declared = None
        if length is not None:
            if not length.strip().isdigit():
                await error_response(400, "bad_request", f"Content-Length {length!r} is not a "
                                     "number", field="Content-Length", request_id=rid)(
                    scope, receive, send)
                return
            declared = int(length)
        if ((declared or 0) > 0 or "chunked" in headers.get("transfer-encoding", "")) and \
                not _is_json(headers.get("content-type")):
            await self._unsupported(scope, receive, send, headers, rid)
            return
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send, rid)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send, rid)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not _is_json(headers.get("content-type")):
            await self._unsupported(scope, receive, send, headers, rid)
            return
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            await error_response(400, "invalid_encoding", f"the body is not valid UTF-8 (byte "
                                 f"{exc.start}: {exc.reason}); send UTF-8 encoded JSON",
                                 field="body", request_id=rid)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _unsupported(self, scope: Scope, receive: Receive, send: Send, headers: Headers,
                           rid: Any) -> None:
        await error_response(415, "unsupported_media", "expected Content-Type: application/json "
                             f"(UTF-8), got {headers.get('content-type')!r}", field="Content-Type",
                             request_id=rid)(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rid: Any) -> None:
        await error_response(413, "payload_too_large", f"the body is larger than "
                             f"{self.max_body_bytes:,} bytes; send fewer or shorter notes per "
                             "request", field="body", request_id=rid)(scope, receive, send)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/")
                                            and media.endswith("+json")):
        return False
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
                "utf-8", "utf8"):
            return False
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
