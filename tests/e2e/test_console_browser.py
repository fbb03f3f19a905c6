"""The reviewer console in a real headless Chromium, driven by Playwright, against a uvicorn server
on 127.0.0.1 with the tiny lexical model and an API key: enter the key, score a note and see the
evidence highlighted, upload a dump and read the table, save a correction and find it in the
feedback file (loadable for training), and a note holding ``<script>`` renders as text.

Needs ``playwright`` (pip, dev extra) and Debian's ``chromium`` (``scripts/ensure-chromium.sh``,
run by ``make test``); fails without them. Never ``playwright install``. Set ``NOTECHECK_SCREENSHOTS=DIR`` to keep screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright import (
    sync_api,  # in the dev extra; the browser comes from scripts/ensure-chromium.sh
)

from serving.http.app import create_app
from serving.http.settings import Settings
from training.data import load_labelled

KEY = "e2e-key"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
AD_TEXT = "用了两周，保湿不错。到手价只要99，链接在主页，加薇❤abc12345领优惠券 😀"
XSS = "<script>alert('xss')</script><img src=x onerror=alert(2)>"


def _chromium() -> str | None:
    wanted = os.environ.get("NOTECHECK_CHROMIUM")
    if wanted:
        return wanted
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def server(lexical_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Path]]:
    feedback = tmp_path_factory.mktemp("e2e") / "feedback.jsonl"
    with _serve(Settings(model=lexical_dir, api_keys=frozenset({KEY}), feedback_path=feedback,
                         max_upload_bytes=256 * 1024)) as url:
        yield url, feedback


@contextmanager
def _serve(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            if srv.started and httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.05)
    try:
        yield url
    finally:
        srv.should_exit = True
        thread.join(20)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    if path is None:
        pytest.fail("no Chromium found; run scripts/ensure-chromium.sh (or set NOTECHECK_CHROMIUM)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Any, server: tuple[str, Path]) -> Iterator[Any]:
    """A fresh tab on the console, with the reviewer name and the API key entered; collects
    dialogs and console errors (a CSP or Trusted Types violation is a console error)."""
    with _console(browser, server[0]) as p:
        yield p


@contextmanager
def _console(browser: Any, url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(20_000)  # generous: the CI machine's two cores may be busy
    sync_api.expect.set_options(timeout=20_000)
    p.dialogs, p.problems = [], []
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.on("console", lambda m: p.problems.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: p.problems.append(str(e)))
    p.goto(url + "/")
    sync_api.expect(p.locator("#model-info")).to_contain_text("API key required")
    p.fill("#reviewer", "e2e-reviewer")
    p.locator("#reviewer").dispatch_event("change")
    p.fill("#api-key", KEY)
    p.click("#key-form button[type=submit]")
    sync_api.expect(p.locator("#model-info")).to_contain_text("toy-lexical@t1")
    yield p
    context.close()


def _shot(p: Any, name: str) -> None:
    folder = os.environ.get("NOTECHECK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _no_unexpected_problems(p: Any) -> None:
    # the one 401 is the model-info call made before the key was entered
    problems = [m for m in p.problems if "401" not in m]
    assert problems == [] and p.dialogs == []


def test_console_browser_scores_note_and_highlights_evidence(page: Any) -> None:
    page.fill("#f-title", "挖到宝了")
    page.fill("#f-text", AD_TEXT)
    page.click("#score-btn")
    result = page.locator("#note-result")
    sync_api.expect(result.locator(".verdict-head [data-label]")).to_be_visible()
    assert result.locator(".verdict-head [data-label]").get_attribute("data-label") in (
        "sharing", "undisclosed_ad", "declared")
    assert result.locator(".bar-fill").count() == 3
    assert result.locator("[data-score]").count() == 3
    diversion = result.locator("mark.hl.k-diversion")
    assert diversion.count() >= 1
    marked = "".join(result.locator('[data-field="text"] mark.hl').all_text_contents())
    assert "加薇❤abc12345" in marked and "到手价" in marked
    assert result.locator('[data-field="text"]').text_content() == AD_TEXT  # nothing lost
    reason = result.locator("li.has-span").first
    reason.hover()
    assert result.locator("mark.hl.active").count() >= 1
    assert result.locator('[data-rule^="R0"]').count() >= 1
    _shot(page, "console-note")
    _no_unexpected_problems(page)


def test_console_browser_renders_script_as_text(page: Any) -> None:
    page.fill("#f-title", XSS)
    page.fill("#f-text", XSS + " 加薇abc12345 " + XSS)
    page.fill("#f-mentions", "<b>bold</b>")
    page.click("#score-btn")
    result = page.locator("#note-result")
    sync_api.expect(result.locator(".verdict-head [data-label]")).to_be_visible()
    sync_api.expect(result.locator('[data-field="title"]')).to_have_text(XSS)
    assert XSS in (result.locator('[data-field="text"]').text_content() or "")
    assert result.locator("script, img, b").count() == 0
    page.wait_for_timeout(200)  # give an injected handler the chance to fire: none may
    _no_unexpected_problems(page)


def test_console_browser_upload_table_download_and_correction(
        page: Any, server: tuple[str, Path], tmp_path: Path) -> None:
    _, feedback = server
    rows = [{"id": "d1", "text": "周末去了家楼下新开的面馆，汤头很鲜，下次再来"},
            {"id": "d2", "title": "内部渠道", "text": "全网最低价，私我获取购买方式，V: abc12345"},
            {"id": "d3", "text": "#品牌合作 这次收到了品牌方赠送的扫地机器人，吸力不错"},
            {"id": "d4", "text": XSS}]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
                    + "{broken\n", "utf-8")
    page.click("#tab-upload")
    page.set_input_files("#u-file", str(dump))
    page.click("#upload-btn")
    body = page.locator("#results tbody tr")
    sync_api.expect(body).to_have_count(4)
    sync_api.expect(page.locator("#upload-errors summary")).to_have_text("Rows with errors (1)")
    sync_api.expect(page.locator("#upload-summary")).to_contain_text("4 scored")

    page.click('th[data-col="p_ad"] button')  # sort: highest p(ad) first
    sync_api.expect(page.locator('th[data-col="p_ad"]')).to_have_attribute("aria-sort", "descending")
    scores = [float(x) for x in page.locator("#results tbody tr td:nth-child(6)").all_text_contents()]
    assert scores == sorted(scores, reverse=True)
    page.fill("#t-search", "扫地")
    sync_api.expect(body).to_have_count(1)
    page.fill("#t-search", "")
    sync_api.expect(body).to_have_count(4)

    with page.expect_download() as info:
        page.click("#dl-jsonl")
    lines = Path(info.value.path()).read_text("utf-8").splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == ["d1", "d2", "d3", "d4"]
    with page.expect_download() as info:
        page.click("#dl-csv")
    csv_text = Path(info.value.path()).read_text("utf-8-sig")
    assert csv_text.startswith("row,id,label,decision") and "d3" in csv_text

    page.click('#results tbody tr[data-id="d4"]')
    detail = page.locator("#upload-detail")
    sync_api.expect(detail.locator('[data-field="text"]')).to_have_text(XSS)
    page.click('#results tbody tr[data-id="d2"]')
    sync_api.expect(detail.locator(".verdict-id")).to_contain_text("d2")
    predicted = detail.locator(".verdict-head [data-label]").get_attribute("data-label")
    wanted = "declared" if predicted != "declared" else "sharing"
    detail.locator("select.fb-label").select_option(wanted)
    detail.locator("input.fb-comment").fill("e2e correction")
    detail.locator("button.fb-save").click()
    sync_api.expect(detail.locator(".saved")).to_contain_text("Saved")
    sync_api.expect(page.locator('#results tbody tr[data-id="d2"] .reviewed')).to_contain_text(wanted)
    _shot(page, "console-upload")

    records = [json.loads(x) for x in feedback.read_text("utf-8").splitlines()]
    mine = [r for r in records if r["id"] == "d2"]
    assert mine and mine[-1]["label"] == wanted and mine[-1]["reviewer"] == "e2e-reviewer"
    assert mine[-1]["predicted_label"] == predicted and mine[-1]["at"]
    assert mine[-1]["title"] == "内部渠道"
    examples = load_labelled(feedback)
    assert ("d2", wanted) in [(x.note.id, x.label) for x in examples]
    _no_unexpected_problems(page)


@pytest.fixture(scope="module")
def picture_server(lexical_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that reads pictures under its own folder (made here: Pillow text in Debian's
    WenQuanYi font, and a QR code)."""
    from tests.conftest import draw_pictures

    root = draw_pictures(tmp_path_factory.mktemp("e2e-pictures"), "contact.png", "wechat_qr.png")
    with _serve(Settings(model=lexical_dir, api_keys=frozenset({KEY}), images=True,
                         image_root=root, feedback_path=root.parent / "feedback.jsonl",
                         store=False)) as url:
        yield url


def test_console_browser_shows_comments_bio_and_pictures(browser: Any, picture_server: str) -> None:
    note = {"id": "ctx1", "title": "周末露营", "text": "天气很好，和朋友去湖边露营。",
            "author": {"id": "u1", "bio": "露营爱好者 vx: camp_2024"},
            "comments": [{"id": "c1", "text": "求链接"},
                         {"id": "c2", "text": "已私", "user_id": "u1", "parent_id": "c1"}],
            "images": ["contact.png", {"path": "wechat_qr.png"}]}
    with _console(browser, picture_server) as page:
        page.click("details.paste summary")
        page.fill("#f-json", json.dumps(note, ensure_ascii=False))
        page.click("#fill-json")
        sync_api.expect(page.locator("#f-context")).to_have_text(
            "Sent with the note, from the JSON: 2 comments, the author's bio, 2 pictures.")
        page.click("#score-btn")
        result = page.locator("#note-result")
        sync_api.expect(result.locator(".verdict-head [data-label]")).to_be_visible()
        reply = result.locator('[data-field="comments[1]"]')
        assert reply.text_content() == "已私"
        assert "已私" in "".join(reply.locator("mark.hl").all_text_contents())
        assert "作者" in (result.locator("li.comment.by-author .comment-who").text_content() or "")
        assert "camp_2024" in "".join(
            result.locator('[data-field="author.bio"] mark.hl').all_text_contents())
        picture_text = result.locator('[data-field="images[0]"]')
        assert "abc12345" in (picture_text.text_content() or "")
        assert picture_text.locator("mark.hl").count() >= 1
        assert "WeChat contact" in "".join(
            result.locator('[data-field="images[1]"] mark.hl').all_text_contents())
        # the pictures themselves: served under the root with the key, shown as data: images
        sync_api.expect(result.locator("img.picture-img")).to_have_count(2)
        page.wait_for_function("() => [...document.querySelectorAll('img.picture-img')]"
                               ".every((i) => i.complete && i.naturalWidth > 0)")
        assert all(src.startswith("data:image/png;base64,") for src in
                   result.locator("img.picture-img").evaluate_all("els => els.map(e => e.src)"))
        reason_fields = result.locator("li.has-span .reason-loc").all_text_contents()
        assert any("images[" in f for f in reason_fields), reason_fields
        _shot(page, "console-context")
        _no_unexpected_problems(page)
