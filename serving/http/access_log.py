"""Structured access logs: one JSON line per request on the ``notecheck.access`` logger.

Fields: ``ts``, ``route`` (the route template, ``<unmatched>`` for 404s), ``method``, ``status``,
``ms``, ``request_id``, ``n_notes``; with ``log_note_text`` also ``notes`` (ids and texts). Note
text stays out of the logs by default.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_logging", "log_access"]

ACCESS_LOGGER = "notecheck.access"


class JsonFormatter(logging.Formatter):
    """Access records as their JSON payload; other records as a small JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        payload = getattr(record, "payload", None)
        if not isinstance(payload, dict):
            payload = {"ts": _iso(record.created), "level": record.levelname.lower(),
                       "logger": record.name, "msg": record.getMessage()}
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def log_access(payload: dict[str, Any]) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if logger.isEnabledFor(logging.INFO):
        payload = {"ts": _iso(time.time()), **payload}
        logger.info("%s %s %s", payload.get("method"), payload.get("route"),
                    payload.get("status"), extra={"payload": payload})


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for the ``notecheck`` and ``uvicorn`` loggers (called by
    ``notecheck serve``, never at import)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("notecheck", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
