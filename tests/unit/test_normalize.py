"""normalize(): each step, each fold of the packaged lexicon, and offsets back to the source."""

from __future__ import annotations

import pytest

from classifier.normalize import NormalizedText, default_folds, first_char_class, normalize

STEPS = [
    # NFKC: fullwidth letters, digits and punctuation; circled and compatibility digits
    ("ＡＢＣ１２３！？", "abc123!?"),
    ("好用，真的！", "好用,真的!"),
    ("①②③", "123"),
    ("⑩点", "10点"),
    ("⒈第一步", "1.第一步"),
    ("𝟏𝟐", "12"),
    # zero-width characters, BOM, variation selectors, keycap combiner
    ("微\u200b信", "微信"),
    ("\ufeff开头a\u200db", "开头ab"),
    ("❤\ufe0f", "❤"),
    ("1\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e3", "138"),
    # traditional -> simplified
    ("這個產品很好用", "这个产品很好用"),
    ("【廣告】護膚品", "【广告】护肤品"),
    ("乾燥頭髮", "干燥头发"),
    # lower case
    ("iPhone ALL", "iphone all"),
    # whitespace runs
    ("好用　　真的", "好用 真的"),
    ("a \t b", "a b"),
    ("第一行 \n\n 第二行", "第一行\n第二行"),
    ("a\tb", "a b"),
]

# (fold id, raw, normalised); every fold of the packaged lexicon has at least one case.
FOLDS = [
    ("FOLD-001", "❶❷❸", "123"),
    ("FOLD-001", "🔟点见", "10点见"),
    ("FOLD-002", "薇信", "微信"),
    ("FOLD-002", "徽信", "微信"),
    ("FOLD-002", "薇❤️ abc", "微信 abc"),
    ("FOLD-002", "微♥", "微信"),
    ("FOLD-003", "微X", "微信"),
    ("FOLD-004", "威信：abc123", "微信:abc123"),
    ("FOLD-004", "维信 abc12345", "微信 abc12345"),
    ("FOLD-005", "VX", "微信"),
    ("FOLD-005", "ＶＸ", "微信"),
    ("FOLD-005", "wx联系", "微信联系"),
    ("FOLD-005", "v信", "微信"),
    ("FOLD-006", "+v", "加微信"),
    ("FOLD-006", "➕V 123456", "加微信 123456"),
    ("FOLD-006", "加v", "加微信"),
    ("FOLD-007", "+vx", "加微信"),
    ("FOLD-007", "➕微信", "加微信"),
    ("FOLD-008", "加薇 abc", "加微信 abc"),
    ("FOLD-008", "加微：abc", "加微信:abc"),
    ("FOLD-009", "卫星：abc123", "微信:abc123"),
    ("FOLD-010", "绿泡泡找我", "微信找我"),
    ("FOLD-010", "绿色泡泡", "微信"),
    ("FOLD-011", "V：abc123", "微信:abc123"),
    ("FOLD-011", "薇: abc", "微信: abc"),
    ("FOLD-012", "扣扣", "qq"),
    ("FOLD-012", "Q Q", "qq"),
    ("FOLD-013", "Q号", "qq号"),
    ("FOLD-013", "q：123456", "qq:123456"),
    ("FOLD-014", "🐧：12345678", "qq:12345678"),
    ("FOLD-015", "138 1234 5678", "13812345678"),
    ("FOLD-015", "138-1234-5678", "13812345678"),
    ("FOLD-015", "1 3 8 1 2 3 4 5 6 7 8", "13812345678"),
    ("FOLD-015", "1️⃣ 3️⃣ 8️⃣ 1️⃣ 2️⃣ 3️⃣ 4️⃣ 5️⃣ 6️⃣ 7️⃣ 8️⃣", "13812345678"),
    ("FOLD-016", "a·b·c·1·2", "abc12"),
]

# Things folding must leave alone.
UNFOLDED = [
    "树立威信很重要",
    "维信金科",
    "加微辣",
    "参加微博活动",
    "ctrl+v 粘贴",
    "vip会员",
    "wxyz",
    "小薇: 你好",
    "扣扣子",
    "q: 好用吗",
    "卫星发射成功",
    "2023 12 25",
    "张·三",
    "微笑",
    "88.5 99.5",
]


