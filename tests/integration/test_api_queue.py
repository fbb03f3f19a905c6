"""The review queue's HTTP routes, the verdicts /v1/moderate records, the console's corrections
in the store, the decision webhook, and a database that goes down (PostgreSQL stopped and
started again under a running app)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from classifier.types import Note, Reason, Verdict
from serving.http.app import create_app
from serving.http.settings import Settings
from serving.store import Store

LI, WANG, OPEN = "key-li", "key-wang", "key-open"
KEYS = {"X-API-Key": LI}


def wait_ready(client: TestClient, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.02)


def wait_store(client: TestClient, timeout_s: float = 30.0) -> Store:
    review = client.app.state.service.review  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while review._store is None:
        assert time.monotonic() < deadline, review._error
        time.sleep(0.02)
    return review.store()  # type: ignore[no-any-return]


def flush(client: TestClient) -> None:
    assert client.app.state.service.review.buffer.flush(20)  # type: ignore[attr-defined]


def verdict(note_id: str, decision: str = "review", rules: tuple[str, ...] = ("R05",)) -> Verdict:
    return Verdict(id=note_id, label="undisclosed_ad",
                   scores={"sharing": 0.2, "undisclosed_ad": 0.7, "declared": 0.1},
                   decision=decision,  # type: ignore[arg-type]
                   reasons=tuple(Reason(r, "加薇", "text", 0, 2) for r in rules),
                   model_version="m1", policy_version="p1")


class Hook:
    """The webhook transport seam: records deliveries, fails the first ``fail`` attempts."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.calls.append((url, body, dict(headers)))
        if self.fail > 0:
            self.fail -= 1
            return 503
        return 200


@pytest.fixture()
def hook() -> Hook:
    return Hook(fail=1)


@pytest.fixture()
def client(lexical_dir: Path, tmp_path: Path, hook: Hook) -> Iterator[TestClient]:
    settings = Settings(model=lexical_dir, db_url=f"sqlite:///{tmp_path / 'q.db'}",
                        api_keys=frozenset({LI, WANG, OPEN}),
                        reviewer_keys={LI: "li", WANG: "wang"},
                        feedback_path=tmp_path / "feedback.jsonl",
                        webhook_url="http://hooks.example/decisions", webhook_secret="s3cret")
    app = create_app(settings)
    webhook = app.state.service.review.webhook
    webhook.transport = hook
    webhook.backoff_s = 0.01
    with TestClient(app) as c:
        wait_ready(c)
        wait_store(c)
        yield c


def seed(client: TestClient, n: int, decision: str = "review") -> list[int]:
    store = wait_store(client)
    got = store.record_verdicts([(Note(id=f"s{i}", text=f"第{i}条 加薇"), verdict(f"s{i}", decision,
                                  ("R05",) if i % 2 else ("R07",))) for i in range(n)])
    return [r.item_id or 0 for r in got]


