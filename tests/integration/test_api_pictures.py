"""The HTTP API reads a note's pictures when the server is set to (``NOTECHECK_IMAGES``): local
paths under the image root, URLs only with ``NOTECHECK_FETCH_IMAGES``. The pictures are made here
with Pillow in Debian's WenQuanYi font and with ``qrcode``; the shipped model scores them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from classifier.errors import InputError
from classifier.model import default_model_dir
from serving.http.app import create_app
from serving.http.schemas import NoteIn
from serving.http.service import ModerationService
from serving.http.settings import Settings
from tests.conftest import draw_pictures
from tests.integration.test_api_routes import wait_ready

NOTE = {"id": "n1", "title": "周末去露营", "text": "天气很好，带了新买的帐篷，风景超美，下次还来。"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = draw_pictures(tmp_path_factory.mktemp("pictures"), "contact.png", "plain.png",
                         "wechat_qr.png")
    (root.parent / "secret.png").write_bytes((root / "plain.png").read_bytes())
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    settings = Settings(model=default_model_dir(), images=True, image_root=root, store=False)
    with TestClient(create_app(settings)) as c:
        wait_ready(c, 120.0)
        yield c


@pytest.mark.parametrize(("picture", "evidence"), [("contact.png", "加V"),
                                                    ({"path": "wechat_qr.png"}, "WeChat contact")])
def test_api_pictures_make_a_bland_note_an_undisclosed_ad(client: TestClient, picture: object,
                                                          evidence: str) -> None:
    assert client.post("/v1/moderate", json=NOTE).json()["label"] == "sharing"
    r = client.post("/v1/moderate", json={**NOTE, "images": ["plain.png", picture]})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["label"] == "undisclosed_ad", v
    assert any(x["field"] == "images[1]" and x["rule"] == "R18-PICTURE-DIVERSION"
               for x in v["reasons"]), v["reasons"]
    assert any(x["field"] == "images[1]" and evidence in x["evidence"] for x in v["reasons"])
    assert not v.get("warnings")


def test_api_pictures_batch_route(client: TestClient) -> None:
    r = client.post("/v1/moderate/batch", json={"notes": [
        {**NOTE, "images": ["plain.png"]}, {**NOTE, "id": "n2", "images": ["wechat_qr.png"]}]})
    assert r.status_code == 200, r.text
    first, second = r.json()["verdicts"]
    assert first["label"] == "sharing"
    assert second["label"] == "undisclosed_ad"
    assert any(x["field"] == "images[0]" for x in second["reasons"])


@pytest.mark.parametrize(("images", "field", "why"), [
    (["../secret.png"], "notes[1].images[0]", "outside the image root"),
    (["plain.png", "/etc/hostname"], "notes[1].images[1]", "outside the image root"),
    (["https://cdn.example.com/a.png"], "notes[1].images[0]", "not fetched"),
    ([3], "notes[1].images[0]", "valid dictionary"),
])
def test_api_pictures_refused_is_a_422_naming_it(client: TestClient, images: list[object],
                                                  field: str, why: str) -> None:
    r = client.post("/v1/moderate/batch", json={"notes": [NOTE, {**NOTE, "images": images}]})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and why in r.json()["detail"], r.json()


def test_api_pictures_off_by_default_and_urls_need_the_fetch_setting(root: Path) -> None:
    off = ModerationService(Settings(store=False))
    notes, warnings = off.to_notes([NoteIn(**NOTE, images=["contact.png"])])
    assert notes[0].images == () and warnings[0].fields == ["images"]
    assert asyncio.run(off.read_pictures(notes)) == notes
    fetching = ModerationService(Settings(images=True, fetch_images=True, store=False))
    notes, _ = fetching.to_notes([NoteIn(**NOTE, images=["http://127.0.0.1:9/a.png",
                                                         "contact.png"])], prefix="notes")
    with pytest.raises(InputError, match="not a public address") as err:
        asyncio.run(fetching.read_pictures(notes, prefix="notes"))
    assert err.value.field == "notes[0].images[0]"
    with pytest.raises(InputError, match="no image root") as err:
        asyncio.run(fetching.read_pictures([notes[0].__class__(id="x", images=notes[0].images[1:])]))
    assert err.value.field == "images[0]"


@pytest.mark.parametrize(("values", "why"), [
    ({"images": True}, "needs image_root"), ({"fetch_images": True}, "needs images=true"),
    ({"images": True, "image_root": "/no/such/folder"}, "is not a folder"),
])
def test_api_pictures_settings_are_checked(values: dict[str, object], why: str) -> None:
    env = {f"NOTECHECK_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in values.items()}
    with pytest.raises(InputError, match=why):
        Settings.from_env(env)


def test_api_pictures_console_explain_and_upload(client: TestClient) -> None:
    r = client.post("/v1/moderate/explain", json={**NOTE, "images": ["contact.png"]})
    assert r.status_code == 200, r.text
    item = r.json()
    (text,) = item["pictures"]
    assert "abc12345" in text and item["note"]["images"][0]["ocr_text"] == text.split("\n[QR")[0]
    sig = next(s for s in item["signals"] if s["field"] == "images[0]")
    assert text[sig["start"]:sig["end"]] == sig["text"]
    dump = "\n".join(json.dumps(n, ensure_ascii=False) for n in (
        {**NOTE, "images": ["wechat_qr.png"]}, {**NOTE, "id": "n2", "images": ["../secret.png"]}))
    r = client.post("/v1/moderate/upload", json={"filename": "d.jsonl", "content": dump})
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["count"] == 1 and up["items"][0]["verdict"]["label"] == "undisclosed_ad"
    assert "WeChat contact" in up["items"][0]["pictures"][0]
    (err,) = up["errors"]
    assert (err["row"], err["field"]) == (2, "images[0]") and "outside" in err["reason"]


def test_api_pictures_console_serves_only_pictures_under_the_root(client: TestClient,
                                                                  root: Path) -> None:
    r = client.get("/v1/console/picture", params={"path": "contact.png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == (root / "contact.png").read_bytes()
    assert r.headers["x-content-type-options"] == "nosniff"
    (root / "fake.png").write_text("<script>alert(1)</script>", "utf-8")
    for path, status in (("../secret.png", 404), ("/etc/hostname", 404), ("missing.png", 404),
                         ("fake.png", 415)):
        r = client.get("/v1/console/picture", params={"path": path})
        assert r.status_code == status, (path, r.text)
        assert r.json()["field"] == "path"


def test_api_pictures_are_read_within_the_request_deadline(root: Path) -> None:
    """A picture that takes too long (a slow OCR, a slow fetch) ends the request with 504 in about
    the request deadline instead of holding it: OCR is bounded like scoring."""
    import time

    from classifier.pictures import PictureReader

    settings = Settings(model=default_model_dir(), images=True, image_root=root, store=False,
                        request_timeout_s=0.5)
    with TestClient(create_app(settings)) as c:
        wait_ready(c, 120.0)
        real = PictureReader.read

        def slow(self: PictureReader, note: object) -> object:
            time.sleep(2.0)
            return real(self, note)  # type: ignore[arg-type]

        PictureReader.read = slow  # type: ignore[assignment,method-assign]
        try:
            started = time.monotonic()
            r = c.post("/v1/moderate", json={**NOTE, "images": ["plain.png"]})
            waited = time.monotonic() - started
        finally:
            PictureReader.read = real  # type: ignore[method-assign]
        assert r.status_code == 504, r.text
        assert r.json()["error"] == "deadline_exceeded" and "pictures not read" in r.json()["detail"]
        assert waited < 1.8  # the deadline, not the picture, ended it
        time.sleep(2.0)  # let the worker thread finish before the app closes
        assert c.post("/v1/moderate", json=NOTE).status_code == 200
