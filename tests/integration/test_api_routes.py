"""Contract tests of every route and every client error, through the app's test client, with the
tiny lexical model of ``conftest.lexical_dir`` loaded through the production loader."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.http.app import create_app
from serving.http.settings import Settings

NOTE = {"id": "n1", "title": "新入手的面霜",
        "text": "用了两周，保湿不错。@某某官方旗舰店 加薇信abc123领券，到手价99元"}


def wait_ready(client: TestClient, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"not ready after {timeout_s} s: {client.get('/readyz').json()}")


@pytest.fixture(scope="module")
def client(lexical_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model=lexical_dir, max_text_chars=500, max_body_bytes=64 * 1024)
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        yield c


def assert_error(r: Any, status: int, error: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error, body
    assert body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# ----------------------------------------------------------------------------- happy paths


def test_api_moderate_one_note(client: TestClient) -> None:
    r = client.post("/v1/moderate", json={**NOTE, "request_id": "req-1"})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["id"] == "n1" and v["request_id"] == "req-1" and r.headers["x-request-id"] == "req-1"
    assert v["label"] in ("sharing", "undisclosed_ad", "declared")
    assert v["decision"] in ("pass", "review", "block")
    assert set(v["scores"]) == {"sharing", "undisclosed_ad", "declared"}
    assert abs(sum(v["scores"].values()) - 1) < 1e-4
    assert v["model_version"] == "toy-lexical@t1" and v["policy_version"]
    assert v["took_ms"] >= 0
    spans = [x for x in v["reasons"] if x["start"] is not None]
    assert spans, v["reasons"]
    for reason in spans:  # offsets point at the evidence in the note (quoted in its text)
        span = NOTE[reason["field"]][reason["start"]:reason["end"]]
        assert span and span.strip("@#") in reason["evidence"], (span, reason)


def test_api_request_id_from_header_or_generated(client: TestClient) -> None:
    r = client.post("/v1/moderate", json=NOTE, headers={"X-Request-ID": "trace-abc"})
    assert r.json()["request_id"] == "trace-abc" == r.headers["x-request-id"]
    r = client.post("/v1/moderate", json={**NOTE, "request_id": "body-wins"},
                    headers={"X-Request-ID": "trace-abc"})
    assert r.json()["request_id"] == "body-wins"
    r = client.post("/v1/moderate", json=NOTE)
    generated = r.json()["request_id"]
    assert len(generated) == 32 and generated == r.headers["x-request-id"]


def test_api_moderate_batch_keeps_order(client: TestClient) -> None:
    notes = [{"id": f"b{i}", "text": t} for i, t in enumerate(
        ["带娃去公园野餐，天气超好", "内部渠道拿货，全网最低价，私我获取购买方式，V: abc12345",
         "本篇为品牌合作，感谢XX品牌邀请试用新款面霜"])]
    notes.append({"id": "b3", "text": "官方合作款", "sponsor_flag": True,
                  "author": {"account_type": "enterprise", "has_store": True}})
    r = client.post("/v1/moderate/batch", json={"request_id": "batch-1", "notes": notes})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request_id"] == "batch-1" and body["count"] == 4
    assert [v["id"] for v in body["verdicts"]] == ["b0", "b1", "b2", "b3"]
    assert body["verdicts"][3]["label"] == "declared"  # the platform's sponsor flag settles it


def test_api_canonical_example_notes_are_accepted(client: TestClient) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "notes_canonical.jsonl"
    notes = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    r = client.post("/v1/moderate/batch", json={"notes": notes})
    assert r.status_code == 200, r.text
    assert [v["id"] for v in r.json()["verdicts"]] == [n["id"] for n in notes]


def test_api_batch_of_100_is_accepted(client: TestClient) -> None:
    notes = [{"id": str(i), "text": f"第{i}条笔记，记录生活"} for i in range(100)]
    r = client.post("/v1/moderate/batch", json={"notes": notes})
    assert r.status_code == 200 and r.json()["count"] == 100


def test_api_health_ready_and_model(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_version"] == "toy-lexical@t1"
    info = client.get("/v1/model").json()
    assert info["labels"] == ["sharing", "undisclosed_ad", "declared"]
    assert info["model_version"] == "toy-lexical@t1"
    assert set(info["thresholds"]) <= {"undisclosed_ad", "declared"}
    assert {"block", "review_ad", "min_confidence"} <= set(info["bands"])
    assert info["rules"] and all("id" in r for r in info["rules"])
    assert info["limits"]["max_text_chars"] == 500


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with ``labels`` (a subset) in Prometheus text, parsed by
    prometheus_client's own parser; ``None`` when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


def test_api_metrics_prometheus_text(client: TestClient) -> None:
    client.post("/v1/moderate", json=NOTE)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (metric(text, "notecheck_http_requests_total", route="/v1/moderate", method="POST",
                   status="200") or 0) >= 1
    assert metric(text, "notecheck_http_request_duration_seconds_bucket", route="/v1/moderate",
                  le="+Inf")
    assert metric(text, "notecheck_batch_size_count") and \
        metric(text, "notecheck_queue_depth") is not None
    assert metric(text, "notecheck_verdicts_total") and metric(text, "notecheck_ready") == 1
    assert metric(text, "notecheck_info", model_version="toy-lexical@t1") == 1
    assert metric(text, "process_resident_memory_bytes")


def test_api_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/moderate", "/v1/moderate/batch", "/healthz", "/readyz", "/metrics",
            "/v1/model", "/v1/policy/reload"} <= set(spec["paths"])
    examples = spec["paths"]["/v1/moderate"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    assert any("软广" in e["summary"] for e in examples.values())
    assert "swagger" in client.get("/docs").text.lower()


def test_api_access_log_is_json_without_text(client: TestClient,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="notecheck.access"):
        client.post("/v1/moderate/batch", json={"request_id": "log-1", "notes": [NOTE, NOTE]})
    records = [r.payload for r in caplog.records if r.name == "notecheck.access"]
    line = next(p for p in records if p["request_id"] == "log-1")
    assert line["route"] == "/v1/moderate/batch" and line["status"] == 200
    assert line["n_notes"] == 2 and line["ms"] >= 0
    assert "加薇" not in json.dumps(line, ensure_ascii=False)


# ----------------------------------------------------------------------------- client errors


@pytest.mark.parametrize(("body", "field"), [
    ({"id": "x"}, "text"),                                    # missing text
    ({"id": "x", "text": 5}, "text"),                         # non-string text
    ({"id": "x", "text": None}, "text"),
    ({"text": "正文"}, "id"),                                 # missing id
    ({"id": "x", "text": "正文", "sponsor_flag": "maybe"}, "sponsor_flag"),  # by the reader
    ({"id": "x", "text": "正文", "sponsor_flag": 0.5}, "sponsor_flag"),      # by the schema
    ({"id": "x", "text": "正文", "mentions": "@a"}, "mentions"),
    ({"id": "x", "text": "正文", "author": {"account_type": "robot"}}, "author.account_type"),
    ({"id": "x", "text": "正文", "author": {"followers": -1}}, "author.followers"),
    ({"id": "x", "text": "正文", "product_tags": [{"name": ""}]}, "product_tags[0].name"),
    ({"id": "x", "text": "正文", "product_tags": [{"name": "霜", "price": "贵"}]},
     "product_tags[0].price"),                                 # checked by note_from_dict
    ({"id": "x", "text": "正文", "product_tags": [{"name": "霜", "price": False}]},
     "product_tags[0].price"),
    ({"id": "x", "text": "正文", "likes": -1}, "likes"),
    ({"id": "x", "text": "正文", "likes": "很多"}, "likes"),
    ({"note_id": "x", "desc": 5}, "desc"),                     # a crawler field, by the reader
    ({"id": True, "text": "正文"}, "id"),
    ({"id": "x", "text": "", "title": ""}, "text"),           # nothing to score
    ({"id": "x", "text": "长" * 501}, "text"),                 # over the (test) text limit
    ({"id": "x", "text": "正文", "title": "长" * 501}, "title"),
    ({"id": "x", "text": "\ud800"}, "text"),                  # a lone surrogate
    ({"id": "x", "text": "正文", "request_id": "has space"}, "request_id"),
    ([NOTE], "body"),                                         # not an object
])
def test_api_moderate_invalid_input_names_field(client: TestClient, body: Any,
                                                field: str) -> None:
    r = client.post("/v1/moderate", content=json.dumps(body).encode("ascii"),  # \ud800 escaped
                    headers={"Content-Type": "application/json"})
    assert_error(r, 422, "invalid_input", field)


# ----------------------------------------------------------------------------- one reader


def test_api_reads_crawler_rows_exactly_like_score(client: TestClient, lexical_dir: Path,
                                                   tmp_path: Path) -> None:
    """The MediaCrawler example dump through the API and through ``notecheck score``: the same
    notes, the same verdicts; the crawler's extra fields are listed as ignored."""
    from classifier.notes import unknown_fields
    from classifier.pipeline import Pipeline
    from serving.batch.local import score_file

    path = Path(__file__).resolve().parents[2] / "examples" / "notes_crawler.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    r = client.post("/v1/moderate/batch", json={"notes": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    score_file(Pipeline.load(lexical_dir), path, tmp_path / "out.jsonl", progress=False)
    cli = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    keys = ("id", "label", "decision", "scores", "reasons")
    assert [{k: v[k] for k in keys} for v in body["verdicts"]] == \
        [{k: v[k] for k in keys} for v in cli]
    assert [v["id"] for v in body["verdicts"]] == [row["note_id"] for row in rows]
    warnings = {w["field"]: w["fields"] for w in body["warnings"]}
    assert warnings["notes[0]"] == list(unknown_fields(rows[0]))
    assert "ip_location" in warnings["notes[0]"] and "note_id" not in warnings["notes[0]"]


