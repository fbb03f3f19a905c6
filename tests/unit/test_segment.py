"""segment(), spans(), tokens(): jieba with the domain dictionary, loaded once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from classifier import segment as seg
from classifier.segment import NUM, PRICE, segment, spans, tokens, warm


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("这次品牌合作的面霜很好用", "品牌合作"),
        ("到手价只要九十九", "到手价"),
        ("券后价格很香", "券后"),
        ("这篇是恰饭笔记", "恰饭"),
        ("无广自费种草", "无广"),
        ("无广自费种草", "自费"),
        ("蒲公英平台接单", "蒲公英"),
        ("打了玻尿酸和水光针", "玻尿酸"),
        ("打了玻尿酸和水光针", "水光针"),
        ("利益相关：品牌寄送", "利益相关"),
        ("有问题私信我", "私信"),
        ("复制口令打开", "口令"),
    ],
)
def test_segment_keeps_domain_words_whole(text: str, word: str) -> None:
    assert word in segment(text)


def test_segment_separates_cooperative_from_cooperation() -> None:
    assert "合作社" in segment("合作社的大米很好吃")
    assert "合作" not in segment("合作社的大米很好吃")


@pytest.mark.parametrize("text", ["品牌合作，到手价99元！", "Hello 世界 abc123", ""])
def test_spans_cover_the_text_with_exact_offsets(text: str) -> None:
    got = spans(text)
    assert "".join(w for w, _, _ in got) == text
    pos = 0
    for w, s, e in got:
        assert (s, e) == (pos, pos + len(w)) and text[s:e] == w
        pos = e


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("到手价￥99，真的绝了！", ["到手价", PRICE, "真的", "绝", "了"]),
        ("只要99元", ["只要", PRICE]),
        ("¥19.9 包邮", [PRICE, "包邮"]),
        ("用了3天", ["用", "了", NUM, "天"]),
        ("iPhone15 ABC123", ["iphone" + NUM, "abc" + NUM]),
        ("薇信 联系", ["微信", "联系"]),
        ("這個產品！！！", ["这个", "产品"]),
        ("……~~~", []),
    ],
)
def test_tokens_normalises_drops_punctuation_and_folds_numbers(
    text: str, expected: list[str]
) -> None:
    assert tokens(text) == expected


def test_tokens_keep_emoji() -> None:
    assert "✨" in tokens("好用✨")


def test_warm_builds_one_tokenizer_and_silences_jieba() -> None:
    warm()
    first = seg._tokenizer()
    warm()
    assert seg._tokenizer() is first
    assert logging.getLogger("jieba").getEffectiveLevel() >= logging.WARNING


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTECHECK_CACHE_DIR", str(tmp_path))
    assert seg._cache_dir() == tmp_path / "jieba"


def test_user_dictionary_rows_parse() -> None:
    rows = seg._user_words()
    words = [w for w, _, _ in rows]
    assert len(rows) >= 200
    assert len(words) == len(set(words)), "duplicate words in userdict.txt"
    assert {"品牌合作", "利益相关", "到手价", "恰饭", "玻尿酸"} <= set(words)
