"""A lexicon reload cannot stall scoring: a catastrophic pattern sent to the API is refused with
its entry id (422), quickly, and the lexicon in force keeps scoring."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from serving.http.app import create_app
from serving.http.settings import Settings

ADMIN = {"X-API-Key": "admin-key"}


def test_api_reload_refuses_a_catastrophic_lexicon_pattern(lexical_dir: Path) -> None:
    settings = Settings(model=lexical_dir, admin_keys=frozenset({"admin-key"}))
    with TestClient(create_app(settings), headers=ADMIN) as c:
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        before = c.get("/v1/model").json()["lexicon_version"]
        lexicon = {"version": "lx-slow", "entries": [
            {"id": "L-OK", "kind": "price", "patterns": ["元"]},
            {"id": "L-SLOW", "kind": "disclosure", "patterns": ["(a+)+$"]}]}
        started = time.monotonic()
        r = c.post("/v1/policy/reload", json={"lexicon": lexicon})
        assert time.monotonic() - started < 10
        assert r.status_code == 422, r.text
        body = r.json()
        assert (body["error"], body["field"], body["rule_id"]) == ("invalid_policy", "lexicon", "L-SLOW")
        assert "repeat" in body["detail"]
        assert c.get("/v1/model").json()["lexicon_version"] == before
        started = time.monotonic()
        r = c.post("/v1/moderate", json={"id": "n1", "text": "a" * 40 + "b 到手价99元"})
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < 10


def test_api_match_timeout_refuses_that_note_only(lexical_dir: Path, tmp_path: Path) -> None:
    """A lexicon in force whose entry backtracks on one note: that request is refused with 422
    naming the entry (never a 500), and the next request is scored."""
    import json

    slow = tmp_path / "lexicon.json"
    slow.write_text(json.dumps({"version": "lx-slow", "entries": [
        {"id": "L-OK", "kind": "price", "patterns": ["元"]},
        {"id": "L-SLOW", "kind": "disclosure", "patterns": ["(?:a|aa)+$"]}]}), "utf-8")
    # the bound (5 s) and the search for the culprit entry run on a shared machine: a long request deadline
    settings = Settings(model=lexical_dir, lexicon=slow, request_timeout_s=60.0)
    with TestClient(create_app(settings)) as c:
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = c.post("/v1/moderate", json={"id": "slow", "text": "a" * 80 + "b"})
        assert r.status_code == 422, r.text
        body = r.json()
        assert (body["error"], body["rule_id"]) == ("match_timeout", "L-SLOW")
        r = c.post("/v1/moderate", json={"id": "fine", "text": "到手价99元"})
        assert r.status_code == 200, r.text
