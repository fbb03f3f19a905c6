"""The micro-batcher: batching, back-pressure, deadlines, drain on close, load failure.

The pipeline is a hand-built fake (no model): it records the batch sizes it was called with and
can be held at a gate to simulate slow scoring."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from serving.http.microbatcher import (
    DeadlineExceeded,
    MicroBatcher,
    NotReady,
    QueueFull,
    ShuttingDown,
)


class FakePipeline:
    """Quacks like Pipeline.score_batch; held at ``gate`` while it is cleared."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
        if notes and notes[0].id != "warmup":
            self.entered.set()
            assert self.gate.wait(10), "test gate never opened"
            self.batches.append(len(notes))
        return [Verdict(n.id, "sharing", {"sharing": 1.0, "undisclosed_ad": 0.0, "declared": 0.0},
                        "pass", (), "fake@1", "p1") for n in notes]


def notes(*ids: str) -> list[Note]:
    return [Note(id=i, text="t") for i in ids]


def make(fake: FakePipeline, **kw: float) -> MicroBatcher:
    b = MicroBatcher(lambda: fake, **kw)  # type: ignore[arg-type, return-value]
    b.start()
    deadline = time.monotonic() + 5
    while not b.ready and time.monotonic() < deadline:
        time.sleep(0.005)
    assert b.ready
    return b


def test_api_batcher_combines_concurrent_requests_in_order() -> None:
    fake = FakePipeline()
    b = make(fake, max_batch_size=8, max_wait_s=0.05)

    async def main() -> list[list[Verdict]]:
        return await asyncio.gather(*(b.submit(notes(f"{k}a", f"{k}b"), 5) for k in range(4)))

    results = asyncio.run(main())
    assert [[v.id for v in r] for r in results] == [[f"{k}a", f"{k}b"] for k in range(4)]
    assert sum(fake.batches) == 8 and max(fake.batches) > 2  # at least two requests shared a call
    assert b.close(5)


def test_api_batcher_splits_a_job_larger_than_the_batch() -> None:
    fake = FakePipeline()
    b = make(fake, max_batch_size=4, max_wait_s=0)
    out = asyncio.run(b.submit(notes(*map(str, range(10))), 5))
    assert [v.id for v in out] == list(map(str, range(10)))
    assert fake.batches == [4, 4, 2]
    b.close(5)


def test_api_batcher_queue_full_and_deadline() -> None:
    fake = FakePipeline()
    fake.gate.clear()
    b = make(fake, max_batch_size=1, max_wait_s=0, max_queue=1)

    async def main() -> None:
        first = asyncio.ensure_future(b.submit(notes("a"), 5))
        while not fake.entered.is_set():  # the worker holds "a"
            await asyncio.sleep(0.005)
        second = asyncio.ensure_future(b.submit(notes("b"), 0.2))
        await asyncio.sleep(0.01)
        assert b.depth() == 1
        with pytest.raises(QueueFull):
            await b.submit(notes("c"), 5)
        with pytest.raises(DeadlineExceeded):
            await second  # "b" waited longer than its deadline
        fake.gate.set()
        assert [v.id for v in await first] == ["a"]

    asyncio.run(main())
    b.close(5)
    assert fake.batches == [1]  # "b" was dropped, never scored


def test_api_batcher_close_drains_queued_jobs_then_refuses() -> None:
    fake = FakePipeline()
    fake.gate.clear()
    b = make(fake, max_batch_size=1, max_wait_s=0, max_queue=10)

    async def main() -> None:
        jobs = [asyncio.ensure_future(b.submit(notes(str(k)), 10)) for k in range(4)]
        while not fake.entered.is_set():
            await asyncio.sleep(0.005)
        closer = asyncio.get_running_loop().run_in_executor(None, b.close, 10)
        await asyncio.sleep(0.05)
        with pytest.raises(ShuttingDown):
            await b.submit(notes("late"), 1)
        fake.gate.set()
        assert [(await j)[0].id for j in jobs] == ["0", "1", "2", "3"]
        assert await closer is True

    asyncio.run(main())
    assert b.state == "closed" and fake.batches == [1, 1, 1, 1]


def test_api_batcher_load_failure_is_not_ready_with_reason() -> None:
    def broken() -> Pipeline:
        raise FileNotFoundError("no such model folder")

    b = MicroBatcher(broken)
    b.start()
    deadline = time.monotonic() + 5
    while b.state == "loading" and time.monotonic() < deadline:
        time.sleep(0.005)
    assert b.state == "failed" and "no such model folder" in str(b.error)
    with pytest.raises(NotReady, match="failed to load"):
        asyncio.run(b.submit(notes("a"), 1))
    assert b.close(1)


def test_api_batcher_rejects_bad_limits() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(lambda: None, max_batch_size=0)  # type: ignore[arg-type, return-value]
