"""Every third-party module the code imports is declared in pyproject.toml.

The packages (classifier, serving, training) may import what ``dependencies`` or an optional
extra other than ``dev`` declares; tests and bench may also import the ``dev`` extra. A module
that only arrives as somebody else's dependency (scipy through scikit-learn, starlette through
FastAPI) is not declared and fails here.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"classifier", "serving", "training", "tests", "bench"}
PACKAGES = ("classifier", "serving", "training")
ELSEWHERE = ("tests", "bench")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], set[str]]:
    """(distributions the packages may use, those tests and bench may use)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]

    def names(reqs: list[str]) -> set[str]:
        out = set()
        for req in reqs:
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
            assert m is not None, f"pyproject.toml: cannot read requirement {req!r}"
            out.add(_canonical(m.group(1)))
        return out

    extras = project.get("optional-dependencies", {})
    runtime = names(project["dependencies"])
    for extra, reqs in extras.items():
        if extra != "dev":
            runtime |= names(reqs)
    return runtime, runtime | names(extras.get("dev", []))


def third_party_imports(folder: str) -> dict[str, set[str]]:
    """Top-level third-party module -> the files under ``folder`` importing it."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    out.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return out


@lru_cache(maxsize=1)
def _installed() -> Mapping[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> set[str]:
    """The distributions that provide ``module`` (its own name when it is not installed)."""
    return {_canonical(d) for d in _installed().get(module, [module])}


def undeclared(folders: tuple[str, ...], allowed: set[str]) -> list[str]:
    missing = []
    for folder in folders:
        for module, files in sorted(third_party_imports(folder).items()):
            dists = distributions(module)
            if not dists & allowed:
                missing.append(f"{module} (distribution {'/'.join(sorted(dists))}) imported by "
                               f"{', '.join(sorted(files)[:3])}")
    return missing


def test_packages_import_only_declared_dependencies() -> None:
    runtime, _ = declared()
    missing = undeclared(PACKAGES, runtime)
    assert not missing, ("declare these in pyproject.toml [project] dependencies (pinned) or a "
                         "non-dev extra:\n" + "\n".join(missing))


def test_tests_and_bench_import_only_declared_dependencies() -> None:
    _, everything = declared()
    missing = undeclared(ELSEWHERE, everything)
    assert not missing, ("declare these in pyproject.toml (the dev extra for test-only ones):\n"
                         + "\n".join(missing))


@pytest.mark.parametrize(("module", "dist"), [("sklearn", "scikit-learn"), ("opencc", "opencc")])
def test_distributions_maps_import_names(module: str, dist: str) -> None:
    assert dist in distributions(module)


def test_runtime_dependencies_are_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    loose = [r for r in project["dependencies"] if not re.search(r"==|<", r)]
    assert loose == []
