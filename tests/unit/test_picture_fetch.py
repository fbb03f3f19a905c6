"""Fetching picture URLs (``--fetch-images``): what is refused, and what is fetched.

The refusal paths run against a real HTTP server on this machine (127.0.0.1): it is loopback,
so the fetcher must refuse it before connecting, and the server must see no request. The
success path cannot use a local server (loopback is refused, as it must be), so it runs the
fetcher with an injected resolver and opener: what is exercised is the allow-list logic (scheme,
every resolved address, redirects re-checked, the connection pinned to the checked address,
content type, size and time limits). The socket code under them,
:func:`classifier.fetch.pinned_opener`, is tested on its own, called directly past the checks.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from classifier.fetch import (
    PictureFetcher,
    PictureFetchError,
    Target,
    is_public_address,
    pinned_opener,
)
from classifier.notes import READ_PICTURES, note_from_dict
from classifier.pictures import PictureReader
from classifier.pipeline import Pipeline
from serving.cli import main
from tests.conftest import text_png

PUBLIC = "93.184.216.34"
BLAND = {"id": "f1", "title": "周末露营", "text": "天气很好，和朋友去湖边露营，拍了很多照片。"}


class FakeResponse:
    def __init__(self, status: int = 200, headers: dict[str, str] | None = None,
                 body: bytes = b"", delay_s: float = 0.0) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = io.BytesIO(body)
        self.delay_s = delay_s
        self.closed = False

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def read(self, amt: int | None = None) -> bytes:
        time.sleep(self.delay_s)
        return self.body.read(amt)

    def close(self) -> None:
        self.closed = True


class Web:
    """A fake internet: a resolver (host -> addresses, recording calls) and an opener (records
    the targets it was asked to connect to, answers from ``pages`` by host and path)."""

    def __init__(self, dns: dict[str, list[list[str]]], pages: dict[str, FakeResponse]) -> None:
        self.dns = {host: list(answers) for host, answers in dns.items()}
        self.pages = pages
        self.resolved: list[str] = []
        self.opened: list[Target] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append(host)
        answers = self.dns[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def open(self, target: Target, timeout: float) -> FakeResponse:
        self.opened.append(target)
        return self.pages[target.host + target.path]

    def fetcher(self, **kw: float) -> PictureFetcher:
        return PictureFetcher(resolver=self.resolve, opener=self.open, **kw)  # type: ignore[arg-type]


def image(body: bytes = b"\x89PNG...", kind: str = "image/png") -> FakeResponse:
    return FakeResponse(200, {"Content-Type": kind, "Content-Length": str(len(body))}, body)


@pytest.fixture(scope="module")
def local_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 serving a PNG; yields its base URL and the paths asked."""
    asked: list[str] = []
    body = b"\x89PNG\r\n\x1a\n"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_refuses_the_local_server_before_connecting(local_server: tuple[str, list[str]]) -> None:
    base, asked = local_server
    port = base.rsplit(":", 1)[1]
    fetcher = PictureFetcher(timeout_s=2)
    for url in (f"{base}/a.png", f"http://localhost:{port}/a.png", f"http://[::1]:{port}/a.png",
                f"http://[::ffff:127.0.0.1]:{port}/a.png"):
        with pytest.raises(PictureFetchError, match="not a public address") as err:
            fetcher.fetch(url, field="images[2]")
        assert err.value.field == "images[2]"
    assert asked == []  # refused before any connection


@pytest.mark.parametrize(("url", "why"), [
    ("file:///etc/passwd", "only http and https"),
    ("ftp://pics.example.com/a.png", "only http and https"),
    ("data:image/png;base64,AAAA", "only http and https"),
    ("//pics.example.com/a.png", "without a scheme"),
    ("http://user:pw@pics.example.com/a.png", "user name or password"),
    ("http:///a.png", "no host"),
    ("http://10.1.2.3/a.png", "not a public address"),
    ("http://172.16.0.9/a.png", "not a public address"),
    ("http://192.168.1.1/a.png", "not a public address"),
    ("http://169.254.169.254/latest/meta-data", "not a public address"),
    ("http://100.64.0.1/a.png", "not a public address"),
    ("http://0.0.0.0/a.png", "not a public address"),
    ("http://224.0.0.1/a.png", "not a public address"),
    ("http://[fe80::1]/a.png", "not a public address"),
    ("http://[fd00::1]/a.png", "not a public address"),
    ("http://pics.example.com:99999/a.png", "port"),
])
def test_fetch_check_refuses(url: str, why: str) -> None:
    web = Web({}, {})
    with pytest.raises(PictureFetchError, match=why):
        web.fetcher().fetch(url)
    assert web.opened == []


