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
NOTECHECK_STORE                true       false: no review store (no queue routes: 503; the
                                          console's corrections go to the feedback file only)
NOTECHECK_DB_URL               (below)    the review store: ``postgresql+psycopg://USER@HOST/DB``
                                          to share one queue between replicas; by default the
                                          SQLite file ``<NOTECHECK_DATA_DIR>/notecheck.db``
NOTECHECK_DATA_DIR             .notecheck folder of the default SQLite store (created at start)
NOTECHECK_QUEUE_BLOCK          false      true: ``block`` verdicts enter the review queue too (by
                                          default only ``review`` ones do)
NOTECHECK_REVIEWS_REQUIRED     1          decisions by different reviewers before an item leaves
                                          the queue (2 measures reviewer agreement)
NOTECHECK_LEASE_S              300        how long a reviewer's claim on an item lasts
NOTECHECK_REVIEWER_KEYS        (none)     comma list of ``KEY=reviewer``: a request with that API
                                          key (it must be in NOTECHECK_API_KEYS or _ADMIN_KEYS)
                                          acts as that reviewer, and may not name another
NOTECHECK_STORE_BUFFER         10000      verdicts kept in memory while the database is down
                                          (the oldest are dropped beyond it; see /metrics)
NOTECHECK_WEBHOOK_URL          (none)     POSTed a JSON body on each decision, in the background
NOTECHECK_WEBHOOK_SECRET       (none)     HMAC-SHA256 key: header ``X-Notecheck-Signature:
                                          sha256=<hex of the body's HMAC>``
NOTECHECK_WEBHOOK_RETRIES      5          attempts per decision (backoff 0.5 s, doubling)
NOTECHECK_IMAGES               false      true: read the notes' pictures (``images``: OCR text and
                                          QR codes, fields images[i]) on /v1/moderate and the batch
                                          route; needs the 'images' extra and an image root or
                                          NOTECHECK_FETCH_IMAGES; false: ``images`` is ignored
                                          (listed in ``warnings``)
NOTECHECK_IMAGE_ROOT           (none)     the folder local picture paths are under; any other path
                                          is refused (422 naming images[i])
NOTECHECK_IMAGE_CACHE          (none)     a folder caching each picture's text by its hash
NOTECHECK_FETCH_IMAGES         false      with NOTECHECK_IMAGES: fetch picture URLs (public
                                          addresses only, image/* only, size and time limits; see
                                          ``classifier.fetch``); false: a URL is refused (422)
=============================  =========  ==========================================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
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
ReviewerKeys = Annotated[dict[str, str], NoDecode]
"""``KEY=reviewer`` pairs, comma separated: split by :meth:`Settings._split_reviewer_keys`."""


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
    store: bool = True
    db_url: str | None = None
    data_dir: Path = Path(".notecheck")
    queue_block: bool = False
    reviews_required: int = Field(default=1, ge=1, le=10)
    lease_s: float = Field(default=300.0, gt=0.0, le=86400.0)
    reviewer_keys: ReviewerKeys = {}
    store_buffer: int = Field(default=10_000, ge=1)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    webhook_secret: str | None = None
    webhook_retries: int = Field(default=5, ge=1, le=20)

    @field_validator("reviewer_keys", mode="before")
    @classmethod
    def _split_reviewer_keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for i, part in enumerate((p.strip() for p in value.split(",") if p.strip()), 1):
            key, sep, name = part.partition("=")
            if not sep or not key.strip() or not name.strip():  # the entry itself may be a key: not shown
                raise ValueError(f"entry {i} is not KEY=reviewer; write key1=li,key2=wang")
            pairs[key.strip()] = name.strip()
        return pairs

    @field_validator("reviewer_keys")
    @classmethod
    def _reviewer_keys_are_api_keys(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        known = set(info.data.get("api_keys", ())) | set(info.data.get("admin_keys", ()))
        stray = sorted(k for k in value if k not in known)
        if stray:
            raise ValueError(f"{len(stray)} reviewer key(s) are not API keys; add them to "
                             "NOTECHECK_API_KEYS (a key names a reviewer only if it is accepted)")
        return value

    def reviewer_of(self, key: str | None) -> str | None:
        """The reviewer an API key stands for (``None``: the key names nobody)."""
        return self.reviewer_keys.get(key) if key else None

    images: bool = False
    image_root: Path | None = None
    image_cache: Path | None = None
    fetch_images: bool = False

    @model_validator(mode="after")
    def _pictures_need_a_source(self) -> Settings:
        if self.fetch_images and not self.images:
            raise ValueError("fetch_images needs images=true (NOTECHECK_IMAGES): pictures are "
                             "read only when asked")
        if self.images and self.image_root is None and not self.fetch_images:
            raise ValueError("images=true needs image_root (NOTECHECK_IMAGE_ROOT, the folder "
                             "picture paths are under) or fetch_images=true (picture URLs)")
        if self.image_root is not None and not self.image_root.is_dir():
            raise ValueError(f"image_root {str(self.image_root)!r} is not a folder")
        return self

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
            shown = "a value not shown: it holds secrets" if name in SECRET_FIELDS else repr(got)
            raise InputError(f"{source}: {err['msg']} (got {shown}); fix the value",
                             field=name) from None


SECRET_FIELDS = frozenset({"api_keys", "admin_keys", "reviewer_keys", "webhook_secret", "db_url"})
"""Settings whose values hold keys or passwords (a database URL may): never echoed in an error."""


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
