"""Lexicon patterns are matched in bounded time: unsafe shapes are refused with the entry id when a
lexicon loads, and anything else that backtracks stops at the time bound (``MatchTimeout``)."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

import pytest

import classifier
from classifier.errors import MatchTimeout, PolicyError
from classifier.normalize import normalize
from classifier.patterns import Deadline, first_char_class, unsafe_reason
from classifier.signals import Lexicon, LexiconEntry, default_lexicon, extract_signals
from classifier.types import Note

PACKAGE = Path(classifier.__file__).parent


def _lexicon_file(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", r"(?:\s?\w+)*x", "(?:a|b+)*c", "(?:(?:ab)*)*c", "(?:a{1000}){1000}"],
)
def test_lexicon_refuses_an_unsafe_entry_pattern_naming_the_entry(
    tmp_path: Path, pattern: str
) -> None:
    doc = {"version": "t", "entries": [
        {"id": "OK-1", "kind": "price", "patterns": ["元"]},
        {"id": "SLOW-1", "kind": "price", "patterns": [pattern]},
    ]}
    path = _lexicon_file(tmp_path, doc)
    started = time.monotonic()
    with pytest.raises(PolicyError, match="repeat") as info:
        Lexicon.load(path)
    assert info.value.rule_id == "SLOW-1"
    assert "SLOW-1" in str(info.value)
    assert time.monotonic() - started < 5


def test_lexicon_refuses_an_unsafe_fold_pattern_naming_the_fold(tmp_path: Path) -> None:
    doc = {"version": "t", "entries": [],
           "folds": [{"id": "FOLD-X", "pattern": "(?:[0-9]+)+号", "replace": "号"}]}
    with pytest.raises(PolicyError, match="repeat") as info:
        Lexicon.load(_lexicon_file(tmp_path, doc))
    assert info.value.rule_id == "FOLD-X"


def test_lexicon_backtracking_entry_stops_at_the_time_bound() -> None:
    # (a|aa)+$ is not found statically: the time bound stops it and names the entry
    lexicon = Lexicon("t", (LexiconEntry("OK-1", "price", ("元",)),
                            LexiconEntry("SLOW-2", "price", ("(?:a|aa)+$",))),
                      match_timeout=0.2)
    note = Note(id="n1", title="", text="a" * 60 + "b")
    started = time.monotonic()
    with pytest.raises(MatchTimeout) as info:
        extract_signals(note, lexicon)
    assert time.monotonic() - started < 2
    assert info.value.rule_id == "SLOW-2"
    assert "backtracks" in str(info.value) and "SLOW-2" in str(info.value)
    assert isinstance(info.value, PolicyError)


def test_lexicon_backtracking_fold_stops_at_the_time_bound(tmp_path: Path) -> None:
    doc = {"version": "t", "entries": [{"id": "D-1", "kind": "diversion", "patterns": ["微信"]}],
           "folds": [{"id": "FOLD-SLOW", "pattern": "(?:x|xx)+y", "replace": "y"}]}
    lexicon = Lexicon.load(_lexicon_file(tmp_path, doc))
    started = time.monotonic()
    with pytest.raises(MatchTimeout) as info:
        normalize("x" * 60, lexicon.folds, deadline=Deadline(0.2))
    assert time.monotonic() - started < 2
    assert info.value.rule_id == "FOLD-SLOW"


def test_lexicon_rejects_a_non_positive_match_timeout() -> None:
    with pytest.raises(PolicyError, match="match_timeout"):
        Lexicon("t", (), match_timeout=0)


def test_packaged_lexicon_has_no_unsafe_pattern() -> None:
    doc = json.loads((PACKAGE / "data" / "lexicon.json").read_text("utf-8"))
    patterns = [p for e in doc["entries"] for p in e["patterns"]]
    patterns += [f[k] for f in doc["folds"] for k in ("pattern", "strip", "gate") if f.get(k)]
    assert [p for p in patterns if unsafe_reason(p) is not None] == []
    assert default_lexicon().entries  # and it loads


def test_packaged_lexicon_matches_the_longest_note_well_within_the_bound() -> None:
    paragraph = ("用了两周，保湿不错，第一次买这个牌子。#护肤# @小红薯 加薇信abc123领券，到手价99元，"
                 "限时秒杀冲鸭！官方旗舰店有售，回头客很多，已售3000单。\n" * 3
                 + "Today I tried the new serum 100% worth it, link: shop.example.com/x 1 3 8-0000-1234\n")
    text = (paragraph * (100_000 // len(paragraph) + 1))[:100_000]
    started = time.monotonic()
    found = extract_signals(Note(id="n", title=text[:200], text=text), default_lexicon())
    assert found
    assert time.monotonic() - started < 10  # well within the bound (50 s for 100,000 characters)


def test_quadratic_pattern_on_a_long_run_stops_at_the_bound() -> None:
    # \d+\s?(?:元|块) tries every start in a run of digits: 4 s on 20,000 digits with re, and
    # about two minutes on 100,000
    lexicon = Lexicon("t", (LexiconEntry("PRICE-Q", "price", ("\\d+\\s?(?:元|块)",)),), match_timeout=0.2)
    note = Note(id="n", title="", text="1" * 20_000)
    started = time.monotonic()
    with pytest.raises(MatchTimeout) as info:
        extract_signals(note, lexicon)
    assert time.monotonic() - started < 5
    assert info.value.rule_id == "PRICE-Q" and info.value.budget == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?:[·•・][a-z0-9]+){2,}", None),  # a required separator keeps the repeats apart
        (r"(?:[ \-]?\d){9}", None),  # bounded
        (r"(?:a|aa)+", None),  # ambiguous, but not found statically (the time bound is)
        (r"(a+)+", "repeat"),
        (r"(?:a+){2}", "repeat"),
        (r"(?:(?:a{100}){100}){100}", "multiply"),
    ],
)
def test_unsafe_reason(pattern: str, expected: str | None) -> None:
    got = unsafe_reason(pattern)
    assert (got is None) if expected is None else (got is not None and expected in got)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"a{,}b", "[ab]"),
        (r"[]a]", r"[\]a]"),
        (r"\x41b", "[A]"),
        (r"(?#note)ab", "[a]"),
        (r"(?P<e0>ab)|(?P<e1>c)", "[ac]"),
        (r"a{2,3}?b", "[a]"),
        (r"\bab", "[a]"),
        (r"[\d\-x]y", r"[\-\dx]"),
        (r"a{x", None),  # a brace the engines may read differently: no prefilter
        (r"\p{Han}", None),  # engine extras: no prefilter
        (r"(?x) a", None),
    ],
)
def test_first_char_class_more_syntax(pattern: str, expected: str | None) -> None:
    got = first_char_class(pattern)
    assert (got.pattern if got is not None else None) == expected


def test_classifier_uses_no_private_regex_parser() -> None:
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names] + [str(node.module)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith(("re._", "sre_")) or n in ("sre_parse", "sre_compile")]
    assert offenders == []
