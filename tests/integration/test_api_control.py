"""Hot reload, API keys, back-pressure (429), deadlines (504) and readiness (503), through the
app's test client. Slow scoring is a real pipeline held at a gate, injected via the app factory."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from classifier.pipeline import Pipeline
from classifier.rules import Policy
from classifier.signals import Lexicon
from classifier.types import Note, Verdict
from serving.http.app import create_app
from serving.http.settings import Settings

NOTE = {"id": "n1", "text": "用了两周，保湿不错。加薇信abc123领券，到手价99元"}
ADMIN = {"X-API-Key": "admin-key"}
"""Admin routes always need an admin key: tests that reload configure this one."""


class GatedPipeline(Pipeline):
    """A real pipeline whose scoring waits at ``gate`` (warm-up excepted)."""

    gate: threading.Event
    entered: threading.Event

    @classmethod
    def wrap(cls, base: Pipeline) -> GatedPipeline:
        p = cls(base.model, base.policy, base.lexicon, model_dir=base.model_dir)
        p.gate, p.entered = threading.Event(), threading.Event()
        return p

    def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
        if notes and notes[0].id != "warmup":
            self.entered.set()
            assert self.gate.wait(15), "test gate never opened"
        return super().score_batch(notes)


@contextmanager
def serving(settings: Settings, pipeline: Pipeline | None = None, ready: bool = True,
            headers: dict[str, str] | None = None) -> Iterator[TestClient]:
    factory = (lambda _: pipeline) if pipeline is not None else None
    with TestClient(create_app(settings, pipeline_factory=factory), headers=headers) as client:
        if ready:
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, client.get("/readyz").json()
                time.sleep(0.02)
        yield client


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == code, body
    return body


def policy_doc(version: str, **changes: Any) -> dict[str, Any]:
    data = Policy.load().to_dict()
    data["version"] = version
    data.update(changes)
    return data


def bad_rule_policy(version: str) -> dict[str, Any]:
    data = policy_doc(version)
    data["rules"].append({"id": "R99-BROKEN", "when": {"signal": "no-such-kind"},
                          "add": {"declared": 1.0}})
    return data


# ----------------------------------------------------------------------------- hot reload


def test_api_reload_from_files(lexical_dir: Path, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy_doc("p-file-1")), "utf-8")
    settings = Settings(model=lexical_dir, policy=policy_file, admin_keys=frozenset({"admin-key"}))
    with serving(settings, headers=ADMIN) as c:
        assert c.post("/v1/moderate", json=NOTE).json()["policy_version"] == "p-file-1"
        policy_file.write_text(json.dumps(policy_doc("p-file-2")), "utf-8")
        r = c.post("/v1/policy/reload")
        assert r.status_code == 200, r.text
        assert r.json()["policy_version"] == "p-file-2"
        assert r.json()["previous_policy_version"] == "p-file-1"
        assert c.post("/v1/moderate", json=NOTE).json()["policy_version"] == "p-file-2"
        assert c.get("/v1/model").json()["policy_version"] == "p-file-2"

        policy_file.write_text(json.dumps(bad_rule_policy("p-file-3")), "utf-8")
        body = error(c.post("/v1/policy/reload"), 422, "invalid_policy")
        assert body["rule_id"] == "R99-BROKEN" and body["field"] == "policy"
        assert "R99-BROKEN" in body["detail"]
        assert c.post("/v1/moderate", json=NOTE).json()["policy_version"] == "p-file-2"
        metrics = c.get("/metrics").text
        assert 'notecheck_policy_reloads_total{outcome="refused"} 1.0' in metrics
        assert 'policy_version="p-file-2"' in metrics


def test_api_reload_from_json_body(lexical_dir: Path) -> None:
    with serving(Settings(model=lexical_dir, admin_keys=frozenset({"admin-key"})),
                 headers=ADMIN) as c:
        old = c.get("/v1/model").json()["policy_version"]
        stricter = policy_doc("p-body-1", thresholds={"undisclosed_ad": 0.9, "declared": 0.5})
        r = c.post("/v1/policy/reload", json={"policy": stricter})
        assert r.status_code == 200, r.text
        assert (r.json()["source"], r.json()["policy_version"]) == ("body", "p-body-1")
        assert r.json()["previous_policy_version"] == old
        model = c.get("/v1/model").json()
        assert model["thresholds"]["undisclosed_ad"] == 0.9

        body = error(c.post("/v1/policy/reload", json={"policy": bad_rule_policy("p-body-2")}),
                     422, "invalid_policy")
        assert body["rule_id"] == "R99-BROKEN"
        lexicon = {"version": "lx-bad", "entries": [
            {"id": "L-BROKEN", "kind": "disclosure", "patterns": ["(unclosed"]}]}
        body = error(c.post("/v1/policy/reload", json={"lexicon": lexicon}), 422,
                     "invalid_policy")
        assert (body["field"], body["rule_id"]) == ("lexicon", "L-BROKEN")
        for junk in ({"policy": {"rules": "none"}}, {"policy": {"rules": [1, None]}},
                     {"lexicon": {"entries": [None]}}, {"policy": {}}):
            error(c.post("/v1/policy/reload", json=junk), 422, "invalid_policy")
        error(c.post("/v1/policy/reload", json={"polcy": {}}), 422, "invalid_input")
        assert c.post("/v1/moderate", json=NOTE).json()["policy_version"] == "p-body-1"


# ----------------------------------------------------------------------------- API keys


def test_api_keys_required_except_health(lexical_dir: Path) -> None:
    settings = Settings(model=lexical_dir, api_keys=frozenset({"user-key"}),
                        admin_keys=frozenset({"admin-key"}))
    with serving(settings) as c:
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        for method, path in (("POST", "/v1/moderate"), ("POST", "/v1/moderate/batch"),
                             ("GET", "/v1/model"), ("GET", "/metrics"), ("GET", "/openapi.json"),
                             ("GET", "/docs"), ("POST", "/v1/policy/reload")):
            r = c.request(method, path, json=NOTE if method == "POST" else None)
            body = error(r, 401, "unauthorized")
            assert body["field"] == "X-API-Key" and r.headers["www-authenticate"] == "Bearer"
        error(c.post("/v1/moderate", json=NOTE, headers={"X-API-Key": "wrong"}), 401,
              "unauthorized")
        assert c.post("/v1/moderate", json=NOTE, headers={"X-API-Key": "user-key"}).is_success
        bearer = {"Authorization": "Bearer user-key"}
        assert c.post("/v1/moderate", json=NOTE, headers=bearer).is_success
        assert c.get("/metrics", headers=bearer).is_success
        assert c.post("/v1/moderate", json=NOTE, headers={"X-API-Key": "admin-key"}).is_success
        error(c.post("/v1/policy/reload", headers=bearer), 403, "forbidden")
        r = c.post("/v1/policy/reload", headers={"X-API-Key": "admin-key"})
        assert r.status_code == 200, r.text


def test_api_reload_forbidden_without_admin_keys(lexical_dir: Path) -> None:
    with serving(Settings(model=lexical_dir, api_keys=frozenset({"k"}))) as c:
        body = error(c.post("/v1/policy/reload", headers={"X-API-Key": "k"}), 403, "forbidden")
        assert "NOTECHECK_ADMIN_KEYS" in body["detail"]


def test_api_reload_refused_when_no_key_is_configured(lexical_dir: Path) -> None:
    """An API with no keys at all (local use) is open, but never its admin routes."""
    with serving(Settings(model=lexical_dir)) as c:
        assert c.post("/v1/moderate", json=NOTE).status_code == 200  # open
        for headers in ({}, {"X-API-Key": "anything"}):
            body = error(c.post("/v1/policy/reload", headers=headers), 403, "forbidden")
            assert "NOTECHECK_ADMIN_KEYS" in body["detail"] and body["field"] == "X-API-Key"
            body = error(c.post("/v1/policy/reload", json={"policy": policy_doc("p-open")},
                                headers=headers), 403, "forbidden")
        assert c.get("/v1/model").json()["policy_version"] != "p-open"
        assert 'outcome="applied"' not in c.get("/metrics").text


def test_api_catastrophic_lexicon_reload_is_refused_without_stalling(lexical_dir: Path) -> None:
    """A lexicon with a pattern that backtracks catastrophically (``(a|aa)+$`` takes minutes on
    40 a's) is refused naming the entry, by the lexicon's own checks or by the probe run in a
    child process under the reload deadline; scoring goes on meanwhile."""
    lexicon = Lexicon.load()
    doc = {"version": "lx-evil", "entries": [
        {"id": e.id, "kind": e.kind, "patterns": list(e.patterns)} for e in lexicon.entries[:3]]}
    doc["entries"].append({"id": "L-EVIL", "kind": "disclosure", "patterns": ["(a|aa)+$"]})
    settings = Settings(model=lexical_dir, admin_keys=frozenset({"admin-key"}),
                        reload_timeout_s=2.0)
    with serving(settings, headers=ADMIN) as c, ThreadPoolExecutor(1) as pool:
        t0 = time.monotonic()
        reload = pool.submit(c.post, "/v1/policy/reload", json={"lexicon": doc})
        latencies = []
        while not reload.done():
            t = time.monotonic()
            assert c.post("/v1/moderate", json=NOTE).status_code == 200
            latencies.append(time.monotonic() - t)
        body = error(reload.result(), 422, "invalid_policy")
        assert time.monotonic() - t0 < 10
        assert (body["field"], body["rule_id"]) == ("lexicon", "L-EVIL")
        assert latencies and max(latencies) < 1.0, latencies  # scoring never waited
        assert c.get("/v1/model").json()["lexicon_version"] != "lx-evil"
        assert c.post("/v1/moderate", json={**NOTE, "text": "a" * 40 + "!"}).status_code == 200


def test_api_reload_check_has_a_deadline(lexical_dir: Path) -> None:
    """The check of a reload is bounded by ``reload_timeout_s``: past it the child is killed and
    the reload refused (here every check is too slow: 50 ms do not even start Python)."""
    settings = Settings(model=lexical_dir, admin_keys=frozenset({"admin-key"}),
                        reload_timeout_s=0.05)
    with serving(settings, headers=ADMIN) as c:
        before = c.get("/v1/model").json()["policy_version"]
        t0 = time.monotonic()
        body = error(c.post("/v1/policy/reload", json={"policy": policy_doc("p-slow")}), 422,
                     "invalid_policy")
        assert time.monotonic() - t0 < 5
        assert "longer than 0.05 s" in body["detail"] and "NOTECHECK_RELOAD_TIMEOUT_S" in \
            body["detail"]
        error(c.post("/v1/policy/reload"), 422, "invalid_policy")  # from files: the same bound
        assert c.get("/v1/model").json()["policy_version"] == before


# ----------------------------------------------------------------------------- back-pressure


@pytest.fixture(scope="module")
def base_pipeline(lexical_dir: Path) -> Pipeline:
    return Pipeline.load(lexical_dir)


def test_api_queue_full_is_429_with_retry_after(base_pipeline: Pipeline) -> None:
    slow = GatedPipeline.wrap(base_pipeline)
    settings = Settings(max_queue=1, max_batch_size=1, max_wait_ms=0)
    with serving(settings, slow) as c, ThreadPoolExecutor(2) as pool:
        first: Future[httpx.Response] = pool.submit(c.post, "/v1/moderate", json=NOTE)
        assert slow.entered.wait(10)  # the scoring thread holds the first request
        second = pool.submit(c.post, "/v1/moderate", json={**NOTE, "id": "n2"})
        service = c.app.state.service  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while service.batcher.depth() < 1:  # the second one waits in the queue
            assert time.monotonic() < deadline
            time.sleep(0.005)
        r = c.post("/v1/moderate", json={**NOTE, "id": "n3"})
        error(r, 429, "queue_full")
        assert int(r.headers["retry-after"]) >= 1
        slow.gate.set()
        assert first.result(10).status_code == 200 and second.result(10).status_code == 200
        assert 'status="429"' in c.get("/metrics").text


def test_api_deadline_exceeded_is_504(base_pipeline: Pipeline) -> None:
    slow = GatedPipeline.wrap(base_pipeline)
    with serving(Settings(request_timeout_s=0.2), slow) as c:
        t0 = time.monotonic()
        error(c.post("/v1/moderate", json=NOTE), 504, "deadline_exceeded")
        assert time.monotonic() - t0 < 5
        slow.gate.set()
        assert c.post("/v1/moderate", json=NOTE).status_code == 200


def test_api_not_ready_is_503_until_loaded(base_pipeline: Pipeline) -> None:
    loaded = threading.Event()

    def slow_load(_: Settings) -> Pipeline:
        assert loaded.wait(15)
        return base_pipeline

    settings = Settings(admin_keys=frozenset({"admin-key"}))
    with TestClient(create_app(settings, pipeline_factory=slow_load), headers=ADMIN) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        r = c.post("/v1/moderate", json=NOTE)
        error(r, 503, "not_ready")
        assert "retry-after" in r.headers
        error(c.get("/v1/model"), 503, "not_ready")
        error(c.post("/v1/policy/reload"), 503, "not_ready")
        loaded.set()
        deadline = time.monotonic() + 15
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert c.post("/v1/moderate", json=NOTE).status_code == 200


def test_api_failed_load_reports_reason(tmp_path: Path) -> None:
    with serving(Settings(model=tmp_path / "missing"), ready=False) as c:
        deadline = time.monotonic() + 15
        while (ready := c.get("/readyz").json())["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert ready["status"] == "failed" and "does not exist" in ready["detail"]
        assert c.get("/healthz").status_code == 200
        error(c.post("/v1/moderate", json=NOTE), 503, "not_ready")


def test_api_access_log_with_note_text_when_enabled(lexical_dir: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with serving(Settings(model=lexical_dir, log_note_text=True)) as c, \
            caplog.at_level("INFO", logger="notecheck.access"):
        c.post("/v1/moderate", json={**NOTE, "request_id": "with-text"})
    payload = next(r.payload for r in caplog.records
                   if getattr(r, "payload", {}).get("request_id") == "with-text")
    assert payload["notes"] == [{"id": "n1", "title": "", "text": NOTE["text"]}]
