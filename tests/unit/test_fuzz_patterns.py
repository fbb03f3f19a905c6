"""Property-based tests of the pattern analyses in :mod:`classifier.patterns`: on generated
patterns, the first-character class is sound (every non-empty match starts with a character of
it, so gating a fold on it never changes what the fold matches) and the analyses never raise."""

from __future__ import annotations

import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from classifier.patterns import FLAGS, first_char_class, unsafe_reason

ALPHABET = "ab1 -·元\n"
consuming = st.sampled_from(
    ["a", "b", "1", "元", "·", r"\-", r"\d", r"\s", r"\w", r"\D", ".", "[ab]", "[^a]", "[a-c1]",
     r"[\d·]", r"[\s]", r"\x61", "[]a]", "(?i:a)"]
)
zero_width = st.sampled_from(["^", "$", r"\b", "(?=a)", "(?!b)", "(?<=1)", "(?<![a1])"])
quantifiers = st.sampled_from(["", "", "?", "*", "+", "{2}", "{1,3}", "{0,2}", "{,}", "+?", "*?"])


def _group(inner: str, kind: str) -> str:
    return {"plain": f"(?:{inner})", "alt": f"(?:{inner}|b)", "atomic": f"(?>{inner})",
            "capture": f"({inner})"}[kind]


patterns = st.recursive(
    st.tuples(consuming, quantifiers).map("".join) | zero_width,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=3).map("|".join),
        st.tuples(inner, st.sampled_from(["plain", "alt", "atomic", "capture"]), quantifiers).map(
            lambda t: _group(t[0], t[1]) + t[2]),
        inner.map(lambda p: f"(?={p})"),
    ),
    max_leaves=8,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _compiles(pattern: str) -> regex.Pattern[str] | None:
    try:
        return regex.compile(pattern, FLAGS)
    except (regex.error, OverflowError):
        return None


@FUZZ
@example("a?b", "b")
@example("(?:a|1*)b", "b")
@example("(?=a)?b", "b")
@example("(?:a?|b)1", "1")
@example("(?:\\b|a)+b", "b")
@given(patterns, st.text(ALPHABET, max_size=30))
def test_first_char_class_is_sound(pattern: str, text: str) -> None:
    rx = _compiles(pattern)
    cls = first_char_class(pattern)
    unsafe_reason(pattern)  # never raises
    if rx is None or cls is None:
        return
    for m in rx.finditer(text, timeout=1.0):
        if m.end() > m.start():
            assert cls.match(text, m.start()) is not None, (pattern, cls.pattern, text, m.span())


@FUZZ
@given(patterns, st.text(ALPHABET, max_size=30))
def test_gated_search_finds_what_the_pattern_finds(pattern: str, text: str) -> None:
    rx = _compiles(pattern)
    cls = first_char_class(pattern)
    if rx is None or cls is None:
        return
    if cls.search(text) is None:  # the gate skips the text: the pattern must not match it
        assert all(m.end() == m.start() for m in rx.finditer(text, timeout=1.0))


@FUZZ
@given(st.text(st.sampled_from("ab()[]{}?*+|\\^$.-,:=!<>#PiIx0123dswDSW"), max_size=20))
def test_analyses_never_raise_on_arbitrary_pattern_text(pattern: str) -> None:
    first_char_class(pattern)
    unsafe_reason(pattern)
