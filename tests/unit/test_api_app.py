"""The app factory and the serve command: nothing loads at import or in the factory; options
parse; small helpers of the HTTP edge."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from classifier.errors import InputError
from classifier.pipeline import Pipeline
from serving.http.app import add_serve_command, create_app, exposure_check, main, serve
from serving.http.errors import _field_of
from serving.http.middleware import _is_json
from serving.http.settings import Settings


def test_api_import_has_no_heavy_side_effects() -> None:
    code = ("import sys, serving.http.app; "
            "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'jieba') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_api_create_app_does_not_load_the_model() -> None:
    calls: list[Settings] = []

    def factory(settings: Settings) -> Pipeline:
        calls.append(settings)
        raise AssertionError("loaded outside the lifespan")

    app = create_app(Settings(), pipeline_factory=factory)
    assert calls == [] and app.state.service.batcher.state == "created"


def test_api_serve_command_options() -> None:
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers())
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--model", "m",
                              "--policy", "p.json", "--max-batch-size", "8",
                              "--request-timeout", "2.5"])
    assert args.run is serve
    assert (args.host, args.port, args.model, args.policy) == ("0.0.0.0", 9000, Path("m"),
                                                               Path("p.json"))
    assert (args.max_batch_size, args.request_timeout_s, args.lexicon) == (8, 2.5, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--workers", "4"])


def test_api_serve_refuses_a_missing_model_folder(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "0"]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(("loc", "field"), [
    (("body", "text"), "text"),
    (("body", "notes", 3, "text"), "notes[3].text"),
    (("body", "notes", 0, "product_tags", 1, "price", "constrained-float"),
     "notes[0].product_tags[1].price"),
    (("body",), "body"),
    (("body", "author", "account_type"), "author.account_type"),
    (("body", "notes", 0, "product_tags", 0, "ProductTagIn", "price", "constrained-int"),
     "notes[0].product_tags[0].price"),                 # union-member tags are not fields
    (("body", "id", "int"), "id"),
    (("body", "author", "followers", "function-after[_no_lone_surrogates(), str]"),
     "author.followers"),
])
def test_api_error_field_names(loc: tuple[int | str, ...], field: str) -> None:
    assert _field_of(loc) == field


@pytest.mark.parametrize(("content_type", "ok"), [
    ("application/json", True), ("application/json; charset=utf-8", True),
    ("Application/JSON; charset=UTF-8", True), ("application/problem+json", True),
    ("application/json; charset=utf-16", False), ("text/json", False), ("text/plain", False),
    ("multipart/form-data; boundary=x", False), (None, False), ("", False),
])
def test_api_json_content_types(content_type: str | None, ok: bool) -> None:
    assert _is_json(content_type) is ok


# ----------------------------------------------------------------------------- safe defaults


@pytest.fixture()
def fake_uvicorn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """``serve`` up to the point where uvicorn would run (recorded, not run); the loggers that
    ``configure_logging`` sets up are restored afterwards."""
    import logging

    import uvicorn

    for name in list(os.environ):
        if name.startswith("NOTECHECK_"):
            monkeypatch.delenv(name)
    runs: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: runs.append(self.config))
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate,
                 logging.getLogger(n).level) for n in ("notecheck", "uvicorn")}
    yield runs
    for n, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers, logger.propagate, logger.level = handlers, propagate, level


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5"])
def test_api_serve_refuses_an_open_server_beyond_loopback(
        host: str, tmp_path: Path, fake_uvicorn: list[Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", host, "--model", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "without API keys" in err and "--allow-no-keys" in err and "NOTECHECK_API_KEYS" in err
    assert "does not exist" not in err  # refused before anything else
    assert fake_uvicorn == []


def test_api_serve_open_server_with_the_flag_warns_at_start(
        lexical_dir: Path, fake_uvicorn: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0", "--allow-no-keys",
                 "--model", str(lexical_dir)]) == 0
    assert [c.host for c in fake_uvicorn] == ["0.0.0.0"]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    warning = next(x for x in lines if x.get("level") == "warning")
    assert "without API keys" in warning["msg"] and "0.0.0.0" in warning["msg"]


@pytest.mark.parametrize(("argv", "env"), [
    (["--host", "127.0.0.1"], {}),                                   # loopback: no keys needed
    (["--host", "0.0.0.0"], {"NOTECHECK_API_KEYS": "k"}),           # keys: no flag needed
    (["--host", "0.0.0.0"], {"NOTECHECK_ALLOW_NO_KEYS": "true"}),  # the flag as a variable
])
def test_api_serve_starts_when_safe_or_allowed(
        argv: list[str], env: dict[str, str], lexical_dir: Path, fake_uvicorn: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["serve", *argv, "--port", "0", "--model", str(lexical_dir)]) == 0
    assert len(fake_uvicorn) == 1


def test_api_exposure_check() -> None:
    assert exposure_check(Settings()) is None
    assert exposure_check(Settings(host="0.0.0.0", api_keys=frozenset({"k"}))) is None
    with pytest.raises(InputError, match="--allow-no-keys") as info:
        exposure_check(Settings(host="0.0.0.0"))
    assert info.value.field == "host"
    assert "without API keys" in (exposure_check(Settings(host="0.0.0.0", allow_no_keys=True))
                                  or "")
