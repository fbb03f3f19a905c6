"""Every error the API returns has one JSON shape (:class:`serving.http.schemas.ErrorOut`)::

    {"error": "invalid_input", "field": "notes[3].text", "detail": "...", "request_id": "..."}

=====================  ======  ==========================================================
error                  status  when
=====================  ======  ==========================================================
invalid_json           400     the body is not JSON
invalid_encoding       400     the body is not UTF-8
unauthorized           401     an API key is required and missing or unknown
forbidden              403     the key is not an admin key (policy reload)
not_found              404     no such route, queue item or note
method_not_allowed     405
conflict               409     a queue item another reviewer holds, or no longer open
payload_too_large      413     the body is over ``max_body_bytes``
unsupported_media      415     the body is not ``application/json``
invalid_input          422     a field is missing, has the wrong type or is out of limits
invalid_policy         422     a reloaded policy or lexicon is invalid (``rule_id`` names it)
queue_full             429     too many requests waiting (``Retry-After``)
internal               500     a bug: nothing a client sends should cause it
not_ready              503     the model is loading, or failed to load (``Retry-After``)
shutting_down          503     the server is stopping
store_unavailable      503     the review store (database) is down or off (queue routes only)
deadline_exceeded      504     no verdict (or the pictures not read) within ``request_timeout_s``
=====================  ======  ==========================================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifier.errors import InputError, MatchTimeout
from serving.http.microbatcher import DeadlineExceeded, NotReady, QueueFull, ShuttingDown
from serving.http.schemas import ErrorOut
from serving.http.service import ReloadRefused

__all__ = ["ERROR_RESPONSES", "ApiError", "error_response", "install_error_handlers"]

log = logging.getLogger("notecheck.serving")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_TAGS = frozenset({"int", "float", "str", "bool", "bytes", "none", "list", "dict"})
_STATUS_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media",
                  422: "invalid_input", 429: "queue_full", 503: "not_ready"}


class ApiError(Exception):
    """An HTTP error with the API's JSON body."""

    def __init__(self, status: int, error: str, detail: str, *, field: str | None = None,
                 headers: Mapping[str, str] | None = None, rule_id: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.field = field
        self.headers = dict(headers or {})
        self.rule_id = rule_id


def request_id_of(scope_state: Mapping[str, Any]) -> str | None:
    value = scope_state.get("request_id")
    return value if isinstance(value, str) else None


def error_response(status: int, error: str, detail: str, *, field: str | None = None,
                   request_id: str | None = None, headers: Mapping[str, str] | None = None,
                   rule_id: str | None = None) -> JSONResponse:
    body = ErrorOut(error=error, field=field, detail=detail, request_id=request_id,
                    rule_id=rule_id)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        headers=dict(headers or {}))


def _field_of(loc: Sequence[int | str]) -> str:
    """``("body", "notes", 3, "text")`` -> ``notes[3].text``; the body itself -> ``body``.
    Union-member tags (``constrained-float``, ``function-after[...]``, ``int``, a model's class
    name such as ``ProductTagIn``) are not fields: dropped (every field name is lower case)."""
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    out = ""
    for p in parts:
        if isinstance(p, str) and (not _IDENTIFIER.fullmatch(p) or p in _TYPE_TAGS
                                   or p[:1].isupper()):
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _validation_detail(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    kind = err.get("type", "")
    if kind == "missing":
        return "this field is required; add it"
    if kind == "extra_forbidden":
        return "unknown field; remove it or check its spelling against the schema at /docs"
    value = err.get("input")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{msg}; got {type(value).__name__} {shown}"


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    rid = request_id_of(request.scope.get("state", {}))
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": ("body",), "msg": "invalid"}
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return error_response(400, "invalid_json", f"the body is not valid JSON "
                              f"({ctx.get('error', 'parse error')}); send one JSON object",
                              field="body", request_id=rid)
    field = _field_of(first.get("loc", ()))
    others = {_field_of(e.get("loc", ())) for e in errors} - {field}  # a union: one field
    more = f" (and problems in {len(others)} more fields)" if others else ""
    return error_response(422, "invalid_input", _validation_detail(first) + more, field=field,
                          request_id=rid)


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.error, exc.detail, field=exc.field,
                          request_id=request_id_of(request.scope.get("state", {})),
                          headers=exc.headers, rule_id=exc.rule_id)


async def _on_input_error(request: Request, exc: InputError) -> JSONResponse:
    return error_response(422, "invalid_input", exc.reason, field=exc.field or "body",
                          request_id=request_id_of(request.scope.get("state", {})))


async def _on_reload_refused(request: Request, exc: ReloadRefused) -> JSONResponse:
    return error_response(422, "invalid_policy", f"{exc}; the rules in force were kept",
                          field=exc.document, rule_id=exc.error.rule_id,
                          request_id=request_id_of(request.scope.get("state", {})))


async def _on_batcher_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id_of(request.scope.get("state", {}))
    if isinstance(exc, QueueFull):
        return error_response(429, "queue_full", f"{exc}; retry after the Retry-After seconds",
                              request_id=rid, headers={"Retry-After": "1"})
    if isinstance(exc, ShuttingDown):
        return error_response(503, "shutting_down", str(exc), request_id=rid,
                              headers={"Retry-After": "5"})
    if isinstance(exc, NotReady):
        return error_response(503, "not_ready", str(exc), request_id=rid,
                              headers={"Retry-After": "5"})
    if isinstance(exc, DeadlineExceeded):
        return error_response(504, "deadline_exceeded", f"{exc}; send fewer notes per request "
                              "or retry later", request_id=rid)
    raise exc


async def _on_match_timeout(request: Request, exc: MatchTimeout) -> JSONResponse:
    """A note whose lexicon matching ran past its time bound: that request is refused (the
    micro-batcher already rescored the other requests of its batch on their own)."""
    log.warning("lexicon matching timed out (rule %s) on a %d-character text", exc.rule_id, exc.length)
    return error_response(422, "match_timeout", f"this note could not be scored: {exc}", field="notes",
                          rule_id=exc.rule_id, request_id=request_id_of(request.scope.get("state", {})))


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, _STATUS_ERRORS.get(exc.status_code, "http_error"),
                          str(exc.detail), request_id=request_id_of(request.scope.get("state", {})),
                          headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "an internal error; it has been logged. Report it "
                          "with the request_id", request_id=request_id_of(request.scope.get("state",
                                                                                            {})))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(InputError, _on_input_error)  # type: ignore[arg-type]
    app.add_exception_handler(ReloadRefused, _on_reload_refused)  # type: ignore[arg-type]
    app.add_exception_handler(MatchTimeout, _on_match_timeout)  # type: ignore[arg-type]
    for exc_type in (QueueFull, ShuttingDown, NotReady, DeadlineExceeded):
        app.add_exception_handler(exc_type, _on_batcher_error)
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


def _response(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _response("The body is not JSON or not UTF-8."),
    401: _response("An API key is required (X-API-Key or Authorization: Bearer)."),
    413: _response("The body is larger than the limit."),
    415: _response("The body is not application/json."),
    422: _response("A field is missing, has the wrong type or is out of limits."),
    429: _response("Too many requests are waiting; retry after Retry-After seconds."),
    503: _response("The model is not ready yet, or the server is shutting down."),
    504: _response("No verdict within the request deadline."),
}
"""Documented on the moderation routes (so the OpenAPI spec lists every status they return)."""