def test_api_platform_note_object(client: TestClient) -> None:
    note = {"note_id": "p1", "display_title": "新品", "desc": "收到品牌方寄的面霜 @某某官方",
            "at_user_list": [{"nickname": "某某官方", "user_id": "u1"}],
            "tag_list": [{"id": "t1", "name": "护肤", "type": "topic"},
                         {"id": "g1", "name": "保湿面霜", "type": "goods"}],
            "interact_info": {"liked_count": "1.2万"}, "user": {"user_id": "u9", "nickname": "小薯"},
            "cooperate_binds": [{"brand": "某某"}]}
    r = client.post("/v1/moderate", json=note)
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["id"] == "p1" and v["label"] == "declared"  # the cooperation flag settles it
    assert v["warnings"] == []


def test_api_unknown_fields_are_ignored_and_listed(client: TestClient) -> None:
    r = client.post("/v1/moderate", json={**NOTE, "label": "sharing", "txt": "typo"})
    assert r.status_code == 200, r.text
    plain = client.post("/v1/moderate", json=NOTE).json()
    v = r.json()
    assert (v["label"], v["scores"]) == (plain["label"], plain["scores"])  # ignored
    assert v["warnings"] == [{"warning": "unknown_fields", "field": None, "fields": ["label", "txt"],
                              "detail": v["warnings"][0]["detail"]}]
    assert "label, txt" in v["warnings"][0]["detail"]
    assert plain["warnings"] == []
    r = client.post("/v1/moderate/batch", json={"notes": [NOTE, {**NOTE, "ip_location": "上海"}]})
    assert r.status_code == 200, r.text
    assert [(w["field"], w["fields"]) for w in r.json()["warnings"]] == \
        [("notes[1]", ["ip_location"])]


