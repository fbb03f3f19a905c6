"""Contract tests of the reviewer console's routes (the page, explain, upload, feedback) through
the app's test client, with the tiny lexical model of ``conftest.lexical_dir``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from classifier.notes import note_from_dict
from classifier.pipeline import Pipeline
from classifier.types import Author, Note, ProductTag, Verdict
from serving.http.app import create_app
from serving.http.feedback import FeedbackEntry, FeedbackStore, note_record
from serving.http.settings import Settings
from training.data import load_labelled

KEY = "console-test-key"
AD_NOTE = {"id": "n-ad", "title": "挖到宝了",
           "text": "用了两周，保湿不错。到手价只要99，链接在主页，加薇❤abc12345领优惠券 😀"}


def wait_ready(client: TestClient, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.02)


@pytest.fixture(scope="module")
def feedback_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console") / "reviews" / "feedback.jsonl"


@pytest.fixture(scope="module")
def client(lexical_dir: Path, feedback_file: Path) -> Iterator[TestClient]:
    settings = Settings(model=lexical_dir, max_text_chars=500, max_upload_bytes=4096,
                        max_body_bytes=64 * 1024, feedback_path=feedback_file)
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        yield c


@pytest.fixture(scope="module")
def keyed(lexical_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(model=lexical_dir, api_keys=frozenset({KEY}),
                        feedback_path=tmp_path_factory.mktemp("keyed") / "feedback.jsonl")
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        yield c


def error_of(r: Any, status: int, error: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == error and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


# ----------------------------------------------------------------------------- the page


def test_console_page_served_with_csp_and_no_inline_script(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", r.text, flags=re.DOTALL)
    assert scripts and all(body.strip() == "" for body in scripts)  # external files only
    assert not re.search(r"\son[a-z]+\s*=", r.text)                   # no inline handlers
    assert 'name="notecheck-max-upload-bytes" content="4096"' in r.text
    assert 'name="notecheck-auth" content="false"' in r.text


@pytest.mark.parametrize(("name", "media"), [("console.js", "text/javascript"),
                                             ("console.css", "text/css")])
def test_console_static_files(client: TestClient, name: str, media: str) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    assert r.headers["content-security-policy"]


def test_console_static_refuses_other_names(client: TestClient) -> None:
    error_of(client.get("/static/index.html"), 404, "not_found")
    assert client.get("/static/..%2Fsettings.py").status_code == 404


def test_console_js_never_uses_html_sinks() -> None:
    js = (Path(__file__).resolve().parents[2] / "serving" / "http" / "static" / "console.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js.replace("never innerHTML", "").replace("an innerHTML assignment",
                                                                      ""), sink


# ----------------------------------------------------------------------------- explain


def test_console_explain_returns_note_verdict_and_signals(client: TestClient) -> None:
    r = client.post("/v1/moderate/explain", json={**AD_NOTE, "request_id": "ex-1"})
    assert r.status_code == 200, r.text
    item = r.json()
    assert item["request_id"] == "ex-1" and item["row"] is None
    assert item["verdict"]["id"] == "n-ad" and item["note"]["text"] == AD_NOTE["text"]
    assert set(item["verdict"]["scores"]) == {"sharing", "undisclosed_ad", "declared"}
    kinds = {s["kind"] for s in item["signals"]}
    assert {"diversion", "price"} <= kinds, kinds
    for s in item["signals"]:  # offsets are code points into the field, as the reasons'
        assert AD_NOTE[s["field"]][s["start"]:s["end"]] == s["text"]
    spans = {(s["field"], s["start"], s["end"]) for s in item["signals"]}
    for reason in item["verdict"]["reasons"]:
        if reason["start"] is not None:
            assert (reason["field"], reason["start"], reason["end"]) in spans, reason


def test_console_explain_validates_like_moderate(client: TestClient) -> None:
    error_of(client.post("/v1/moderate/explain", json={"id": "x", "text": "a" * 501}),
             422, "invalid_input", "text")
    r = client.post("/v1/moderate/explain", json={"id": "x", "text": "hi", "txt": "hi"})
    assert r.status_code == 200 and r.json()["warnings"][0]["fields"] == ["txt"]  # as moderate


# ----------------------------------------------------------------------------- upload


def test_console_upload_jsonl_good_and_bad_rows(client: TestClient) -> None:
    rows = [json.dumps({"id": "u1", "text": "周末去了家面馆，汤头很鲜"}, ensure_ascii=False),
            "{not json",
            json.dumps({"id": "u3", "title": "", "text": ""}),
            json.dumps({"note_id": "u4", "desc": "加薇abc12345 #好物[话题]#"}, ensure_ascii=False),
            json.dumps({"id": "u5", "text": "ok", "author": {"followers": "many"}})]
    r = client.post("/v1/moderate/upload", json={"filename": "dump.jsonl",
                                                 "content": "\n".join(rows) + "\n"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["format"] == "jsonl" and out["count"] == 2 and out["error_count"] == 3
    assert [i["row"] for i in out["items"]] == [1, 4]
    assert [i["verdict"]["id"] for i in out["items"]] == ["u1", "u4"]
    assert out["items"][1]["note"]["topics"] == ["好物"]  # crawler fields went through notes.py
    errors = {e["row"]: e for e in out["errors"]}
    assert set(errors) == {2, 3, 5}
    assert "invalid JSON" in errors[2]["reason"] and errors[2]["raw"] == "{not json"
    assert errors[3]["field"] == "text"
    assert errors[5]["field"] == "author.followers"


def test_console_upload_csv_by_extension_and_by_sniffing(client: TestClient) -> None:
    csv_text = ('id,title,text,sponsor_flag\nc1,体验,"#品牌合作 品牌方赠送的面霜，质地清爽",true\n'
                'c2,,,\n,,,\n')  # c2 has no text: an error; the blank row is skipped
    for filename in ("reviews.csv", None):
        r = client.post("/v1/moderate/upload", json={"filename": filename, "content": csv_text})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["format"] == "csv" and out["count"] == 1
        assert out["items"][0]["note"]["sponsor_flag"] is True
        assert out["items"][0]["verdict"]["label"] == "declared"
        assert [(e["row"], e["field"]) for e in out["errors"]] == [(2, "text")]


def test_console_upload_format_problems_are_422(client: TestClient) -> None:
    body = error_of(client.post("/v1/moderate/upload",
                                json={"filename": "d.parquet", "content": "PAR1"}),
                    422, "invalid_input", "format")
    assert "JSONL or CSV" in body["detail"]
    body = error_of(client.post("/v1/moderate/upload", json={"content": "just words"}),
                    422, "invalid_input", "content")
    assert "/tmp" not in body["detail"] and "notecheck-upload" not in body["detail"]
    error_of(client.post("/v1/moderate/upload", json={"content": "x", "format": "xml"}),
             422, "invalid_input", "format")


def test_console_upload_empty_dump_gives_no_rows(client: TestClient) -> None:
    r = client.post("/v1/moderate/upload", json={"filename": "e.jsonl", "content": ""})
    assert r.status_code == 200 and r.json()["count"] == 0 and r.json()["items"] == []


def test_console_upload_over_the_limit_is_413(client: TestClient) -> None:
    line = json.dumps({"id": "big", "text": "很" * 200}, ensure_ascii=False) + "\n"
    content = line * 8  # ~4.9 KB of UTF-8, over max_upload_bytes=4096
    body = error_of(client.post("/v1/moderate/upload", json={"content": content}),
                    413, "payload_too_large", "content")
    assert "4,096" in body["detail"]


def test_console_upload_more_than_one_batch(client: TestClient) -> None:
    lines = "".join(f'{{"id":"m{i}","text":"x"}}\n' for i in range(130))  # 3.2 KB
    r = client.post("/v1/moderate/upload", json={"filename": "m.jsonl", "content": lines})
    assert r.status_code == 200, r.text
    assert [i["verdict"]["id"] for i in r.json()["items"]] == [f"m{i}" for i in range(130)]


# ----------------------------------------------------------------------------- feedback


def test_console_feedback_appended_and_loadable_for_training(client: TestClient,
                                                             feedback_file: Path) -> None:
    explained = client.post("/v1/moderate/explain", json=AD_NOTE).json()
    verdict = explained["verdict"]
    first = {"note": explained["note"], "label": "undisclosed_ad", "reviewer": " 李审核 ",
             "predicted_label": verdict["label"], "predicted_decision": verdict["decision"],
             "model_version": verdict["model_version"],
             "policy_version": verdict["policy_version"], "comment": "导流到微信"}
    r = client.post("/v1/feedback", json=first)
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["stored"] and saved["id"] == "n-ad" and saved["reviewer"] == "李审核"
    second = {"note": {"id": "n-2", "text": "<script>alert(1)</script> 自费买的，一般般",
                       "product_tags": [{"name": "面霜", "store": "某店", "price": "¥99"}],
                       "author": {"account_type": "creator", "followers": 12}},
              "label": "sharing", "reviewer": "wang"}
    assert client.post("/v1/feedback", json=second).status_code == 201

    lines = [json.loads(x) for x in feedback_file.read_text("utf-8").splitlines()]
    assert len(lines) == 2
    one, two = lines
    assert one["label"] == "undisclosed_ad" and one["reviewer"] == "李审核"
    assert one["model_version"] == verdict["model_version"] and one["at"] == saved["at"]
    assert one["predicted_label"] == verdict["label"] and one["review_comment"] == "导流到微信"
    assert two["model_version"] == "toy-lexical@t1"  # filled in from the model in service
    assert two["product_tags"] == [{"name": "面霜", "store": "某店", "price": 99.0}]

    examples = load_labelled(feedback_file)  # what `notecheck train --data FILE` reads
    assert [(x.note.id, x.label) for x in examples] == [("n-ad", "undisclosed_ad"),
                                                        ("n-2", "sharing")]
    assert examples[0].note.text == AD_NOTE["text"] and examples[0].note.title == "挖到宝了"
    assert examples[1].note.author.account_type == "creator"
    assert examples[1].note.author.followers == 12


@pytest.mark.parametrize(("change", "field"), [
    ({"label": "ad"}, "label"),
    ({"reviewer": "   "}, "reviewer"),
    ({"reviewer": ""}, "reviewer"),
    ({"note": {"id": "x", "text": ""}}, "note.text"),
    ({"note": {"id": "x", "text": "a" * 501}}, "note.text"),
    ({"predicted_decision": "maybe"}, "predicted_decision"),
    ({"extra": 1}, "extra"),
])
def test_console_feedback_refuses_bad_input(client: TestClient, change: dict[str, Any],
                                            field: str) -> None:
    body = {"note": {"id": "x", "text": "hello"}, "label": "sharing", "reviewer": "li", **change}
    error_of(client.post("/v1/feedback", json=body), 422, "invalid_input", field)


def test_console_feedback_unwritable_file_is_503(lexical_dir: Path, tmp_path: Path) -> None:
    settings = Settings(model=lexical_dir, feedback_path=tmp_path)  # a folder: cannot append
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        r = c.post("/v1/feedback", json={"note": {"id": "x", "text": "hi"}, "label": "sharing",
                                         "reviewer": "li"})
        body = error_of(r, 503, "feedback_unavailable", "feedback_path")
        assert str(tmp_path) not in body["detail"]


def test_console_note_record_round_trips() -> None:
    note = Note(id="n1", title="新入手的面霜", text="用了两周 @某某 #护肤#",
                mentions=("某某",), topics=(), sponsor_flag=True,
                product_tags=(ProductTag(name="面霜", store="店", price=99.0), ProductTag("x")),
                author=Author(account_type="enterprise", has_store=True, followers=10, id="u1"),
                published_at="2026-05-01T00:00:00+00:00", likes=3)
    record = note_record(note)
    assert note_from_dict(json.loads(json.dumps(record))) == note
    assert "views" not in record and "name" not in record["author"]


def test_console_feedback_entry_checks_itself(tmp_path: Path) -> None:
    note = Note(id="n", text="t")
    with pytest.raises(ValueError, match="label"):
        FeedbackEntry(note, "ad", "li", FeedbackStore.now())
    store = FeedbackStore(tmp_path / "f.jsonl")
    assert store.count() == 0
    store.append(FeedbackEntry(note, "declared", "li", FeedbackStore.now()))
    assert store.count() == 1


def test_console_feedback_file_rotates_at_its_size_limit(lexical_dir: Path,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    settings = Settings(model=lexical_dir, feedback_path=path, feedback_max_bytes=2048,
                        feedback_backups=2)
    n = 40  # ~400 bytes each: about 16 KB in all, far over what three files of 2 KB hold
    with TestClient(create_app(settings)) as c:
        wait_ready(c)
        for i in range(n):
            r = c.post("/v1/feedback", json={"note": {"id": f"f{i}", "text": "记录生活" * 10},
                                             "label": "sharing", "reviewer": "li"})
            assert r.status_code == 201, r.text
    files = [path.with_name("feedback.2.jsonl"), path.with_name("feedback.1.jsonl"), path]
    assert sorted(tmp_path.iterdir()) == sorted(files)  # no third backup: the oldest went
    assert all(0 < f.stat().st_size <= 2048 for f in files)
    ids = [json.loads(line)["id"] for f in files for line in f.read_text("utf-8").splitlines()]
    assert ids == [f"f{i}" for i in range(n - len(ids), n)]  # the newest, in order, no gaps
    store = FeedbackStore(path, max_bytes=2048, backups=2)
    assert store.files() == files
    assert [x.note.id for f in files for x in load_labelled(f)] == ids  # still training data


def test_console_feedback_store_single_oversized_entry(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl", max_bytes=100, backups=1)
    note = Note(id="n", text="长" * 200)
    store.append(FeedbackEntry(note, "sharing", "li", FeedbackStore.now()))  # alone: kept whole
    store.append(FeedbackEntry(note, "sharing", "li", FeedbackStore.now()))
    assert store.count() == 1 and FeedbackStore(tmp_path / "f.1.jsonl").count() == 1
    with pytest.raises(ValueError, match="backups"):
        FeedbackStore(tmp_path / "g.jsonl", backups=0)


def test_console_feedback_warns_about_unknown_note_fields(client: TestClient,
                                                         feedback_file: Path) -> None:
    note = {"note_id": "crawl-1", "desc": "自费买的，一般般", "ip_location": "上海",
            "liked_count": "1.2万"}
    r = client.post("/v1/feedback", json={"note": note, "label": "sharing", "reviewer": "li"})
    assert r.status_code == 201, r.text
    assert [(w["field"], w["fields"]) for w in r.json()["warnings"]] == \
        [("note", ["ip_location"])]
    stored = json.loads(feedback_file.read_text("utf-8").splitlines()[-1])
    assert stored["id"] == "crawl-1" and stored["likes"] == 12000 and "ip_location" not in stored


def test_console_upload_lists_ignored_fields_per_row(client: TestClient) -> None:
    rows = [{"note_id": "c1", "desc": "自费买的", "ip_location": "上海"}, {"id": "c2", "text": "x"},
            {"id": "c3", "text": "y", "label": "sharing"}]
    content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    r = client.post("/v1/moderate/upload", json={"filename": "c.jsonl", "content": content})
    assert r.status_code == 200, r.text
    assert [(w["field"], w["fields"]) for w in r.json()["warnings"]] == \
        [("row 1", ["ip_location"]), ("row 3", ["label"])]


def test_console_upload_has_an_overall_deadline(lexical_dir: Path) -> None:
    """Each model call is quick enough for the per-request deadline, but all of them together
    take longer than ``upload_timeout_s``: 504, long before the rows are all scored."""
    base = Pipeline.load(lexical_dir)

    class SlowPipeline(Pipeline):
        def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
            if notes and notes[0].id != "warmup":
                time.sleep(0.6)
            return super().score_batch(notes)

    slow = SlowPipeline(base.model, base.policy, base.lexicon, model_dir=base.model_dir)
    settings = Settings(upload_timeout_s=0.3, request_timeout_s=10, max_batch_size=128,
                        max_wait_ms=0)
    lines = "".join(f'{{"id":"d{i}","text":"第{i}条"}}\n' for i in range(400))  # 4 model calls
    with TestClient(create_app(settings, pipeline_factory=lambda _: slow)) as c:
        wait_ready(c)
        t0 = time.monotonic()
        r = c.post("/v1/moderate/upload", json={"filename": "d.jsonl", "content": lines})
        took = time.monotonic() - t0
        body = error_of(r, 504, "deadline_exceeded", "content")
        assert "0.3 s" in body["detail"] and "NOTECHECK_UPLOAD_TIMEOUT_S" in body["detail"]
        assert took < 2.0, took  # all four model calls would take 2.4 s
        assert c.post("/v1/moderate", json={"id": "s", "text": "x"}).status_code == 200


def test_console_settings_feedback_variable() -> None:
    assert Settings.from_env({}).feedback_path == Path("feedback.jsonl")
    assert Settings.from_env({"NOTECHECK_FEEDBACK": "a.jsonl"}).feedback_path == Path("a.jsonl")
    both = {"NOTECHECK_FEEDBACK": "a.jsonl", "NOTECHECK_FEEDBACK_PATH": "b.jsonl"}
    assert Settings.from_env(both).feedback_path == Path("b.jsonl")
    assert Settings.from_env({"NOTECHECK_MAX_UPLOAD_BYTES": "2048"}).max_upload_bytes == 2048


# ----------------------------------------------------------------------------- API key


def test_console_api_key_enforced(keyed: TestClient) -> None:
    page = keyed.get("/")  # the page itself holds no data: it loads, then asks for the key
    assert page.status_code == 200 and 'name="notecheck-auth" content="true"' in page.text
    assert keyed.get("/static/console.js").status_code == 200
    feedback = {"note": {"id": "x", "text": "hi"}, "label": "sharing", "reviewer": "li"}
    calls = [("/v1/feedback", feedback), ("/v1/moderate/explain", {"id": "x", "text": "hi"}),
             ("/v1/moderate/upload", {"content": '{"id": "x", "text": "hi"}\n'})]
    for path, body in calls:
        error_of(keyed.post(path, json=body), 401, "unauthorized", "X-API-Key")
        error_of(keyed.post(path, json=body, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        r = keyed.post(path, json=body, headers={"X-API-Key": KEY})
        assert r.status_code in (200, 201), (path, r.text)
