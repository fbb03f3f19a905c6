"""Shadow scoring (``notecheck serve --shadow``): the answer is the served model's, untouched; the
candidate (here a toy model trained with ads and sharing swapped) scores every note in the
background; disagreements are counted in /metrics and handed to the recorder; a full queue drops
and counts instead of waiting; a candidate that fails to load never stops the API."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from classifier.pipeline import Pipeline
from classifier.types import Note
from serving.http.app import create_app
from serving.http.settings import Settings
from serving.http.shadow import Disagreement, ShadowScorer
from tests.conftest import TOY_NOTES

SWAP = {"sharing": "undisclosed_ad", "undisclosed_ad": "sharing", "declared": "declared"}


@pytest.fixture(scope="module")
def swapped_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy lexical model that learned ads as sharing and sharing as ads."""
    from classifier.lexical import LexicalModel

    texts = [t for t, _ in TOY_NOTES] * 2
    labels = [SWAP[lab] for _, lab in TOY_NOTES] * 2
    out = tmp_path_factory.mktemp("swapped")
    LexicalModel(min_df=1, name="toy-swapped", model_version="t2").fit(texts, labels).save(out)
    return out


@contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.02)
        yield client


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}" + (rf"\{{{re.escape(want)}\}}" if labels else "") + r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found is not None, f"{name}{{{want}}} not in /metrics"
    return float(found.group(1))


def _answers(client: TestClient) -> list[dict[str, object]]:
    out = []
    for i, (text, _) in enumerate(TOY_NOTES):
        r = client.post("/v1/moderate", json={"id": f"n{i}", "text": text})
        assert r.status_code == 200, r.text
        body = r.json()
        out.append({k: body[k] for k in ("label", "decision", "scores", "reasons", "model_version")})
    return out


def test_shadow_never_changes_the_answer_and_counts_disagreements(lexical_dir: Path,
                                                                  swapped_dir: Path) -> None:
    with serving(Settings(model=lexical_dir, store=False)) as plain:
        expected = _answers(plain)
    recorded: list[Disagreement] = []
    with serving(Settings(model=lexical_dir, shadow_model=swapped_dir, store=False)) as client:
        shadow = client.app.state.service.shadow  # type: ignore[attr-defined]
        assert shadow is not None
        shadow._record = recorded.extend  # the store's recorder in production
        assert _answers(client) == expected
        assert shadow.wait_idle(30)
        metrics = client.get("/metrics").text
    assert _metric(metrics, "notecheck_shadow_scored_total") == len(TOY_NOTES)
    assert _metric(metrics, "notecheck_shadow_ready") == 1
    assert _metric(metrics, "notecheck_shadow_info", model_version="toy-swapped@t2",
                   policy_version=_policy_version()) == 1
    served_ads = sum(1 for a in expected if a["label"] == "undisclosed_ad")
    assert served_ads > 0
    assert len(recorded) == sum(
        _metric(metrics, "notecheck_shadow_disagreements_total", served=s, shadow=h)
        for s in ("sharing", "undisclosed_ad", "declared") for h in ("sharing", "undisclosed_ad", "declared")
        if s != h and f'served="{s}",shadow="{h}"' in metrics)
    assert _metric(metrics, "notecheck_shadow_disagreements_total", served="undisclosed_ad",
                   shadow="sharing") >= 1
    for d in recorded:
        assert d.served.label != d.shadow.label
        assert d.served.model_version == "toy-lexical@t1" and d.shadow.model_version == "toy-swapped@t2"
    assert _metric(metrics, "notecheck_shadow_dropped_total") == 0


def _policy_version() -> str:
    from classifier.rules import Policy

    return Policy.load().version


def test_shadow_offer_never_waits_and_drops_beyond_the_bound(lexical_dir: Path) -> None:
    gate = threading.Event()
    base = Pipeline.load(lexical_dir)

    def slow_loader() -> Pipeline:
        assert gate.wait(30)
        return base

    shadow = ShadowScorer(slow_loader, registry=CollectorRegistry(), max_pending=3)
    shadow.start()
    notes = [Note(id=f"n{i}", text=t) for i, (t, _) in enumerate(TOY_NOTES)]
    verdicts = list(base.pipe(notes))
    started = time.perf_counter()
    shadow.offer(notes, verdicts)  # the candidate is still loading: nothing is consumed
    assert time.perf_counter() - started < 0.05
    assert shadow.dropped._value.get() == len(notes) - 3
    gate.set()
    assert shadow.wait_idle(30)
    assert shadow.scored._value.get() == 3
    assert shadow.close(5)


