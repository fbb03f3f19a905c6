"""Property-based tests of the normaliser and the signal offsets: whatever the text, every
normalised character maps back into the original text, and every signal's span is its raw text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.normalize import normalize
from classifier.signals import default_lexicon, extract_signals
from classifier.types import Note

# Characters that the normaliser rewrites (fullwidth, circled and dingbat digits, traditional
# Chinese, ligatures that NFKC expands, zero-width and variation selectors, keycaps, whitespace)
# and the pieces of contact handles that the folds rewrite.
TRICKY = list(
    "ＡＢ１２①⑩❶➀¹½ﬁ㎏㈱\u3000\u00a0\u200b\u200d\ufeff\ufe0f\u20e3\u00ad\t\r\n "
    "薇徽威维微信號碼廣告贊助聯繫扣抠qQvVxX+➕❤♥🐧·•・-—_.:：@#[]話题"
    "0123456789abcdefgzAZ加我看主页私信滴滴带价格元折第一绝对"
) + ["\U0001f600", "\U00020000", "\U0002f800", "İ", "ß", "ǅ"]
texts = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=80)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(texts)
def test_normalize_every_offset_maps_back_into_the_original(text: str) -> None:
    nt = normalize(text)
    n = len(text)
    assert nt.source_length == n
    assert len(nt.starts) == len(nt.ends) == len(nt.text)
    previous = 0
    for i in range(len(nt.text)):
        start, end = nt.starts[i], nt.ends[i]
        assert 0 <= start < end <= n, (i, start, end)
        assert start >= previous  # characters keep their order
        previous = start


@FUZZ
@given(texts, st.data())
def test_normalize_source_span_lies_inside_the_original(text: str, data: st.DataObject) -> None:
    nt = normalize(text)
    i = data.draw(st.integers(0, len(nt.text)))
    j = data.draw(st.integers(i, len(nt.text)))
    start, end = nt.source_span(i, j)
    assert 0 <= start <= end <= len(text)
    if i < j:
        assert start < end


@FUZZ
@given(texts, texts)
def test_extract_signals_spans_are_the_raw_text(title: str, text: str) -> None:
    note = Note(id="n", title=title, text=text or "x")
    for s in extract_signals(note, default_lexicon()):
        raw = getattr(note, s.field)
        assert 0 <= s.start < s.end <= len(raw)
        assert raw[s.start:s.end] == s.text
