"""Settings of the moderation API: a frozen pydantic model read from ``NOTECHECK_*`` variables.

``get_settings()`` reads the environment once (cached); ``create_app(settings)`` takes an explicit
object, so tests never touch the environment. Every variable, its default and its meaning:

=============================  =========  ==========================================================
variable                       default    meaning
=============================  =========  ==========================================================
NOTECHECK_HOST                 127.0.0.1  interface uvicorn binds
NOTECHECK_PORT                 8000       port
NOTECHECK_MODEL                (shipped)  model folder
NOTECHECK_POLICY               (model's)  policy file; reloaded by ``POST /v1/policy/reload``
NOTECHECK_LEXICON              (package)  lexicon file; reloaded by ``POST /v1/policy/reload``
NOTECHECK_EXACT                false      true: the full unoptimised model (torch fp32, no cascade)
NOTECHECK_MAX_BATCH_SIZE       32         most notes per model call
NOTECHECK_MAX_WAIT_MS          2          longest a request waits for others to share its batch
NOTECHECK_MAX_QUEUE            256        requests waiting for the model; beyond it: 429
NOTECHECK_REQUEST_TIMEOUT_S    10         per-request deadline; beyond it: 504
NOTECHECK_MAX_TEXT_CHARS       20000      longest title or text of one note; beyond it: 422
NOTECHECK_MAX_BODY_BYTES       8388608    largest request body; beyond it: 413
NOTECHECK_API_KEYS             (none)     comma list; when set, every route but /healthz, /readyz
                                          and the console page (``/``, ``/static/*``, which hold no
                                          data) needs one (``X-API-Key`` or ``Authorization: Bearer``)
NOTECHECK_ADMIN_KEYS           (none)     comma list; keys allowed to reload the policy
NOTECHECK_LOG_NOTE_TEXT        false      put note ids and texts into the access log
NOTECHECK_SHUTDOWN_GRACE_S     30         how long shutdown waits for queued work
NOTECHECK_FEEDBACK_PATH        (below)    where the reviewer console appends corrections (JSONL that
  or NOTECHECK_FEEDBACK                   ``notecheck train --data`` reads); ``feedback.jsonl`` in
                                          the working directory by default
NOTECHECK_MAX_UPLOAD_BYTES     4194304    largest dump the console uploads; beyond it: 413 (keep it
                                          below NOTECHECK_MAX_BODY_BYTES: the dump travels in JSON)
=============================  =========  ==========================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from classifier.errors import InputError

__all__ = ["ENV_PREFIX", "Settings", "get_settings"]

ENV_PREFIX = "NOTECHECK_"
MAX_NOTES_PER_BATCH = 100
"""The most notes one ``POST /v1/moderate/batch`` request may carry (fixed by the API contract)."""
_ENV_ALIASES = {"feedback_path": ENV_PREFIX + "FEEDBACK"}
"""Shorter variable names also accepted (the long form wins when both are set)."""


class Settings(BaseModel):
    """Everything the API can be configured with; see the module docstring for the variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    model: Path | None = None
    policy: Path | None = None
    lexicon: Path | None = None
    exact: bool = False
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    max_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)
    max_queue: int = Field(default=256, ge=1)
    request_timeout_s: float = Field(default=10.0, gt=0.0)
    max_text_chars: int = Field(default=20_000, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    api_keys: frozenset[str] = frozenset()
    admin_keys: frozenset[str] = frozenset()
    log_note_text: bool = False
    shutdown_grace_s: float = Field(default=30.0, ge=0.0)
    warmup: bool = True
    feedback_path: Path = Path("feedback.jsonl")
    max_upload_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(k.strip() for k in value.split(",") if k.strip())
        return value

    @property
    def auth_enabled(self) -> bool:
        """True when any key is configured: the API then refuses calls without one."""
        return bool(self.api_keys or self.admin_keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``NOTECHECK_*`` variables (``environ`` defaults to ``os.environ``), with
        ``overrides`` (e.g. command-line options; ``None`` values are ignored) on top.

        Raises :class:`InputError` naming the variable when a value is invalid."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper(), env.get(_ENV_ALIASES.get(name, "")))
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "settings"
            source = "option" if name in overrides else "variable " + ENV_PREFIX + name.upper()
            raise InputError(f"{source}: {err['msg']} (got {values.get(name)!r}); fix the value",
                             field=name) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the process environment, read once."""
    return Settings.from_env()
