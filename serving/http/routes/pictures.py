"""``GET /v1/console/picture?path=...``: a note's picture for the reviewer console.

Served only when the server reads pictures from a folder (``NOTECHECK_IMAGES`` with
``NOTECHECK_IMAGE_ROOT``), only files under that folder (the same check as scoring:
:meth:`classifier.pictures.PictureReader.local_file`), only PNG, JPEG, GIF and WebP as told by
their first bytes (never by the name), with the API key like every ``/v1`` route. URLs are never
fetched for the console: a picture that is only a URL is shown as its text. The console reads the
answer with its key and shows it as a ``data:`` image (its Content-Security-Policy allows no other).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from classifier.errors import InputError
from serving.http.deps import ApiKey, Service
from serving.http.errors import ERROR_RESPONSES, ApiError

__all__ = ["picture_type", "router"]

router = APIRouter(tags=["console"], dependencies=[ApiKey], include_in_schema=False,
                   responses=ERROR_RESPONSES)

_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
            "Cache-Control": "no-store", "Content-Disposition": "inline"}


def picture_type(head: bytes) -> str | None:
    """The media type of a picture from its first bytes: PNG, JPEG, GIF or WebP; else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.get("/v1/console/picture")
async def picture(path: Annotated[str, Query(min_length=1, max_length=1000)],
                  service: Service) -> Response:
    """The picture at ``path`` (as the note gives it) under the image root."""
    reader = service.pictures
    if reader is None or reader.root is None:
        raise ApiError(404, "not_found", "pictures are not served here: the server reads no "
                       "picture folder (set NOTECHECK_IMAGES and NOTECHECK_IMAGE_ROOT)",
                       field="path")
    try:
        file = reader.local_file(path)
    except InputError as exc:
        raise ApiError(404, "not_found", exc.reason, field="path") from None
    data = await run_in_threadpool(file.read_bytes)
    media = picture_type(data[:16])
    if media is None:
        raise ApiError(415, "unsupported_media", f"{path!r} is not a PNG, JPEG, GIF or WebP "
                       "picture; the console shows only those", field="path")
    return Response(data, media_type=media, headers=_HEADERS)