def err(r: Any, status: int, error: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_api_queue_moderate_records_and_queues_reviews(client: TestClient) -> None:
    notes = [{"id": f"m{i}", "text": t} for i, t in enumerate([
        "周末去了家楼下新开的面馆，汤头很鲜", "这款精华真的绝了，到手价只要99，链接在主页，加薇❤领优惠券",
        "本篇为品牌合作，感谢XX品牌邀请试用新款面霜", "内部渠道拿货，全网最低价，私我获取购买方式"])]
    single = client.post("/v1/moderate", json=notes[0], headers=KEYS)
    batch = client.post("/v1/moderate/batch", json={"notes": notes[1:]}, headers=KEYS)
    assert single.status_code == 200 and batch.status_code == 200
    flush(client)
    verdicts = [single.json(), *batch.json()["verdicts"]]
    queued = {i["note_id"] for i in client.get("/v1/queue", headers=KEYS).json()["items"]}
    for v in verdicts:
        history = client.get(f"/v1/notes/{v['id']}", headers=KEYS).json()
        stored = history["versions"][0]["verdicts"][0]
        assert stored["source"] == "api"
        assert stored["verdict"]["label"] == v["label"]
        assert stored["verdict"]["scores"] == v["scores"]
        assert (v["id"] in queued) == (v["decision"] == "review")


def test_api_queue_upload_rows_are_recorded_as_upload(client: TestClient) -> None:
    content = json.dumps({"id": "up1", "text": "加薇领券，全网最低价"}, ensure_ascii=False)
    r = client.post("/v1/moderate/upload", json={"filename": "d.jsonl", "content": content},
                    headers=KEYS)
    assert r.status_code == 200, r.text
    flush(client)
    history = client.get("/v1/notes/up1", headers=KEYS).json()
    assert history["versions"][0]["verdicts"][0]["source"] == "upload"


def test_api_queue_list_filters_and_pages(client: TestClient) -> None:
    ids = seed(client, 5)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/queue", params=params, headers=KEYS).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    by_rule = client.get("/v1/queue", params={"rule": "R05"}, headers=KEYS).json()["items"]
    assert [i["note_id"] for i in by_rule] == ["s1", "s3"]
    assert by_rule[0]["note"]["text"] == "第1条 加薇" and by_rule[0]["rules"] == ["R05"]
    assert client.get("/v1/queue", params={"label": "declared"}, headers=KEYS).json()["items"] == []
    assert client.get("/v1/queue", params={"min_age_s": 3600},
                      headers=KEYS).json()["items"] == []
    client.post(f"/v1/queue/{ids[0]}/claim", json={}, headers=KEYS)
    held = client.get("/v1/queue", params={"claimed": "true"}, headers=KEYS).json()["items"]
    assert [i["id"] for i in held] == [ids[0]] and held[0]["claimed_by"] == "li"
    err(client.get("/v1/queue", params={"cursor": "bogus"}, headers=KEYS), 422, "invalid_input",
        "cursor")
    err(client.get("/v1/queue", params={"limit": 0}, headers=KEYS), 422, "invalid_input",
        "query.limit")
    err(client.get("/v1/queue", params={"label": "spam"}, headers=KEYS), 422, "invalid_input",
        "query.label")
    err(client.get("/v1/queue"), 401, "unauthorized")


def test_api_queue_claim_decide_undo_and_webhook(client: TestClient, hook: Hook) -> None:
    item = seed(client, 1)[0]
    claimed = client.post(f"/v1/queue/{item}/claim", json={"lease_s": 60}, headers=KEYS)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "li"
    other = err(client.post(f"/v1/queue/{item}/claim", json={}, headers={"X-API-Key": WANG}),
                409, "conflict", "item_id")
    assert "li" in other["detail"]
    err(client.post(f"/v1/queue/{item}/decision", json={"label": "sharing"},
                    headers={"X-API-Key": WANG}), 409, "conflict", "item_id")
    err(client.post(f"/v1/queue/{item}/claim", json={"reviewer": "wang"}, headers=KEYS),
        403, "forbidden", "reviewer")
    err(client.post(f"/v1/queue/{item}/claim", json={}, headers={"X-API-Key": OPEN}),
        422, "invalid_input", "reviewer")
    made = client.post(f"/v1/queue/{item}/decision",
                       json={"label": "sharing", "comment": "真实分享"}, headers=KEYS)
    assert made.status_code == 201, made.text
    d = made.json()
    assert (d["label"], d["reviewer"], d["predicted_label"], d["comment"]) == \
        ("sharing", "li", "undisclosed_ad", "真实分享")
    err(client.post(f"/v1/queue/{item}/decision", json={"label": "declared"}, headers=KEYS),
        409, "conflict", "item_id")
    assert client.app.state.service.review.webhook.wait_idle(10)  # type: ignore[attr-defined]
    assert len(hook.calls) == 2  # the first attempt failed (503) and was retried
    url, body, headers = hook.calls[-1]
    assert url == "http://hooks.example/decisions"
    assert headers["X-Notecheck-Signature"] == "sha256=" + hmac.new(
        b"s3cret", body, hashlib.sha256).hexdigest()
    assert hook.calls[0][2]["X-Notecheck-Delivery"] == headers["X-Notecheck-Delivery"]
    payload = json.loads(body)
    assert payload["event"] == "decision" and payload["decision"]["id"] == d["id"]
    assert payload["item"]["state"] == "decided" and payload["item"]["model_version"] == "m1"
    undone = client.post("/v1/queue/undo", json={}, headers=KEYS)
    assert undone.status_code == 200 and undone.json()["undone"] is True
    back = client.get(f"/v1/queue/{item}", headers=KEYS).json()
    assert (back["state"], back["claimed_by"]) == ("open", "li")
    err(client.post("/v1/queue/undo", json={}, headers={"X-API-Key": WANG}), 404, "not_found",
        "reviewer")
    history = client.get("/v1/notes/s0", headers=KEYS).json()["versions"][0]
    assert [(x["label"], x["undone"]) for x in history["decisions"]] == [("sharing", True)]
    assert history["item"]["id"] == item and history["verdicts"][0]["verdict"]["reasons"]


def test_api_queue_next_release_and_bad_input(client: TestClient) -> None:
    ids = seed(client, 2)
    first = client.post("/v1/queue/next", json={}, headers=KEYS).json()["item"]
    second = client.post("/v1/queue/next", json={}, headers={"X-API-Key": WANG}).json()["item"]
    assert (first["id"], second["id"]) == tuple(ids)
    assert client.post("/v1/queue/next", json={"reviewer": "zhao"},
                       headers={"X-API-Key": OPEN}).json() == {"item": None}
    released = client.post(f"/v1/queue/{ids[0]}/release", json={}, headers=KEYS).json()
    assert released["claimed_by"] is None
    err(client.post("/v1/queue/99999/claim", json={}, headers=KEYS), 404, "not_found", "item_id")
    err(client.post("/v1/queue/0/claim", json={}, headers=KEYS), 422, "invalid_input",
        "path.item_id")
    err(client.post(f"/v1/queue/{ids[0]}/decision", json={"label": "spam"}, headers=KEYS),
        422, "invalid_input", "label")
    err(client.post(f"/v1/queue/{ids[0]}/decision", json={"label": "sharing", "extra": 1},
                    headers=KEYS), 422, "invalid_input", "extra")
    err(client.post(f"/v1/queue/{ids[0]}/decision", json={"label": "sharing",
                                                           "comment": "x" * 2001},
                    headers=KEYS), 422, "invalid_input", "comment")
    err(client.post(f"/v1/queue/{ids[0]}/claim", json={"lease_s": -1}, headers=KEYS),
        422, "invalid_input", "lease_s")
    err(client.get("/v1/notes/never-seen", headers=KEYS), 404, "not_found", "note_id")


def test_api_queue_stats(client: TestClient) -> None:
    ids = seed(client, 3)
    client.post(f"/v1/queue/{ids[0]}/decision", json={"label": "sharing"}, headers=KEYS)
    client.post(f"/v1/queue/{ids[1]}/decision", json={"label": "undisclosed_ad"}, headers=KEYS)
    s = client.get("/v1/queue/stats", headers=KEYS).json()
    assert s["depth"] == 1 and s["decisions_last_hour"] == 2
    assert s["override_by_label"]["undisclosed_ad"] == {"n": 2, "overridden": 1, "rate": 0.5}
    assert s["override_by_rule"]["R07"]["n"] == 1 and s["override_by_rule"]["R05"]["n"] == 1
    assert set(s["age_s"]) == {"p50", "p90", "p99", "max"} and s["age_s"]["max"] >= 0
    assert s["items_reviewed_twice"] == 0 and s["agreement"] is None


def test_api_queue_console_correction_goes_to_the_store_and_the_file(
        client: TestClient, tmp_path: Path) -> None:
    item = seed(client, 1)[0]
    r = client.post("/v1/feedback", json={"note": {"id": "s0", "text": "第0条 加薇"},
                                          "label": "declared", "reviewer": "li"}, headers=KEYS)
    assert r.status_code == 201, r.text
    assert r.json()["decision_id"] is not None
    assert json.loads((tmp_path / "feedback.jsonl").read_text("utf-8"))["label"] == "declared"
    got = client.get(f"/v1/queue/{item}", headers=KEYS).json()
    assert got["state"] == "decided"  # the correction decided the waiting item
    free = client.post("/v1/feedback", json={"note": {"id": "new-1", "text": "别的笔记"},
                                             "label": "sharing", "reviewer": "li"}, headers=KEYS)
    decided = client.get("/v1/notes/new-1", headers=KEYS).json()["versions"][0]["decisions"]
    assert [x["id"] for x in decided] == [free.json()["decision_id"]]


def test_api_queue_store_off_answers_503_and_moderate_still_works(lexical_dir: Path,
                                                                  tmp_path: Path) -> None:
    settings = Settings(model=lexical_dir, store=False, feedback_path=tmp_path / "f.jsonl")
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        err(c.get("/v1/queue"), 503, "store_unavailable", "db_url")
        assert c.post("/v1/moderate", json={"id": "x", "text": "加薇"}).status_code == 200
        r = c.post("/v1/feedback", json={"note": {"id": "x", "text": "加薇"}, "label": "sharing",
                                         "reviewer": "li"})
        assert r.status_code == 201 and r.json()["decision_id"] is None


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_api_queue_database_down_503_buffer_then_flush(lexical_dir: Path, tmp_path: Path,
                                                        postgres_server: Any) -> None:
    url = postgres_server()
    settings = Settings(model=lexical_dir, db_url=url, store_buffer=3,
                        feedback_path=tmp_path / "f.jsonl")
    app = create_app(settings)
    app.state.service.review.buffer.retry_s = 0.2
    with TestClient(app) as c:
        wait_ready(c)
        wait_store(c)
        assert _metric(c, "notecheck_store_up") == 1.0
        postgres_server.stop()
        try:
            notes = [{"id": f"d{i}", "text": f"第{i}条 加薇领券"} for i in range(5)]
            for n in notes:
                assert c.post("/v1/moderate", json=n).status_code == 200
            err(c.get("/v1/queue"), 503, "store_unavailable", "db_url")
            err(c.post("/v1/queue/1/claim", json={"reviewer": "li"}), 503, "store_unavailable")
            deadline = time.monotonic() + 20
            while _metric(c, "notecheck_store_up") != 0.0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert _metric(c, "notecheck_store_buffer_depth") == 3.0  # bounded: 5 sent, 3 kept
            assert _metric(c, "notecheck_store_buffer_dropped_total") == 2.0
        finally:
            postgres_server.start()
        flush(c)
        assert _metric(c, "notecheck_store_buffer_depth") == 0.0
        assert _metric(c, "notecheck_store_up") == 1.0
        assert c.get("/v1/queue").status_code == 200
        kept = [n["id"] for n in notes if c.get(f"/v1/notes/{n['id']}").status_code == 200]
        assert kept == ["d2", "d3", "d4"]  # the oldest were dropped, the rest written


def test_api_queue_zero_setup_opens_a_sqlite_file_in_the_data_dir(lexical_dir: Path,
                                                                   tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(model=lexical_dir, data_dir=data, feedback_path=tmp_path / "f.jsonl")
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        wait_store(c)
        assert c.get("/v1/queue").json() == {"items": [], "next_cursor": None}
    assert (data / "notecheck.db").is_file()


def test_api_queue_starts_while_the_database_is_down(lexical_dir: Path, tmp_path: Path,
                                                     postgres_server: Any) -> None:
    url = postgres_server()
    settings = Settings(model=lexical_dir, db_url=url, feedback_path=tmp_path / "f.jsonl")
    app = create_app(settings)
    review = app.state.service.review
    review.retry_s = 0.2
    review.buffer.retry_s = 0.2
    postgres_server.stop()
    started = False
    try:
        with TestClient(app) as c:
            wait_ready(c)  # the model does not wait for the database
            assert c.post("/v1/moderate", json={"id": "early", "text": "加薇领券"}).status_code == 200
            err(c.get("/v1/queue"), 503, "store_unavailable", "db_url")
            assert _metric(c, "notecheck_store_up") == 0.0
            postgres_server.start()
            started = True
            wait_store(c)
            flush(c)
            assert c.get("/v1/notes/early").status_code == 200
    finally:
        if not started:
            postgres_server.start()
