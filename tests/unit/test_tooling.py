"""`make test` lints and type-checks before it tests, with the strictness pyproject.toml claims."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def recipe(target: str) -> list[str]:
    """The command lines of ``target`` in the Makefile."""
    lines = (ROOT / "Makefile").read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{target}\s*:", line))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        out.append(line.strip())
    return out


def test_make_test_runs_ruff_and_mypy_before_pytest() -> None:
    steps = recipe("test")
    ruff = next(i for i, s in enumerate(steps) if re.search(r"ruff check \.", s))
    mypy = next(i for i, s in enumerate(steps) if re.search(r"/mypy\b", s))
    pytest_ = next(i for i, s in enumerate(steps) if "pytest" in s)
    assert ruff < pytest_ and mypy < pytest_


def test_mypy_is_strict_over_the_packages() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]
    assert mypy["strict"] is True
    assert set(mypy["packages"]) == {"classifier", "serving", "training"}
