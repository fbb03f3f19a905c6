"""The decision webhook: each decision is POSTed as JSON to ``NOTECHECK_WEBHOOK_URL``, signed and
retried, in a background thread (a decision never waits for it).

Body: ``{"event": "decision", "decision": {...}, "item": {...}}``. Headers: ``Content-Type:
application/json``, ``X-Notecheck-Event: decision``, ``X-Notecheck-Delivery`` (a unique id,
the same on every retry), and with ``NOTECHECK_WEBHOOK_SECRET`` ``X-Notecheck-Signature:
sha256=<hex>``, the HMAC-SHA256 of the raw body under the secret (check it with
:func:`signature` before trusting the body). A delivery that fails (no answer, or a status other
than 2xx) is retried up to ``retries`` attempts in all, waiting ``backoff_s`` and doubling; at most
``max_pending`` deliveries wait (beyond, new ones are dropped and counted). ``transport`` is the
seam tests replace: ``transport(url, body, headers, timeout_s) -> status``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Transport", "WebhookSender", "signature", "urllib_transport"]

log = logging.getLogger("notecheck.serving")

Transport = Callable[[str, bytes, Mapping[str, str], float], int]


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def urllib_transport(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    """POST with the standard library; the status (an HTTP error's status too)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class WebhookSender:
    def __init__(self, url: str, *, secret: str | None = None, retries: int = 5,
                 backoff_s: float = 0.5, timeout_s: float = 5.0, max_pending: int = 1000,
                 transport: Transport = urllib_transport) -> None:
        if retries < 1 or backoff_s < 0 or max_pending < 1:
            raise ValueError("retries and max_pending must be >= 1 and backoff_s >= 0")
        self.url = url
        self.secret = secret
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.transport = transport
        self.outcomes: dict[str, int] = {"delivered": 0, "failed": 0, "dropped": 0, "retried": 0}
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=max_pending)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._busy = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notecheck-webhook",
                                            daemon=True)
            self._thread.start()

    def send(self, event: str, payload: Mapping[str, Any]) -> None:
        """Queue one delivery (never blocks; dropped and counted when too many wait)."""
        body = json.dumps({"event": event, **payload}, ensure_ascii=False, default=str,
                          sort_keys=True).encode("utf-8")
        with self._idle:
            self._busy += 1
        try:
            self._queue.put_nowait((event, body))
        except queue.Full:
            self._done("dropped")
            log.warning("webhook: %d deliveries wait; this one is dropped", self._queue.qsize())

    def _done(self, outcome: str) -> None:
        with self._idle:
            self.outcomes[outcome] += 1
            self._busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery is delivered or given up (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self, timeout: float = 2.0) -> None:
        self.wait_idle(timeout)
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            self._deliver(*job)

    def _deliver(self, event: str, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Notecheck-Event": event,
                   "X-Notecheck-Delivery": uuid.uuid4().hex}
        if self.secret:
            headers["X-Notecheck-Signature"] = signature(self.secret, body)
        wait = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                status = self.transport(self.url, body, headers, self.timeout_s)
                problem = None if 200 <= status < 300 else f"status {status}"
            except (OSError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                self._done("delivered")
                return
            if attempt == self.retries or self._stop.wait(wait):
                log.warning("webhook: gave up on a %s delivery after %d attempts (%s)", event,
                            attempt, problem)
                self._done("failed")
                return
            with self._idle:
                self.outcomes["retried"] += 1
            wait *= 2
