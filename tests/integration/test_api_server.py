"""The API on a real uvicorn server (loopback, ephemeral port, in a thread): graceful shutdown
finishes the requests in flight, and schemathesis finds no 5xx against the served OpenAPI spec."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
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
from serving.http.app import create_app
from serving.http.settings import Settings

NOTE = {"id": "n1", "text": "周末去了家楼下新开的面馆，汤头很鲜"}


@contextmanager
def live_server(app: FastAPI) -> Iterator[tuple[str, uvicorn.Server, threading.Thread]]:
    """Serve ``app`` on 127.0.0.1 (an ephemeral port) until the block ends or the test stops it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # (the explicit protocol makes asyncio set TCP_NODELAY on accepted connections: without it
    # every response waits ~40 ms for a delayed ACK)
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


def test_api_schemathesis_against_served_spec(lexical_dir: Path, tmp_path: Path) -> None:
    """The schemathesis CLI against the spec the server serves: examples, boundary values and
    fuzzing, at most 30 cases per operation and phase. Every check runs except
    ``positive_data_acceptance``: some schema-valid inputs are refused by design, with a 422
    naming the field (a note with neither text nor title; policy documents are free-form objects
    validated by the server)."""
    cli = Path(sys.executable).with_name("schemathesis")
    if not cli.exists():
        pytest.fail(f"schemathesis is missing ({cli}): install the dev extra (make test does)")
    app = create_app(Settings(model=lexical_dir, max_text_chars=2_000, max_body_bytes=256 * 1024))
    with live_server(app) as (url, _, _):
        t0 = time.monotonic()
        run = subprocess.run(
            [str(cli), "run", url + "/openapi.json", "--max-examples", "30", "--seed", "1",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
             "--request-timeout", "20", "--workers", "1", "--no-color"],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},  # cwd: its .schemathesis cache stays out of git
        )
        took = time.monotonic() - t0
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert cases and cases[1] == cases[2] and int(cases[1]) > 100, run.stdout[-2000:]
    assert took < 60, (took, run.stdout[-2000:])
