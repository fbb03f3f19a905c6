"""The README's quality block is written by code from committed result files, never by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.readme import BEGIN, END, README, rewrite, rewrite_all


def test_readme_quality_block_is_up_to_date() -> None:
    text = README.read_text("utf-8")
    assert rewrite_all(text) == text, "run: .venv/bin/python -m training.readme"


def test_readme_rewrite_replaces_only_the_block() -> None:
    text = f"head\n{BEGIN}\nold figures\n{END}\ntail\n"
    assert rewrite(text, "new") == f"head\n{BEGIN}\nnew\n{END}\ntail\n"
    with pytest.raises(ValueError, match="no"):
        rewrite("no markers here", "new")


def test_a_kept_bench_run_is_the_newest_one_read_back(tmp_path: Path) -> None:
    import json

    from training.readme import keep_run, newest_run

    folder = tmp_path / "results" / "x"
    assert newest_run(folder) is None
    folder.mkdir(parents=True)
    (folder / "2000-01-01-0000.json").write_text("{}", "utf-8")
    path = keep_run(folder, {"bench": {"n": 3, "note": "一"}})
    assert newest_run(folder) == path and path.parent == folder
    assert json.loads(path.read_text("utf-8")) == {"bench": {"n": 3, "note": "一"}}


def test_a_bench_run_is_printed_as_one_json_line_and_kept_only_when_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from training.readme import print_run

    folder = tmp_path / "runs"
    assert print_run(folder, {"bench": {"n": 1, "note": "一"}}, keep=False) is None
    assert json.loads(capsys.readouterr().out.strip()) == {"bench": {"n": 1, "note": "一"}}
    assert not folder.exists()


def test_readme_names_the_packaged_deployment_prior() -> None:
    """The deployment prior the README states in prose is the packaged policy's (not a typed-in copy
    that can drift)."""
    from classifier.rules import Policy

    priors = Policy.load().spec.priors
    assert priors is not None
    dep = priors.deployment
    text = " ".join(README.read_text("utf-8").split())
    said = (f"default for a general feed: {100 * dep['sharing']:g}% sharing, {100 * dep['undisclosed_ad']:g}% "
            f"undisclosed ads, {100 * dep['declared']:g}% declared")
    assert said in text
