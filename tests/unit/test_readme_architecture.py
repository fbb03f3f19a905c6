"""README's architecture table ("How a verdict is made") matches the tree: every file or folder it
names exists, and every part of ``serving/`` is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILE = re.compile(r"^[\w./-]+(\.py|\.json|\.txt|/)$")


def module_table() -> list[tuple[list[str], list[str]]]:
    """``(names in the first cell, names in the second)`` for each row of the module table."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## How a verdict is made", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "README: no module table under 'How a verdict is made'"
    out = []
    for row in rows:
        first, second = row.strip("|").split("|")[:2]
        out.append((re.findall(r"`([^`]+)`", first), re.findall(r"`([^`]+)`", second)))
    return out


def named_paths() -> list[Path]:
    """Every path the table names: the first cell's first name from the root, the rest beside it;
    a file named in the description of a folder's row inside that folder (one with a slash in
    its name from the root)."""
    paths = []
    for first, second in module_table():
        head = ROOT / first[0]
        base = head if first[0].endswith("/") else head.parent
        paths.append(head)
        paths += [base / name for name in first[1:]]
        for name in filter(FILE.match, second):
            in_folder = first[0].endswith("/") and "/" not in name.rstrip("/")
            paths.append(base / name if in_folder else ROOT / name)
    return paths


def test_readme_module_table_names_only_what_exists() -> None:
    missing = [str(p.relative_to(ROOT)) for p in named_paths() if not p.exists()]
    assert not missing, f"README 'How a verdict is made' names what is not in the tree: {missing}"


def test_readme_module_table_names_every_part_of_serving() -> None:
    named = {p.resolve() for p in named_paths()}
    parts = [p for p in (ROOT / "serving").iterdir()
             if p.name not in ("__init__.py", "__pycache__")]
    unnamed = sorted(p.name for p in parts if p.resolve() not in named)
    assert not unnamed, f"README 'How a verdict is made' does not name serving/{unnamed}"
