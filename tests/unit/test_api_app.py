"""The app factory and the serve command: nothing loads at import or in the factory; options
parse; small helpers of the HTTP edge."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.pipeline import Pipeline
from serving.app import add_serve_command, create_app, main, serve
from serving.http_errors import _field_of
from serving.middleware import _is_json
from serving.settings import Settings


def test_api_import_has_no_heavy_side_effects() -> None:
    code = ("import sys, serving.app; "
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
