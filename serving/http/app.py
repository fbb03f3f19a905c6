"""The real-time moderation API: ``create_app(settings)`` and the ``notecheck serve`` command.

The model is loaded in the app's ``lifespan`` (never at import), on the scoring thread: the
server answers ``/healthz`` at once and ``/readyz`` with 503 until the model is loaded and warm.
Requests are micro-batched into the model by :class:`serving.http.microbatcher.MicroBatcher`; on shutdown
uvicorn stops accepting connections and finishes the requests in flight, then the lifespan drains
the queue and stops the scoring thread.

Routes (``serving.http.routes``): ``POST /v1/moderate``, ``POST /v1/moderate/batch``, ``GET /healthz``,
``GET /readyz``, ``GET /metrics``, ``GET /v1/model``, ``POST /v1/policy/reload``, ``GET /docs``, the
console's, and the review queue's (``/v1/queue...``, ``GET /v1/notes/{note_id}``; ``routes/queue.py``).
The review store (``serving.http.review``) opens in the lifespan too, in the background: the API
answers whether or not the database does.

Safe by default: the admin route (policy reload) always needs an admin key, and ``notecheck
serve`` refuses to listen beyond loopback without API keys unless ``--allow-no-keys`` is given
(it then logs a warning at start).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from classifier.errors import InputError, NotecheckError
from serving.http.errors import install_error_handlers
from serving.http.middleware import BodyGuard, RequestContext
from serving.http.routes import ROUTERS
from serving.http.service import ModerationService, PipelineFactory, default_pipeline_factory
from serving.http.settings import Settings, get_settings

__all__ = ["add_serve_command", "create_app", "exposure_check", "main", "serve"]

log = logging.getLogger("notecheck.serving")

DESCRIPTION = """\
Finds advertising in Xiaohongshu (小红书) notes, one request at a time or up to 100 per request.

Each verdict has a **label** — `sharing` (真实分享), `undisclosed_ad` (软广/虚假种草/导流, no
disclosure) or `declared` (利益声明/品牌合作/赞助 disclosed) — the label **scores**, a **decision**
(`pass` / `review` / `block`), the **reasons** (rule ids with character offsets into the title or
text), and the model and policy versions that produced it.

A note is read as `notecheck score` reads a record: canonical fields, a MediaCrawler export row
(`note_id`, `desc`, `liked_count` ...) or a platform note object; fields the reader does not know
are ignored and listed in `warnings`.

Errors share one shape: `{"error": ..., "field": ..., "detail": ..., "request_id": ...}`.
"""


def create_app(settings: Settings | None = None, *,
               pipeline_factory: PipelineFactory | None = None) -> FastAPI:
    """The FastAPI app. Nothing is loaded here: the model loads when the app starts."""
    settings = settings if settings is not None else get_settings()
    service = ModerationService(settings, pipeline_factory or default_pipeline_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            stopped = await run_in_threadpool(service.close)
            log.info("scoring thread %s", "stopped" if stopped else "still busy at exit")

    app = FastAPI(
        title="notecheck moderation API",
        version=_package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=service.metrics,
                       log_note_text=settings.log_note_text,
                       known_paths=lambda: _route_paths(app))
    return app


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The spec, built once; without configured keys it declares no security (the truth)."""
    if app.openapi_schema is None:
        spec = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
        if not settings.auth_enabled:
            spec.get("components", {}).pop("securitySchemes", None)
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    operation.pop("security", None)
        app.openapi_schema = spec
    return app.openapi_schema


def _route_paths(app: FastAPI) -> frozenset[str]:
    paths: frozenset[str] = getattr(app.state, "route_paths", frozenset())
    if not paths:
        paths = frozenset(app.openapi().get("paths", {})) | {"/openapi.json", "/docs"}
        app.state.route_paths = paths
    return paths


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("notecheck")
    except PackageNotFoundError:
        return "0.0.0"


# ----------------------------------------------------------------------------- the CLI command