@pytest.mark.parametrize(("raw", "expected"), STEPS)
def test_normalize_steps(raw: str, expected: str) -> None:
    assert normalize(raw, ()).text == expected


@pytest.mark.parametrize(("fold_id", "raw", "expected"), FOLDS)
def test_normalize_folds(fold_id: str, raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_normalize_every_packaged_fold_has_a_case() -> None:
    assert {f.id for f in default_folds()} == {fid for fid, _, _ in FOLDS}


@pytest.mark.parametrize("raw", UNFOLDED)
def test_normalize_folds_leave_lookalikes_alone(raw: str) -> None:
    assert normalize(raw).text == normalize(raw, ()).text


@pytest.mark.parametrize("raw", [raw for raw, _ in STEPS] + [raw for _, raw, _ in FOLDS])
def test_normalize_offsets_are_monotonic_and_inside_the_source(raw: str) -> None:
    nt = normalize(raw)
    assert len(nt.starts) == len(nt.ends) == len(nt.text)
    assert nt.source_length == len(raw)
    for i in range(len(nt.text)):
        assert 0 <= nt.starts[i] < nt.ends[i] <= len(raw)
        if i:
            assert nt.starts[i - 1] <= nt.starts[i] and nt.ends[i - 1] <= nt.ends[i]


@pytest.mark.parametrize("raw", [raw for raw, _ in STEPS] + [raw for _, raw, _ in FOLDS])
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize(raw).text
    assert normalize(once).text == once


@pytest.mark.parametrize(
    ("raw", "needle", "source"),
    [
        ("快加薇❤️领券", "微信", "薇❤️"),
        ("快加薇❤️领券", "加微信", "加薇❤️"),
        ("ＶＸ：ａｂｃ１２３", "微信:abc123", "ＶＸ：ａｂｃ１２３"),
        ("联系+v哦", "加微信", "+v"),
        ("电话1️⃣3️⃣8️⃣ 1234 5678。", "13812345678", "1️⃣3️⃣8️⃣ 1234 5678"),
        ("這個產品", "产品", "產品"),
        ("前面  \u200b  后面", "面 后", "面  \u200b  后"),
        ("⑩点开抢", "10", "⑩"),
        ("扣扣 12345678", "qq 12345678", "扣扣 12345678"),
    ],
)
def test_normalize_source_span_maps_back_exactly(raw: str, needle: str, source: str) -> None:
    nt = normalize(raw)
    i = nt.text.index(needle)
    s, e = nt.source_span(i, i + len(needle))
    assert raw[s:e] == source


def test_normalize_source_span_of_part_of_a_one_to_one_fold() -> None:
    nt = normalize("薇信号")  # 薇信 -> 微信 keeps one source character per character
    assert nt.text == "微信号"
    assert nt.source_span(1, 2) == (1, 2)


def test_normalize_source_span_empty_and_out_of_range() -> None:
    nt = normalize("ab\u200bc")
    assert nt.text == "abc"
    assert nt.source_span(0, 0) == (0, 0)
    assert nt.source_span(3, 3) == (4, 4)
    with pytest.raises(IndexError, match="outside the normalised text"):
        nt.source_span(2, 5)
    with pytest.raises(IndexError):
        nt.source_span(2, 1)


def test_normalize_empty_text() -> None:
    nt = normalize("")
    assert nt.text == "" and len(nt.starts) == 0 and nt.source_span(0, 0) == (0, 0)


def test_normalized_text_rejects_mismatched_offsets() -> None:
    with pytest.raises(ValueError, match="one start and one end per character"):
        NormalizedText("ab", (0,), (1,), 2)


def test_normalize_folds_off_with_empty_table() -> None:
    assert normalize("薇信", ()).text == "薇信"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?<![a-z])(?:vx|wx)", "[vw]"),
        (r"x?y", "[xy]"),
        (r"^\s?广告", r"[\s广]"),
        (r".abc", None),
        (r"[^a]b", None),
        (r"(?i)abc", None),
        (r"(?i:a)b", None),
    ],
)
def test_first_char_class(pattern: str, expected: str | None) -> None:
    got = first_char_class(pattern)
    assert (got.pattern if got is not None else None) == expected