def test_shadow_record_failures_are_counted_never_raised(lexical_dir: Path, swapped_dir: Path) -> None:
    def broken(_: list[Disagreement]) -> None:
        raise ConnectionError("database down")

    shadow = ShadowScorer(lambda: Pipeline.load(swapped_dir), registry=CollectorRegistry(), record=broken)
    shadow.start()
    notes = [Note(id=f"n{i}", text=t) for i, (t, _) in enumerate(TOY_NOTES)]
    shadow.offer(notes, list(Pipeline.load(lexical_dir).pipe(notes)))
    assert shadow.wait_idle(30)
    assert shadow.record_failures._value.get() >= 1
    assert shadow.scored._value.get() == len(notes)
    assert shadow.close(5)


def test_shadow_model_that_fails_to_load_leaves_the_api_answering(lexical_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with serving(Settings(model=lexical_dir, shadow_model=empty, store=False)) as client:
        r = client.post("/v1/moderate", json={"id": "a", "text": TOY_NOTES[3][0]})
        assert r.status_code == 200
        shadow = client.app.state.service.shadow  # type: ignore[attr-defined]
        assert shadow.wait_idle(30)
        assert shadow.error is not None
        assert _metric(client.get("/metrics").text, "notecheck_shadow_ready") == 0


def test_shadow_serve_option_sets_the_setting() -> None:
    from serving.cli import build_parser

    args = build_parser().parse_args(["serve", "--shadow", "models/NEW"])
    assert args.shadow_model == Path("models/NEW")


def test_shadow_store_recorder_queues_each_disagreement_for_review(lexical_dir: Path, swapped_dir: Path,
                                                                   tmp_path: Path) -> None:
    from serving.http.shadow import store_recorder
    from serving.store import QueueFilter, Store

    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        shadow = ShadowScorer(lambda: Pipeline.load(swapped_dir), registry=CollectorRegistry(),
                              record=store_recorder(lambda: store))
        shadow.start()
        notes = [Note(id=f"n{i}", text=t) for i, (t, _) in enumerate(TOY_NOTES)]
        served = list(Pipeline.load(lexical_dir).pipe(notes))
        shadow.offer(notes, served)
        assert shadow.wait_idle(30) and shadow.close(5)
        assert shadow.record_failures._value.get() == 0
        audits = store.audit_entries(action="shadow_disagreement")
        disagreeing = {e.details["note_id"] for e in audits}
        assert disagreeing and len(audits) == len(disagreeing)
        assert len(audits) == sum(shadow.disagreements.labels(s, h)._value.get()
                                  for s in ("sharing", "undisclosed_ad", "declared")
                                  for h in ("sharing", "undisclosed_ad", "declared") if s != h)
        items = {i.note_id: i for i in store.list_queue(QueueFilter(), limit=100).items}
        assert set(items) == disagreeing  # only the disagreements entered the queue
        by_id = {v.id: v for v in served}
        for e in audits:
            item = items[e.details["note_id"]]
            assert e.details["item_id"] == item.id
            assert item.label == by_id[item.note_id].label == e.details["served"]["label"]
            assert e.details["shadow"]["model_version"] == "toy-swapped@t2"
            history = store.note_history(item.note_id)
            versions = {v.verdict["model_version"] for ver in history.versions for v in ver.verdicts}
            assert versions == {"toy-lexical@t1", "toy-swapped@t2"}
    finally:
        store.close()


def test_shadow_disagreements_reach_the_queue_through_the_api(lexical_dir: Path, swapped_dir: Path,
                                                              tmp_path: Path) -> None:
    """``serve --shadow`` with the store on: the disagreements are queue items a reviewer sees."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with serving(Settings(model=lexical_dir, shadow_model=swapped_dir, db_url=url)) as client:
        deadline = time.monotonic() + 30
        while client.get("/v1/queue").status_code != 200:  # the store opens in the background
            assert time.monotonic() < deadline
            time.sleep(0.02)
        answers = _answers(client)
        service = client.app.state.service  # type: ignore[attr-defined]
        assert service.shadow.wait_idle(30)
        assert service.review.buffer.flush(30)
        metrics = client.get("/metrics").text
        queued = client.get("/v1/queue", params={"limit": 100}).json()["items"]
    disagreements = sum(_metric(metrics, "notecheck_shadow_disagreements_total", served=s, shadow=h)
                        for s in ("sharing", "undisclosed_ad", "declared")
                        for h in ("sharing", "undisclosed_ad", "declared")
                        if s != h and f'served="{s}",shadow="{h}"' in metrics)
    assert disagreements >= 1
    assert _metric(metrics, "notecheck_shadow_record_failures_total") == 0
    served = {f"n{i}": a for i, a in enumerate(answers)}
    shadowed = [i for i in queued if i["decision"] == "pass"]  # only a disagreement queues a pass
    assert shadowed and len({i["note_id"] for i in queued}) >= disagreements
    for item in shadowed:
        assert item["label"] == served[item["note_id"]]["label"]
