"""The report renders in a real browser: headless Chromium loads the page (no network, no script),
its DOM holds the tables and the charts, and a screenshot comes out. Skipped when no Chromium is
installed (``scripts/ensure-chromium.sh`` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from serving.report import ReportOptions, build_report
from tests.integration.test_report_build import make_dump

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-logging=stderr", "--v=0")


def _browser() -> str | None:
    wanted = os.environ.get("NOTECHECK_CHROMIUM")
    if wanted:
        return wanted
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90, check=False)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.fail("no Chromium found; run scripts/ensure-chromium.sh (or set NOTECHECK_CHROMIUM)")
    dump = make_dump(tmp_path)
    page = tmp_path / "report.html"
    build_report(dump.verdicts, page, notes=dump.notes, options=ReportOptions())

    dom = _run(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for name in ("labels", "timeline", "creators", "brands", "templates"):
        assert f'data-table="{name}"' in html, name
    assert html.count("<svg") >= 4
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    console = [line for line in dom.stderr.splitlines()
               if "CONSOLE" in line or "Uncaught" in line or "ERR_FILE_NOT_FOUND" in line]
    assert console == []

    shot = tmp_path / "report.png"
    run = _run(browser, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,2400",
               f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