def add_serve_command(sub: Any) -> argparse.ArgumentParser:
    """Add ``serve`` to an argparse subparsers object (``parser.add_subparsers()``)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the moderation HTTP API (FastAPI on uvicorn)",
        description="Serve the moderation API. Options override NOTECHECK_* variables "
                    "(see serving/http/settings.py); API keys come from NOTECHECK_API_KEYS and "
                    "NOTECHECK_ADMIN_KEYS only, never from the command line.")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--policy", type=Path, help="policy file (default: the model's policy.json)")
    p.add_argument("--lexicon", type=Path, help="lexicon file (default: the packaged lexicon)")
    p.add_argument("--exact", action="store_true", default=None,
                   help="full unoptimised model: torch fp32, no lexical cascade (default: fast path)")
    p.add_argument("--max-batch-size", type=int, help="most notes per model call (default 32)")
    p.add_argument("--max-wait-ms", type=float, help="longest wait to fill a batch (default 2)")
    p.add_argument("--max-queue", type=int, help="requests waiting before 429 (default 256)")
    p.add_argument("--request-timeout", dest="request_timeout_s", type=float,
                   help="per-request deadline in seconds before 504 (default 10)")
    p.add_argument("--max-text-chars", type=int, help="longest note text (default 20000)")
    p.add_argument("--max-body-bytes", type=int, help="largest request body (default 8 MiB)")
    p.add_argument("--allow-no-keys", action="store_true", default=None,
                   help="listen beyond loopback (e.g. --host 0.0.0.0) although no API key is "
                        "set: anyone who reaches the port may use the API (a warning is logged "
                        "at start); without this flag the server refuses to start so")
    p.add_argument("--shadow", dest="shadow_model", type=Path, metavar="MODEL",
                   help="a candidate model folder: also score every request with it in the "
                        "background (the answer is never changed or delayed) and record the "
                        "disagreements for review (counted in /metrics)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=serve)
    return p


_OPTION_FIELDS = ("host", "port", "model", "policy", "lexicon", "exact", "max_batch_size",
                  "max_wait_ms", "max_queue", "request_timeout_s", "max_text_chars", "max_body_bytes",
                  "allow_no_keys", "shadow_model")


def exposure_check(settings: Settings) -> str | None:
    """``None`` when the settings are safe to serve; otherwise the warning to log at start.

    Raises :class:`InputError` when the server would listen beyond loopback with no API key
    and ``allow_no_keys`` is not set."""
    if not settings.exposed_without_keys:
        return None
    if not settings.allow_no_keys:
        raise InputError(
            f"refusing to listen on {settings.host!r} without API keys: anyone who reaches the "
            "port could use the API. Set NOTECHECK_API_KEYS (and NOTECHECK_ADMIN_KEYS), or "
            "serve on 127.0.0.1, or pass --allow-no-keys (NOTECHECK_ALLOW_NO_KEYS=true) to "
            "accept an open API", field="host")
    return (f"serving on {settings.host!r} without API keys (--allow-no-keys): every route "
            "but the admin ones is open to anyone who reaches port "
            f"{settings.port}; set NOTECHECK_API_KEYS to close it")


def serve(args: argparse.Namespace) -> int:
    """Run the API until interrupted (the ``serve`` subcommand)."""
    import uvicorn

    from classifier.model import default_model_dir, read_model_config
    from serving.http.access_log import configure_logging

    settings = Settings.from_env(**{k: getattr(args, k, None) for k in _OPTION_FIELDS})
    warning = exposure_check(settings)  # before anything loads: refuse an open public server
    read_model_config(settings.model or default_model_dir())  # fail fast on a bad folder
    if settings.shadow_model is not None:
        read_model_config(settings.shadow_model)
    configure_logging(args.log_level)
    if warning is not None:
        log.warning(warning)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=args.log_level,
        access_log=False, timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None,
        log_config=None,
    )
    uvicorn.Server(config).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m serving.http.app serve ...``: the same command without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="python -m serving.http.app")
    add_serve_command(parser.add_subparsers(title="commands", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except NotecheckError as exc:
        print(f"notecheck serve: error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
