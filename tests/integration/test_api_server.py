"""The API on a real uvicorn server (loopback, ephemeral port, in a thread): graceful shutdown
finishes the requests in flight, and schemathesis finds no 5xx against the served OpenAPI spec."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from serving.app import create_app
from serving.settings import Settings

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402  (installed with schemathesis)

NOTE = {"id": "n1", "text": "周末去了家楼下新开的面馆，汤头很鲜"}


@contextmanager
def live_server(app: FastAPI) -> Iterator[tuple[str, uvicorn.Server, threading.Thread]]:
    """Serve ``app`` on 127.0.0.1 (an ephemeral port) until the block ends or the test stops it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=20)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if server.started and httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.02)
    try:
        yield url, server, thread
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class GatedPipeline(Pipeline):
    gate: threading.Event
    entered: threading.Event

    def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
        if notes and notes[0].id != "warmup":
            self.entered.set()
            assert self.gate.wait(15), "test gate never opened"
        return super().score_batch(notes)


def test_api_graceful_shutdown_finishes_in_flight_requests(lexical_dir: Path) -> None:
    base = Pipeline.load(lexical_dir)
    slow = GatedPipeline(base.model, base.policy, base.lexicon, model_dir=base.model_dir)
    slow.gate, slow.entered = threading.Event(), threading.Event()
    app = create_app(Settings(max_batch_size=2, max_wait_ms=0),
                     pipeline_factory=lambda _: slow)
    service = app.state.service
    n = 6
    with live_server(app) as (url, server, thread), ThreadPoolExecutor(n) as pool:
        def call(i: int) -> httpx.Response:
            return httpx.post(url + "/v1/moderate", json={**NOTE, "id": f"d{i}"}, timeout=30)

        futures = [pool.submit(call, i) for i in range(n)]
        assert slow.entered.wait(10)
        deadline = time.monotonic() + 10
        while service.batcher.depth() + service.batcher.in_flight < n:  # all six are inside
            assert time.monotonic() < deadline
            time.sleep(0.005)
        server.should_exit = True  # what SIGTERM does
        time.sleep(0.2)
        assert thread.is_alive()  # waiting for the requests in flight
        slow.gate.set()
        responses = [f.result(30) for f in futures]
        thread.join(30)
        assert not thread.is_alive()
    assert [r.status_code for r in responses] == [200] * n
    assert sorted(r.json()["id"] for r in responses) == [f"d{i}" for i in range(n)]
    assert service.batcher.state == "closed"


# ----------------------------------------------------------------------------- schemathesis


@pytest.fixture(scope="module")
def api_url(lexical_dir: Path) -> Iterator[str]:
    app = create_app(Settings(model=lexical_dir, max_text_chars=2_000,
                              max_body_bytes=256 * 1024))
    with live_server(app) as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> object:
    return schemathesis.openapi.from_url(api_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_schemathesis_no_server_errors(case: object) -> None:
    case.call_and_validate()  # type: ignore[attr-defined]