def test_fetch_every_resolved_address_must_be_public() -> None:
    web = Web({"cdn.example.com": [[PUBLIC, "192.168.0.7"]]}, {"cdn.example.com/a.png": image()})
    with pytest.raises(PictureFetchError, match="192.168.0.7"):
        web.fetcher().fetch("https://cdn.example.com/a.png")
    assert web.opened == []
    assert is_public_address(PUBLIC) and not is_public_address("::ffff:10.0.0.1")


def test_fetch_success_connects_to_the_checked_address() -> None:
    """DNS rebinding: the second answer would be loopback; the fetch never asks again and
    connects to the address it checked."""
    body = text_png("加V: abc12345")
    web = Web({"cdn.example.com": [[PUBLIC], ["127.0.0.1"]]},
              {"cdn.example.com/p/1.png?x=2": image(body)})
    assert web.fetcher().fetch("https://cdn.example.com/p/1.png?x=2") == body
    assert web.resolved == ["cdn.example.com"]
    (target,) = web.opened
    assert (target.ip, target.host, target.port, target.scheme) == (PUBLIC, "cdn.example.com", 443,
                                                                    "https")


def test_fetch_redirects_are_checked_again(local_server: tuple[str, list[str]]) -> None:
    base, asked = local_server
    moved = {"Location": f"{base}/a.png"}
    web = Web({"a.example.com": [[PUBLIC]], "b.example.com": [[PUBLIC], ["10.0.0.5"]],
               "c.example.com": [[PUBLIC]]},
              {"a.example.com/1.png": FakeResponse(302, moved),
               "a.example.com/2.png": FakeResponse(301, {"Location": "file:///etc/passwd"}),
               "a.example.com/3.png": FakeResponse(307, {"Location": "//b.example.com/x.png"}),
               "a.example.com/4.png": FakeResponse(302, {"Location": "/4.png"}),
               "b.example.com/x.png": FakeResponse(302, {"Location": "/y.png"}),
               "a.example.com/5.png": FakeResponse(302, {"Location": "https://c.example.com/ok.png"}),
               "c.example.com/ok.png": image()})
    fetcher = web.fetcher()
    with pytest.raises(PictureFetchError, match=r"redirected from .*127\.0\.0\.1, not a public address"):
        fetcher.fetch("http://a.example.com/1.png")
    with pytest.raises(PictureFetchError, match="redirected from .*only http and https"):
        fetcher.fetch("http://a.example.com/2.png")
    with pytest.raises(PictureFetchError, match="10.0.0.5"):  # b resolves public, then private
        fetcher.fetch("http://a.example.com/3.png")
    with pytest.raises(PictureFetchError, match="redirected more than 3 times"):
        fetcher.fetch("http://a.example.com/4.png")
    assert fetcher.fetch("http://a.example.com/5.png") == b"\x89PNG..."
    assert web.opened[-1].host == "c.example.com" and web.opened[-1].port == 443
    assert asked == []


@pytest.mark.parametrize(("response", "why"), [
    (FakeResponse(404, {"Content-Type": "text/html"}), "HTTP 404"),
    (FakeResponse(200, {"Content-Type": "text/html"}, b"<html>"), "text/html, not an image"),
    (FakeResponse(200, {}, b"x"), "no content type"),
    (FakeResponse(200, {"Content-Type": "image/png", "Content-Length": "5000"}), "5,000 bytes"),
    (FakeResponse(200, {"Content-Type": "image/png"}, b"x" * 5000), "longer than the limit"),
    (FakeResponse(200, {"Content-Type": "image/png"}, b"x" * 100, delay_s=0.3), "longer than 0.2s"),
])
def test_fetch_answer_limits(response: FakeResponse, why: str) -> None:
    web = Web({"cdn.example.com": [[PUBLIC]]}, {"cdn.example.com/a.png": response})
    with pytest.raises(PictureFetchError, match=why):
        web.fetcher(max_bytes=1000, timeout_s=0.2).fetch("http://cdn.example.com/a.png")
    assert response.closed


def test_fetch_connection_failure_is_a_reason() -> None:
    def refuse(target: Target, timeout: float) -> FakeResponse:
        raise TimeoutError("timed out")

    fetcher = PictureFetcher(resolver=lambda h, p: [PUBLIC], opener=refuse)  # type: ignore[arg-type]
    with pytest.raises(PictureFetchError, match="TimeoutError: timed out"):
        fetcher.fetch("http://cdn.example.com/a.png")


