"""The queue tab's script: served like the console's own, and free of HTML sinks."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from serving.http.app import create_app
from serving.http.settings import Settings

STATIC = Path(__file__).resolve().parents[2] / "serving" / "http" / "static"


def test_console_queue_js_is_served_with_the_console_headers() -> None:
    with TestClient(create_app(Settings(store=False, warmup=False))) as client:
        r = client.get("/static/queue.js")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
        assert "require-trusted-types-for" in r.headers["content-security-policy"]
        page = client.get("/").text
    assert page.index("/static/console.js") < page.index("/static/queue.js")  # helpers first
    for tab in ("tab-queue", "tab-stats", "panel-queue", "panel-stats"):
        assert f'id="{tab}"' in page


def test_console_queue_js_never_uses_html_sinks() -> None:
    js = (STATIC / "queue.js").read_text("utf-8").replace("never innerHTML", "")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink
