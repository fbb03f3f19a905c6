"""The console's review queue in a real headless Chromium (Playwright), across an API restart.

A server process (``python -m serving.http.app serve``, the tiny lexical model, a SQLite store,
blocks queued too) scores notes; once they are in the queue the process is killed (SIGKILL: the
queue must be on disk, not in memory) and a new process on the same database serves the console.
The reviewer then works through the queue in the browser: next item (N), the note with its evidence
highlighted, decide with one key (2), undo their own last decision (U), decide again (1), the
note's history, the stats tab; the decisions are then read back through the API.

Needs ``playwright`` (dev extra) and Debian's ``chromium`` (``scripts/ensure-chromium.sh``); fails
without them. ``NOTECHECK_SCREENSHOTS=DIR`` keeps screenshots.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from bench.load_api import stop_server
from tests.conftest import REPO

KEY = "queue-key"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
NOTES = [
    {"id": "q-ad-1", "title": "挖到宝了", "text": "这款精华真的绝了，姐妹们冲！到手价只要99，链接在主页，加薇❤领优惠券"},
    {"id": "q-ad-2", "text": "内部渠道拿货，全网最低价，私我获取购买方式，V: abc12345"},
    {"id": "q-ad-3", "text": "朋友推荐的祛斑神器，7天见效，100%有效，评论区暗号领取"},
    {"id": "q-share", "text": "周末去了家楼下新开的面馆，汤头很鲜，就是排队有点久"},
]


def _chromium() -> str | None:
    import shutil

    wanted = os.environ.get("NOTECHECK_CHROMIUM")
    if wanted:
        return wanted
    return next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One ``serve`` process on a fixed port and database; ``start()`` again after ``kill()``."""

    def __init__(self, model: Path, db_url: str, log: Path, shadow: Path | None = None,
                 queue_block: bool = True) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model, self.db_url, self.log, self.shadow = model, db_url, log, shadow
        self.queue_block = queue_block
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTECHECK_")}
        env.update(NOTECHECK_API_KEYS=KEY, NOTECHECK_DB_URL=self.db_url,
                   NOTECHECK_QUEUE_BLOCK=str(self.queue_block).lower())
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "serving.http.app", "serve", "--port", str(self.port),
                 "--model", str(self.model), "--log-level", "warning",
                 *(["--shadow", str(self.shadow)] if self.shadow else [])],
                cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                ready = httpx.get(self.url + "/readyz", timeout=2).status_code == 200
                if ready and httpx.get(self.url + "/v1/queue", headers={"X-API-Key": KEY},
                                       timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None:
            stop_server(self.proc)


@pytest.fixture(scope="module")
def restarted(lexical_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Notes scored and queued by one process, which is then killed; a second process serves."""
    work = tmp_path_factory.mktemp("queue-e2e")
    server = Server(lexical_dir, f"sqlite:///{work / 'store.db'}", work / "server.log")
    server.start()
    try:
        client = httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=30)
        assert client.post("/v1/moderate/batch", json={"notes": NOTES}).status_code == 200
        deadline = time.monotonic() + 30
        while len(client.get("/v1/queue").json()["items"]) < 3:  # the writer thread commits
            assert time.monotonic() < deadline, client.get("/v1/queue").json()
            time.sleep(0.1)
        queued = {i["note_id"] for i in client.get("/v1/queue").json()["items"]}
        server.kill()
        server.start()
        after = {i["note_id"] for i in client.get("/v1/queue").json()["items"]}
        assert after == queued and {"q-ad-1", "q-ad-2", "q-ad-3"} <= after
        yield server
    finally:
        server.stop()


@pytest.fixture()
def page(restarted: Server) -> Iterator[Any]:
    yield from _console(restarted)


def _console(server: Server) -> Iterator[Any]:
    path = _chromium()
    if path is None:
        pytest.fail("no Chromium found; run scripts/ensure-chromium.sh (or set NOTECHECK_CHROMIUM)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            p = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            p.set_default_timeout(20_000)
            sync_api.expect.set_options(timeout=20_000)
            p.problems = []
            p.on("console", lambda m: p.problems.append(m.text) if m.type == "error" else None)
            p.on("pageerror", lambda e: p.problems.append(str(e)))
            p.goto(server.url + "/")
            p.fill("#reviewer", "li")
            p.locator("#reviewer").dispatch_event("change")
            p.fill("#api-key", KEY)
            p.click("#key-form button[type=submit]")
            sync_api.expect(p.locator("#model-info")).to_contain_text("toy-lexical@t1")
            yield p
        finally:
            browser.close()


def _shot(p: Any, name: str) -> None:
    folder = os.environ.get("NOTECHECK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_queue_browser_review_after_restart_with_keys_undo_history_and_stats(
        page: Any, restarted: Server) -> None:
    page.click("#tab-queue")
    sync_api.expect(page.locator("#panel-queue")).to_be_visible()
    sync_api.expect(page.locator("#q-depth")).to_contain_text("open 3")
    page.keyboard.press("n")
    item = page.locator("#q-item")
    sync_api.expect(item.locator(".verdict-id")).to_contain_text("q-ad-1")  # oldest first
    first_id = item.locator(".verdict-id").get_attribute("data-item")
    assert item.locator("mark.hl").count() >= 1  # the evidence, highlighted as on the note tab
    marks = item.locator('[data-field="text"] mark.hl').all_text_contents()
    assert "加薇❤" in "".join(marks) and all(m in NOTES[0]["text"] for m in marks)
    assert item.locator('[data-field="text"]').text_content() == NOTES[0]["text"]
    sync_api.expect(page.locator("#q-history tbody tr")).to_have_count(1)  # one verdict so far
    _shot(page, "queue-item")

    page.keyboard.press("2")  # undisclosed_ad; the next item is claimed at once
    sync_api.expect(page.locator("#q-status")).to_contain_text(f"Item {first_id} decided: undisclosed_ad")
    sync_api.expect(item.locator(".verdict-id")).to_contain_text("q-ad-2")

    page.keyboard.press("u")  # undo: item 1 comes back, claimed by li
    sync_api.expect(page.locator("#q-status")).to_contain_text("Undid your decision undisclosed_ad")
    sync_api.expect(item.locator(".verdict-id")).to_contain_text("q-ad-1")
    sync_api.expect(page.locator('#q-history tr[data-what="decision (undone)"]')).to_have_count(1)

    page.fill("#q-comment", "a personal recommendation after all")
    page.locator("#q-item").click()  # focus out of the comment box: keys decide again
    page.keyboard.press("1")
    sync_api.expect(page.locator("#q-status")).to_contain_text(f"Item {first_id} decided: sharing")
    # q-ad-2 was claimed by li before the undo: the lease is theirs, so it comes next
    sync_api.expect(item.locator(".verdict-id")).to_contain_text("q-ad-2")
    page.keyboard.press("3")
    sync_api.expect(item.locator(".verdict-id")).to_contain_text("q-ad-3")
    page.keyboard.press("2")
    sync_api.expect(item.locator(".empty")).to_contain_text("queue is empty")

    page.click("#tab-stats")
    stats = page.locator("#s-body")
    sync_api.expect(stats.locator('[data-stat="depth"] b')).to_have_text("0")
    sync_api.expect(stats.locator('[data-stat="decisions_last_hour"] b')).to_have_text("3")
    sync_api.expect(stats.locator('tr[data-key="undisclosed_ad"]')).to_be_visible()
    _shot(page, "queue-stats")

    client = httpx.Client(base_url=restarted.url, headers={"X-API-Key": KEY}, timeout=30)
    history = client.get("/v1/notes/q-ad-1").json()
    decisions = history["versions"][0]["decisions"]
    assert [(d["label"], d["reviewer"], d["undone"]) for d in decisions] == [
        ("undisclosed_ad", "li", True), ("sharing", "li", False)]
    assert decisions[1]["comment"] == "a personal recommendation after all"
    labels = {n: client.get(f"/v1/notes/{n}").json()["versions"][0]["decisions"][-1]["label"]
              for n in ("q-ad-2", "q-ad-3")}
    assert labels == {"q-ad-2": "declared", "q-ad-3": "undisclosed_ad"}
    # the one 401 is the model-info call the page makes before the key is entered
    assert [m for m in page.problems if "401" not in m] == []


def test_queue_browser_shows_what_the_shadow_candidate_said(lexical_dir: Path,
                                                            tmp_path: Path) -> None:
    """``serve --shadow``: a note the candidate labels otherwise is queued although its served
    decision (``block``, with blocks not queued here) would not queue it, and the item names the
    other model's label."""
    from classifier.lexical import LexicalModel
    from tests.conftest import TOY_NOTES

    swap = {"sharing": "undisclosed_ad", "undisclosed_ad": "sharing", "declared": "declared"}
    swapped = tmp_path / "swapped"
    LexicalModel(min_df=1, name="toy-swapped", model_version="t2").fit(
        [t for t, _ in TOY_NOTES] * 2, [swap[lab] for _, lab in TOY_NOTES] * 2).save(swapped)
    server = Server(lexical_dir, f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "server.log", swapped,
                    queue_block=False)
    server.start()
    try:
        client = httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=30)
        served = client.post("/v1/moderate", json=NOTES[0]).json()
        assert (served["label"], served["decision"]) == ("undisclosed_ad", "block")
        deadline = time.monotonic() + 30
        while not client.get("/v1/queue").json()["items"]:
            assert time.monotonic() < deadline, client.get("/metrics").text[-2000:]
            time.sleep(0.1)
        for p in _console(server):
            p.click("#tab-queue")
            p.keyboard.press("n")
            sync_api.expect(p.locator("#q-item .verdict-id")).to_contain_text("q-ad-1")
            other = p.locator("#q-history .q-other")
            sync_api.expect(other).to_contain_text("toy-swapped@t2")
            assert other.get_attribute("data-other") == "sharing"
            sync_api.expect(p.locator("#q-item .verdict-head [data-label]")).to_have_attribute(
                "data-label", "undisclosed_ad")
            _shot(p, "queue-shadow")
    finally:
        server.stop()
