"""Settings of the moderation API: frozen pydantic-settings, read from ``NOTECHECK_*`` variables.

``Settings(...)`` takes explicit values only (it never reads the environment, so tests never
touch it); ``Settings.from_env()`` reads the variables (pydantic-settings) under the explicit
values; ``get_settings()`` does so once (cached). Every variable, its default and its meaning:

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
NOTECHECK_ADMIN_KEYS           (none)     comma list; the only keys allowed on admin routes (policy
                                          reload): without one, admin routes are refused (403)
NOTECHECK_ALLOW_NO_KEYS        false      true: ``notecheck serve`` may listen beyond loopback
                                          without keys (it warns at start); false: it refuses to
NOTECHECK_RELOAD_TIMEOUT_S     5          longest a policy/lexicon reload may take to compile and
                                          check its patterns (in a child process); beyond it: 422
NOTECHECK_LOG_NOTE_TEXT        false      put note ids and texts into the access log
NOTECHECK_SHUTDOWN_GRACE_S     30         how long shutdown waits for queued work
NOTECHECK_FEEDBACK_PATH        (below)    where the reviewer console appends corrections (JSONL that
  or NOTECHECK_FEEDBACK                   ``notecheck train --data`` reads); ``feedback.jsonl`` in
                                          the working directory by default
NOTECHECK_FEEDBACK_MAX_BYTES   67108864   size at which the feedback file is rotated
                                          (``feedback.jsonl`` -> ``feedback.1.jsonl`` ...)
NOTECHECK_FEEDBACK_BACKUPS     5          rotated feedback files kept (the oldest is then deleted)
NOTECHECK_MAX_UPLOAD_BYTES     4194304    largest dump the console uploads; beyond it: 413 (keep it
                                          below NOTECHECK_MAX_BODY_BYTES: the dump travels in JSON)
NOTECHECK_UPLOAD_TIMEOUT_S     60         overall deadline of one console upload (parse and score
                                          every row); beyond it: 504
NOTECHECK_SHADOW_MODEL         (none)     a candidate model folder: every note served is also scored
                                          by it in the background (never changing or delaying the
                                          answer) and the disagreements are recorded and counted
NOTECHECK_SHADOW_MAX_PENDING   1024       notes waiting for the shadow model; beyond it they are
                                          dropped from the comparison (counted in /metrics)
=============================  =========  ==========================================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from classifier.errors import InputError

__all__ = ["ENV_PREFIX", "Settings", "get_settings", "is_loopback"]

ENV_PREFIX = "NOTECHECK_"
MAX_NOTES_PER_BATCH = 100
"""The most notes one ``POST /v1/moderate/batch`` request may carry (fixed by the API contract)."""

Keys = Annotated[frozenset[str], NoDecode]
"""A comma list in the environment (not JSON): split by :meth:`Settings._split_keys`."""


class Settings(BaseSettings):
    """Everything the API can be configured with; see the module docstring for the variables."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix=ENV_PREFIX,
                                      env_ignore_empty=True, populate_by_name=True)

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
    api_keys: Keys = frozenset()
    admin_keys: Keys = frozenset()
    allow_no_keys: bool = False
    reload_timeout_s: float = Field(default=5.0, gt=0.0, le=600.0)
    log_note_text: bool = False
    shutdown_grace_s: float = Field(default=30.0, ge=0.0)
    warmup: bool = True
    feedback_path: Path = Field(default=Path("feedback.jsonl"), validation_alias=AliasChoices(
        "feedback_path", ENV_PREFIX + "FEEDBACK_PATH", ENV_PREFIX + "FEEDBACK"))
    feedback_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    feedback_backups: int = Field(default=5, ge=1, le=1000)
    max_upload_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    upload_timeout_s: float = Field(default=60.0, gt=0.0)
    shadow_model: Path | None = None
    shadow_max_pending: int = Field(default=1024, ge=1)

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(k.strip() for k in value.split(",") if k.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values only: the environment is read by :meth:`from_env`, never here."""
        return (init_settings,)

    @property
    def auth_enabled(self) -> bool:
        """True when any key is configured: the API then refuses calls without one."""
        return bool(self.api_keys or self.admin_keys)

    @property
    def exposed_without_keys(self) -> bool:
        """True when the server would listen beyond loopback with no key configured."""
        return not self.auth_enabled and not is_loopback(self.host)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``NOTECHECK_*`` variables (``environ`` defaults to ``os.environ``), with
        ``overrides`` (e.g. command-line options; ``None`` values are ignored) on top.

        Raises :class:`InputError` naming the variable when a value is invalid."""
        explicit = {k: v for k, v in overrides.items() if v is not None}
        env = dict(os.environ if environ is None else environ)
        try:
            from_env = _MappingEnvSource(cls, env)()
            return cls(**{**from_env, **explicit})
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "settings"
            name = _FIELD_OF_ALIAS.get(name.upper(), name)
            source = ("option" if name in explicit
                      else "variable " + _variable_of(name, env))
            got = explicit[name] if name in explicit else err.get("input")
            raise InputError(f"{source}: {err['msg']} (got {got!r}); fix the value",
                             field=name) from None


_FIELD_OF_ALIAS = {ENV_PREFIX + "FEEDBACK": "feedback_path",
                   ENV_PREFIX + "FEEDBACK_PATH": "feedback_path"}


def _variable_of(name: str, env: Mapping[str, str]) -> str:
    if name == "feedback_path" and ENV_PREFIX + "FEEDBACK_PATH" not in env:
        return ENV_PREFIX + "FEEDBACK"
    return ENV_PREFIX + name.upper()


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` by default)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = {k.lower(): v for k, v in environ.items()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k: v for k, v in self._environ.items() if v.strip() != ""}


def is_loopback(host: str) -> bool:
    """True for an address that only this machine can reach (``127.0.0.1``, ``::1``,
    ``localhost``); ``0.0.0.0``, ``::`` and every other name or address are not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the process environment, read once."""
    return Settings.from_env()
