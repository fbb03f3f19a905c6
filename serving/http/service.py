"""What the routes call: schemas -> notes -> the micro-batcher -> verdicts, and policy reloads.

One :class:`ModerationService` per app, built by ``create_app`` and started in its lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from classifier.errors import InputError, PolicyError
from classifier.fetch import PictureFetcher
from classifier.notes import READ_PICTURES, note_from_dict, unknown_fields
from classifier.pictures import PictureReader
from classifier.pipeline import Pipeline, Rulebook
from classifier.rules import Policy
from classifier.signals import Lexicon
from classifier.types import LABELS, Note, Verdict
from serving.http.metrics import ApiMetrics
from serving.http.microbatcher import DeadlineExceeded, MicroBatcher, NotReady, ShuttingDown
from serving.http.policy_check import RulesCheck, RulesRefused, check_rules, policy_file
from serving.http.review import ReviewService
from serving.http.schemas import (
    ModelInfoOut,
    NoteIn,
    PolicyReloadIn,
    PolicyReloadOut,
    ReadyOut,
    WarningOut,
)
from serving.http.settings import Settings
from serving.http.shadow import ShadowScorer, store_recorder

__all__ = ["ModerationService", "PipelineFactory", "ReloadRefused", "default_pipeline_factory"]

log = logging.getLogger("notecheck.serving")

PipelineFactory = Callable[[Settings], Pipeline]
"""Builds the pipeline from the settings; ``create_app`` takes another one in tests."""


ReloadRefused = RulesRefused
"""A reload was refused because ``document`` (``policy`` or ``lexicon``) is invalid, or too slow
to check; the rules in force were kept. ``error`` says why and names the rule id."""


def default_pipeline_factory(settings: Settings) -> Pipeline:
    return Pipeline.load(settings.model, settings.policy, settings.lexicon, exact=settings.exact)


class ModerationService:
    def __init__(self, settings: Settings,
                 factory: PipelineFactory = default_pipeline_factory) -> None:
        self.settings = settings
        self.metrics = ApiMetrics(queue_depth=lambda: float(self.batcher.depth()))
        self.batcher = MicroBatcher(
            lambda: factory(settings),
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_ms / 1000.0,
            max_queue=settings.max_queue,
            warmup=settings.warmup,
            on_batch=self.metrics.observe_batch,
            on_ready=self._on_ready,
        )
        self._reload_lock = threading.Lock()
        self.pictures: PictureReader | None = None
        if settings.images:  # NOTECHECK_IMAGES: local paths under the root, URLs if fetching
            self.pictures = PictureReader(
                settings.image_root, cache_dir=settings.image_cache,
                fetcher=PictureFetcher() if settings.fetch_images else None)
        self.review = ReviewService(settings, self.metrics.registry)
        """The review store (``serving.http.review``): verdicts recorded, the queue routes."""
        self.shadow: ShadowScorer | None = None
        if settings.shadow_model is not None:
            self.shadow = ShadowScorer.for_model(
                settings.shadow_model, lexicon=settings.lexicon, exact=settings.exact,
                registry=self.metrics.registry, max_pending=settings.shadow_max_pending,
                record=store_recorder(self.review.store) if self.review.enabled else None)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.batcher.start()
        self.review.start()
        if self.shadow is not None:
            self.shadow.start()

    def close(self) -> bool:
        self.metrics.set_ready(False)
        stopped = self.batcher.close(self.settings.shutdown_grace_s)
        self.review.close(min(self.settings.shutdown_grace_s, 5.0))
        if self.shadow is not None:
            self.shadow.close(min(self.settings.shutdown_grace_s, 5.0))
        return stopped

    def _on_ready(self, pipeline: Pipeline) -> None:
        self.metrics.set_ready(True)
        self._publish_versions(pipeline)
        log.info("model %s ready (policy %s, lexicon %s)", pipeline.model_version,
                 pipeline.policy.version, pipeline.lexicon.version)

    def _publish_versions(self, pipeline: Pipeline) -> None:
        self.metrics.set_versions(pipeline.model_version, pipeline.policy.version,
                                  pipeline.lexicon.version)

    def readiness(self) -> ReadyOut:
        state = self.batcher.state
        pipeline = self.batcher.pipeline
        if state == "ready" and pipeline is not None:
            return ReadyOut(status="ready", model_version=pipeline.model_version,
                            policy_version=pipeline.policy.version)
        if state == "failed":
            return ReadyOut(status="failed", detail=f"the model failed to load: "
                            f"{self.batcher.error}; fix the model folder and restart")
        if state in ("closing", "closed"):
            return ReadyOut(status="shutting_down", detail="the server is shutting down")
        return ReadyOut(status="loading", detail="the model is loading and warming up")

    def pipeline(self) -> Pipeline:
        """The pipeline in service; :class:`NotReady` / :class:`ShuttingDown` until/after."""
        pipeline = self.batcher.pipeline
        if self.batcher.state in ("closing", "closed"):
            raise ShuttingDown("the server is shutting down; retry on another instance")
        if pipeline is None or self.batcher.state != "ready":
            raise NotReady(self.readiness().detail or "the model is not ready")
        return pipeline

    # ------------------------------------------------------------------ moderation
    def to_notes(self, notes: Sequence[NoteIn], *, prefix: str | None = None,
                 indexed: bool = True) -> tuple[list[Note], list[WarningOut]]:
        """Build notes with the shared reader (:func:`classifier.notes.note_from_dict`, as
        ``notecheck score`` does) and a warning for each note with fields the reader ignores.
        An :class:`InputError` names the field (``notes[3].text`` for ``prefix="notes"``;
        ``note.text`` for ``prefix="note", indexed=False``)."""
        out: list[Note] = []
        warnings: list[WarningOut] = []
        token = READ_PICTURES.set(self.pictures is not None)  # else ``images`` is ignored
        try:
            for i, note in enumerate(notes):
                where = (f"{prefix}[{i}]" if indexed else prefix) if prefix else None
                record = note.to_record()
                try:
                    out.append(note_from_dict(record, max_chars=self.settings.max_text_chars))
                except InputError as exc:
                    field = ".".join(p for p in (where, exc.field) if p) or None
                    raise InputError(exc.reason, field=field) from None
                unknown = list(unknown_fields(record))
                if unknown:
                    warnings.append(WarningOut.unknown(unknown, where))
        finally:
            READ_PICTURES.reset(token)
        return out, warnings

    async def read_pictures(self, notes: list[Note], *, prefix: str | None = None) -> list[Note]:
        """``notes`` with their pictures read (OCR text and QR codes, in a worker thread) when
        pictures are on (``NOTECHECK_IMAGES``); as they are otherwise. A picture that cannot be
        read or fetched is an :class:`InputError` naming it (``notes[3].images[0]``)."""
        if self.pictures is None or not any(n.images for n in notes):
            return notes
        limit = self.settings.request_timeout_s  # OCR and fetches are bounded like scoring
        try:
            async with asyncio.timeout(limit):
                return await asyncio.to_thread(self._read_pictures, self.pictures, notes, prefix)
        except TimeoutError:  # the worker thread finishes its picture and is then free again
            raise DeadlineExceeded(limit, what="the notes' pictures not read") from None

    async def read_pictures_each(self, notes: list[Note]) -> list[Note | InputError]:
        """Each note with its pictures read, or the error of its first unreadable picture (the
        console's upload makes it that row's error); ``notes`` as they are when pictures are off."""
        reader = self.pictures
        if reader is None or not any(n.images for n in notes):
            return list(notes)

        def run() -> list[Note | InputError]:
            out: list[Note | InputError] = []
            for note in notes:
                try:
                    out.append(reader.read(note))
                except InputError as exc:
                    out.append(exc)
            return out

        return await asyncio.to_thread(run)

    @staticmethod
    def _read_pictures(reader: PictureReader, notes: list[Note], prefix: str | None) -> list[Note]:
        out = []
        for i, note in enumerate(notes):
            try:
                out.append(reader.read(note))
            except InputError as exc:
                where = f"{prefix}[{i}]" if prefix else None
                raise InputError(exc.reason, field=".".join(p for p in (where, exc.field) if p)
                                 or None) from None
        return out

    async def moderate(self, notes: Sequence[Note], *, source: str = "api") -> list[Verdict]:
        """Score the notes; the verdicts are handed to the review store (``source``: api or
        upload), which queues those to review, off the request path."""
        verdicts = await self.batcher.submit(notes, self.settings.request_timeout_s)
        for v in verdicts:
            self.metrics.count_verdict(v.label, v.decision)
        self.review.offer(notes, verdicts, source)
        if self.shadow is not None:
            self.shadow.offer(notes, verdicts)  # never waits; the answer is the served model's
        return verdicts

    # ------------------------------------------------------------------ model and policy
    def model_info(self) -> ModelInfoOut:
        pipeline = self.pipeline()
        book = pipeline.rulebook
        spec = book.policy.spec
        return ModelInfoOut(
            model_version=pipeline.model_version,
            policy_version=spec.version,
            lexicon_version=book.lexicon.version,
            labels=list(LABELS),
            thresholds=dict(spec.thresholds),
            bands=spec.bands.model_dump(),
            rules=[r.model_dump(by_alias=True, exclude_none=True) for r in spec.rules],
            policy_source=book.policy.source,
            limits={
                "max_notes_per_request": 100,
                "max_text_chars": self.settings.max_text_chars,
                "max_body_bytes": self.settings.max_body_bytes,
                "max_batch_size": self.settings.max_batch_size,
                "max_wait_ms": self.settings.max_wait_ms,
                "max_queue": self.settings.max_queue,
                "request_timeout_s": self.settings.request_timeout_s,
            },
        )

    def reload(self, body: PolicyReloadIn | None) -> PolicyReloadOut:
        """Check a new policy/lexicon in a child process under ``reload_timeout_s``
        (:mod:`serving.http.policy_check`), then swap both in at once; when refused, the old ones
        stay in force. Blocking (waits for the child): run it off the event loop. The scoring
        thread never runs a pattern of the new documents before they passed the check."""
        pipeline = self.pipeline()
        with self._reload_lock:
            old = pipeline.rulebook
            from_files = body is None or (body.policy is None and body.lexicon is None)
            try:
                if body is None or from_files:
                    self._reload_files(pipeline)
                else:
                    check_rules(RulesCheck(policy=body.policy, lexicon=body.lexicon,
                                           check_policy=body.policy is not None,
                                           check_lexicon=body.lexicon is not None),
                                self.settings.reload_timeout_s)
                    pipeline.rulebook = _rulebook_from(body, old)
            except ReloadRefused:
                self.metrics.count_reload("refused")
                raise
            new = pipeline.rulebook
        self.metrics.count_reload("applied")
        self._publish_versions(pipeline)
        log.info("policy reloaded from %s: policy %s -> %s, lexicon %s -> %s",
                 "files" if from_files else "body", old.policy.version, new.policy.version,
                 old.lexicon.version, new.lexicon.version)
        return PolicyReloadOut(
            source="files" if from_files else "body",
            policy_version=new.policy.version,
            lexicon_version=new.lexicon.version,
            previous_policy_version=old.policy.version,
            previous_lexicon_version=old.lexicon.version,
        )

    def _reload_files(self, pipeline: Pipeline) -> None:
        settings = self.settings
        policy = policy_file(pipeline.model_dir, settings.policy)
        check_rules(RulesCheck(policy_file=None if policy is None else str(policy),
                               lexicon_file=None if settings.lexicon is None
                               else str(settings.lexicon),
                               check_policy=True, check_lexicon=True),
                    settings.reload_timeout_s)
        try:  # the files passed the check; read again here (an edit in between is refused)
            Lexicon.load(settings.lexicon)
        except PolicyError as exc:
            raise ReloadRefused("lexicon", exc) from exc
        try:
            pipeline.reload_rules(settings.policy, settings.lexicon)
        except PolicyError as exc:
            raise ReloadRefused("policy", exc) from exc


def _rulebook_from(body: PolicyReloadIn, old: Rulebook) -> Rulebook:
    """Validate the documents of a reload request into a new rulebook."""
    policy = old.policy if body.policy is None else _validated(
        "policy", lambda: Policy.from_dict(body.policy or {}, "<request body: policy>"))
    lexicon = old.lexicon if body.lexicon is None else _validated(
        "lexicon", lambda: Lexicon.from_dict(body.lexicon, path="<request body: lexicon>"))
    return Rulebook(policy, lexicon)


_T = TypeVar("_T")


def _validated(document: str, build: Callable[[], _T]) -> _T:
    try:
        return build()
    except PolicyError as exc:
        raise ReloadRefused(document, exc) from exc
    except (TypeError, KeyError, AttributeError, ValueError) as exc:  # malformed beyond the checks
        raise ReloadRefused(document, PolicyError(
            f"the document is malformed ({type(exc).__name__}: {exc}); send the same JSON as "
            f"the {document} file")) from exc
