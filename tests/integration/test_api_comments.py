"""The HTTP API reads comments and the author's bio like `notecheck score` (the shared reader) and
returns reasons that point into them, with the shipped model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from classifier.model import default_model_dir
from serving.http.app import create_app
from serving.http.settings import Settings
from tests.integration.test_api_routes import wait_ready

NOTE = {"id": "n1", "title": "周末去露营", "text": "天气很好，带了新买的帐篷，风景超美，下次还来。"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model=default_model_dir()))) as c:
        wait_ready(c, 120.0)
        yield c


def test_api_comments_author_reply_is_evidence(client: TestClient) -> None:
    body = {**NOTE, "author": {"id": "u1", "bio": "爱露营"},
            "comments": [{"id": "c1", "text": "求链接"},
                         {"id": "c2", "text": "已私", "user_id": "u1", "parent_id": "c1"}]}
    r = client.post("/v1/moderate", json=body)
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["label"] == "undisclosed_ad"
    assert {"rule": "R14-AUTHOR-REPLY-DIVERSION", "evidence": "已私", "field": "comments[1]", "start": 0,
            "end": 2} in v["reasons"]
    assert client.post("/v1/moderate", json=NOTE).json()["label"] == "sharing"


def test_api_comments_bio_platform_comments_and_strings(client: TestClient) -> None:
    r = client.post("/v1/moderate/batch", json={"notes": [
        {**NOTE, "author": {"bio": "vx: camp_2024"}},
        {**NOTE, "id": "n2", "comments": ["好看", {"content": "哪里买", "like_count": "3"}]},
    ]})
    assert r.status_code == 200, r.text
    first, second = r.json()["verdicts"]
    assert first["label"] == "undisclosed_ad"
    assert any(x["field"] == "author.bio" and x["rule"] == "R16-BIO-CONTACT-UNDISCLOSED" for x in first["reasons"])
    assert second["label"] == "sharing"


def test_api_comments_bad_comment_is_a_422_naming_it(client: TestClient) -> None:
    r = client.post("/v1/moderate", json={**NOTE, "comments": [{"text": "好", "likes": "lots"}]})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "comments[0].likes"
