"""The verdict buffer (bounded, flushed when the database returns, a bad verdict isolated) and
the decision webhook (signed, retried with backoff, bounded), with fakes instead of a database
and a network."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from classifier.types import Note, Verdict
from serving.http.webhook import WebhookSender, signature
from serving.store import StoreError, StoreUnavailable
from serving.store.buffer import VerdictBuffer


def pair(i: int) -> tuple[Note, Verdict]:
    return Note(id=f"n{i}", text="x"), Verdict(
        id=f"n{i}", label="sharing", scores={"sharing": 1.0, "undisclosed_ad": 0.0,
                                             "declared": 0.0},
        decision="pass", reasons=(), model_version="m", policy_version="p")


class FakeStore:
    def __init__(self) -> None:
        self.down = True
        self.bad: set[str] = set()
        self.written: list[tuple[str, str]] = []

    def record_verdicts(self, pairs: list[tuple[Note, Verdict]], *, source: str) -> list[Any]:
        if self.down:
            raise StoreUnavailable("the database is down")
        if any(n.id in self.bad for n, _ in pairs):
            raise StoreError("refused")
        self.written += [(n.id, source) for n, _ in pairs]
        return []


def test_buffer_keeps_the_newest_while_down_and_flushes_when_back() -> None:
    store = FakeStore()
    buffer = VerdictBuffer(lambda: store, max_items=3, retry_s=0.05)  # type: ignore[arg-type,return-value]
    buffer.start()
    try:
        buffer.put([pair(i) for i in range(5)], "api")
        assert buffer.depth() == 3 and buffer.dropped == 2
        assert not buffer.flush(0.3) and not buffer.available
        store.down = False
        assert buffer.flush(5)
        assert store.written == [("n2", "api"), ("n3", "api"), ("n4", "api")]
        assert buffer.available and buffer.written == 3 and buffer.depth() == 0
    finally:
        buffer.close(1)


def test_buffer_isolates_a_refused_verdict() -> None:
    store = FakeStore()
    store.down = False
    store.bad = {"n1"}
    buffer = VerdictBuffer(lambda: store, retry_s=0.05)  # type: ignore[arg-type,return-value]
    buffer.start()
    try:
        buffer.put([pair(i) for i in range(3)], "batch")
        assert buffer.flush(5)
        assert [n for n, _ in store.written] == ["n0", "n2"] and buffer.failed == 1
    finally:
        buffer.close(1)


def test_webhook_signs_retries_with_backoff_and_gives_up() -> None:
    calls: list[tuple[float, bytes, dict[str, str]]] = []

    def flaky(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        calls.append((time.monotonic(), body, dict(headers)))
        raise OSError("connection refused")

    hook = WebhookSender("http://h.example/x", secret="k", retries=3, backoff_s=0.05,
                         transport=flaky)
    hook.start()
    try:
        hook.send("decision", {"decision": {"id": 1}})
        assert hook.wait_idle(5)
    finally:
        hook.close()
    assert len(calls) == 3 and hook.outcomes["failed"] == 1 and hook.outcomes["retried"] == 2
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # the wait doubles
    body = calls[0][1]
    assert json.loads(body) == {"event": "decision", "decision": {"id": 1}}
    assert calls[0][2]["X-Notecheck-Signature"] == signature("k", body) == \
        "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_webhook_is_bounded_and_never_blocks() -> None:
    gate = threading.Event()

    def slow(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        gate.wait(5)
        return 204

    hook = WebhookSender("http://h.example/x", max_pending=1, transport=slow)
    hook.start()
    try:
        started = time.monotonic()
        for i in range(5):
            hook.send("decision", {"i": i})
        assert time.monotonic() - started < 0.5
        gate.set()
        assert hook.wait_idle(5)
    finally:
        hook.close()
    assert hook.outcomes["dropped"] >= 3
    assert hook.outcomes["delivered"] + hook.outcomes["dropped"] == 5
