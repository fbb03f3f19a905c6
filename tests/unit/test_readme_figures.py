"""The README's quality block is written by code from committed result files, never by hand."""

from __future__ import annotations

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
