"""MinHash signatures of note texts, in batches, optionally in worker processes.

Segmentation (jieba, through :func:`classifier.segment.tokens`) is most of the report's cost, about
a millisecond per note, so ``workers > 1`` spreads batches over processes (each loads jieba once).
At most ``2 * workers`` batches are in flight and results come back in submission order, so memory
stays bounded and rows stay aligned with their signatures.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import numpy as np

from serving.report.templates import MinHasher, TemplateParams, shingles

__all__ = ["Signer", "sign_texts"]

Signature = np.ndarray[Any, np.dtype[np.uint16]]
_T = TypeVar("_T")


def sign_texts(texts: Sequence[str], params: TemplateParams) -> list[Signature | None]:
    """The signature of each text, or ``None`` when it has fewer than ``params.min_tokens``
    tokens."""
    from classifier.segment import tokens

    hasher = MinHasher(params.num_perm, params.seed)
    out: list[Signature | None] = []
    for text in texts:
        words = tokens(text)
        out.append(hasher.signature(shingles(words, params.shingle))
                   if len(words) >= params.min_tokens else None)
    return out


class Signer(Generic[_T]):
    """Feed ``(payload, text)`` pairs with :meth:`add`; signed results come out of :meth:`add`
    and :meth:`close` as ``(payload, signature)`` pairs, in input order, without the notes too
    short to sign. A context manager (the worker pool is shut down on exit)."""

    def __init__(self, params: TemplateParams, workers: int = 1, batch_size: int = 256) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.params, self.workers, self.batch_size = params, workers, batch_size
        self._batch: list[tuple[_T, str]] = []
        self._pending: deque[tuple[list[_T], Future[list[Signature | None]]]] = deque()
        self._pool = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                      if workers > 1 else None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=exc is None, cancel_futures=exc is not None)

    def add(self, payload: _T, text: str) -> Iterator[tuple[_T, Signature]]:
        self._batch.append((payload, text))
        if len(self._batch) >= self.batch_size:
            yield from self._flush()

    def close(self) -> Iterator[tuple[_T, Signature]]:
        """The remaining results; call once after the last :meth:`add`."""
        yield from self._flush()
        while self._pending:
            yield from self._collect()

    def _flush(self) -> Iterator[tuple[_T, Signature]]:
        if not self._batch:
            return
        payloads = [p for p, _ in self._batch]
        texts = [t for _, t in self._batch]
        self._batch = []
        if self._pool is None:
            yield from _pairs(payloads, sign_texts(texts, self.params))
            return
        self._pending.append((payloads, self._pool.submit(sign_texts, texts, self.params)))
        while len(self._pending) > 2 * self.workers:
            yield from self._collect()

    def _collect(self) -> Iterator[tuple[_T, Signature]]:
        payloads, future = self._pending.popleft()
        yield from _pairs(payloads, future.result())


def _pairs(payloads: list[_T], signatures: list[Signature | None]) -> Iterator[tuple[_T, Signature]]:
    for payload, signature in zip(payloads, signatures, strict=True):
        if signature is not None:
            yield payload, signature