@pytest.mark.parametrize(("body", "field"), [
    ({"notes": []}, "notes"),
    ({"notes": [NOTE] * 101}, "notes"),
    ({"notes": [NOTE, {"id": "x", "text": 1}]}, "notes[1].text"),
    ({"notes": [NOTE, NOTE, {"id": "x", "text": "长" * 501}]}, "notes[2].text"),
    ({"notes": [NOTE, {"id": " ", "text": "正文"}]}, "notes[1].id"),
    ({"note": [NOTE]}, "notes"),
])
def test_api_batch_invalid_input_names_field(client: TestClient, body: Any, field: str) -> None:
    r = client.post("/v1/moderate/batch", json=body)
    assert_error(r, 422, "invalid_input", field)


def test_api_body_too_large_is_413(client: TestClient) -> None:
    big = {"notes": [{"id": str(i), "text": "长" * 400} for i in range(100)]}  # ~120 kB > 64 kB
    assert_error(client.post("/v1/moderate/batch", json=big), 413, "payload_too_large", "body")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"id": "x", "text": "'
        for _ in range(100):
            yield b"a" * 1024
        yield b'"}'

    r = client.post("/v1/moderate", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_api_invalid_utf8_is_400(client: TestClient) -> None:
    r = client.post("/v1/moderate", content=b'{"id": "x", "text": "\xff\xfe"}',
                    headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_encoding", "body")


def test_api_invalid_json_is_400(client: TestClient) -> None:
    r = client.post("/v1/moderate", content=b'{"id": "x", "text": ',
                    headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json", "body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", None])
def test_api_unknown_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/v1/moderate", content=json.dumps(NOTE).encode(), headers=headers)
    assert_error(r, 415, "unsupported_media", "Content-Type")


def test_api_json_suffix_content_type_is_accepted(client: TestClient) -> None:
    r = client.post("/v1/moderate", content=json.dumps(NOTE).encode(),
                    headers={"Content-Type": "application/merged-patch+json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_api_bad_request_id_header_is_422(client: TestClient) -> None:
    r = client.post("/v1/moderate", json=NOTE, headers={"X-Request-ID": "x" * 200})
    assert_error(r, 422, "invalid_input", "X-Request-ID")


def test_api_unknown_route_and_method(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/moderate"), 405, "method_not_allowed")


# ----------------------------------------------------------------------------- fuzzing

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
_FIELDS = st.sampled_from(["id", "note_id", "title", "text", "desc", "mentions", "topics",
                           "product_tags", "sponsor_flag", "author", "user", "likes",
                           "liked_count", "comments", "published_at", "time", "tag_list",
                           "at_user_list", "interact_info", "label", "ip_location"])
_NOTES = st.dictionaries(_FIELDS, _JSON, max_size=6).map(
    lambda d: {"id": "f", "text": "正文", **d})


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=st.lists(_NOTES, min_size=1, max_size=4))
def test_api_fuzzed_notes_never_5xx_and_every_note_is_answered(
        client: TestClient, notes: list[dict[str, Any]]) -> None:
    """Arbitrary JSON in any note field, known or not: a verdict for every note, in order, or
    one 4xx naming a field, never a 5xx."""
    r = client.post("/v1/moderate/batch", json={"notes": notes})
    assert r.status_code in (200, 422), r.text
    body = r.json()
    if r.status_code == 200:
        assert body["count"] == len(notes) == len(body["verdicts"])
        for i, w in ((int(w["field"][6:-1]), w) for w in body["warnings"]):
            assert set(w["fields"]) <= set(notes[i]) and "id" not in w["fields"]
    else:
        assert body["field"].startswith("notes") and body["detail"], body