def test_fetch_picture_text_makes_the_note_an_undisclosed_ad() -> None:
    """A fetched picture holding 加V (injected resolver and opener; see the module docstring)."""
    web = Web({"cdn.example.com": [[PUBLIC]]},
              {"cdn.example.com/contact.png": image(text_png("加V: abc12345"))})
    reader = PictureReader(None, fetcher=web.fetcher())
    pipeline = Pipeline.load()
    token = READ_PICTURES.set(True)
    try:
        note = note_from_dict({**BLAND, "images": ["https://cdn.example.com/contact.png"]})
        assert pipeline(note_from_dict(BLAND)).label != "undisclosed_ad"
        verdict = pipeline(reader.read(note))
    finally:
        READ_PICTURES.reset(token)
    assert verdict.label == "undisclosed_ad", verdict
    assert any(r.field == "images[0]" for r in verdict.reasons)


def test_fetch_score_cli_writes_refusals_and_scores_the_note(
        local_server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, asked = local_server
    notes = tmp_path / "notes.jsonl"
    rows = [{**BLAND, "id": "a", "images": [f"{base}/a.png", {"url": "file:///etc/passwd"},
                                             {"url": "http://169.254.169.254/latest"}]},
            {**BLAND, "id": "b"}]
    notes.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out, summary = tmp_path / "v.jsonl", tmp_path / "s.json"
    assert main(["score", str(notes), "-o", str(out), "--images", "--fetch-images",
                 "--no-progress", "--summary-json", str(summary)]) == 0
    assert [v["id"] for v in map(json.loads, out.read_text().splitlines())] == ["a", "b"]
    errors = [json.loads(line) for line in (tmp_path / "v.errors.jsonl").read_text().splitlines()]
    assert [(e["source"], e["row"], e["field"], e["scored"]) for e in errors] == [
        ("images", 1, "images[0]", True), ("images", 1, "images[1]", True),
        ("images", 1, "images[2]", True)]
    assert "not a public address" in errors[0]["reason"]
    assert "only http and https" in errors[1]["reason"]
    assert "169.254.169.254" in errors[2]["reason"]
    assert json.loads(summary.read_text())["picture_failures"] == 3
    assert asked == []
    assert main(["score", str(notes), "-o", str(out), "--fetch-images", "--no-progress"]) == 2


def test_fetch_pinned_opener_connects_to_the_target_address_with_the_host_name() -> None:
    """The socket code under the checks (called directly, past the allow-list, on a server of its
    own): it connects to ``target.ip`` and names ``target.host`` only in the Host header."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Host")))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"\x89PNG")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        target = Target(scheme="http", host="pics.example.com", port=port, ip="127.0.0.1",
                        path="/p/1.png?x=2")
        response = pinned_opener(target, 5.0)
        try:
            assert response.status == 200 and response.read() == b"\x89PNG"
        finally:
            response.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/p/1.png?x=2", f"pics.example.com:{port}")]


def test_fetch_non_ascii_urls() -> None:
    web = Web({"cdn.example.com": [[PUBLIC]]},
              {"cdn.example.com/%E5%9B%BE/a%20b%20c.png?q=%E5%8A%A0V&x=1": image()})
    assert web.fetcher().fetch("https://cdn.example.com/图/a b%20c.png?q=加V&x=1") == b"\x89PNG..."

    def idna(host: str, port: int) -> list[str]:
        raise UnicodeError("label too long")

    fetcher = PictureFetcher(resolver=idna, opener=web.open)  # type: ignore[arg-type]
    with pytest.raises(PictureFetchError, match="does not resolve"):
        fetcher.fetch("https://" + "长" * 80 + ".example.com/a.png")


def test_fetch_unreadable_image_is_a_fetch_failure_and_the_note_is_scored_on_the_rest() -> None:
    web = Web({"cdn.example.com": [[PUBLIC]]},
              {"cdn.example.com/bad.png": image(b"not a picture at all"),
               "cdn.example.com/contact.png": image(text_png("加V: abc12345"))})
    reader = PictureReader(None, fetcher=web.fetcher())
    token = READ_PICTURES.set(True)
    try:
        note = note_from_dict({**BLAND, "images": ["https://cdn.example.com/bad.png",
                                                   "https://cdn.example.com/contact.png"]})
    finally:
        READ_PICTURES.reset(token)
    read, failures = reader.read_reporting(note)
    (failure,) = failures
    assert failure.field == "images[0]" and "not an image OpenCV can read" in failure.reason
    assert read.images[0].ocr_text is None and "abc12345" in (read.images[1].ocr_text or "")
