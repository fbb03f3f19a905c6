"""extract_signals() and the lexicon: every entry fires on its examples, the false-positive traps
stay quiet, offsets point into the original strings, invalid lexicons are refused."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from classifier.errors import PolicyError
from classifier.signals import (
    LEXICON_KINDS,
    MENTION_ENTRY,
    TOPIC_ENTRY,
    Lexicon,
    LexiconEntry,
    default_lexicon,
    extract_signals,
)
from classifier.types import Note, Signal


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


def signals(lexicon: Lexicon, text: str, title: str = "") -> tuple[Signal, ...]:
    return extract_signals(Note(id="n1", title=title, text=text), lexicon)


# (entry id, text, the raw span the entry must report); every packaged entry has a case.
POSITIVES = [
    ("DISC-001", "【广告】这款面霜真的好用", "【广告】"),
    ("DISC-001", "#广告 新品上市", "#广告"),
    ("DISC-001", "广告｜恰饭啦，这款耳机", "广告"),
    ("DISC-001", "说明：本篇为广告", "本篇为广告"),
    ("DISC-001", "【廣告】護膚", "【廣告】"),
    ("DISC-002", "本篇为品牌合作，感谢支持", "本篇为品牌合作"),
    ("DISC-002", "这是一次品牌合作", "品牌合作"),
    ("DISC-002", "#合作 新品体验", "#合作"),
    ("DISC-003", "我们合作的产品很好用", "合作"),
    ("DISC-004", "本期视频由某品牌赞助", "品牌赞助"),
    ("DISC-004", "感谢赞助商", "赞助"),
    ("DISC-005", "品牌方赠送的扫地机器人", "品牌方赠送"),
    ("DISC-005", "受邀体验新款面霜", "受邀体验"),
    ("DISC-006", "特邀体验新品", "特邀"),
    ("DISC-007", "利益相关：品牌寄送", "利益相关"),
    ("DISC-008", "感谢XX品牌邀请试用", "感谢XX品牌邀请"),
    ("DISC-009", "恰饭啦姐妹们", "恰饭"),
    ("DISC-010", "新品 #ad", "#ad"),
    ("DISC-010", "#Sponsored 新品", "#Sponsored"),
    ("CC-001", "这不是广告，真心推荐", "不是广告"),
    ("CC-001", "无广，放心看", "无广"),
    ("CC-002", "自费购入的面霜", "自费"),
    ("CC-003", "无利益相关，纯粹好用", "无利益相关"),
    ("CC-004", "没收钱，纯粹觉得好用", "没收钱"),
    ("CC-005", "纯分享，不喜勿喷", "纯分享"),
    ("CC-006", "我不是托", "不是托"),
    ("DIV-001", "薇❤ abc12345", "薇❤ abc12345"),
    ("DIV-001", "V：abc12345 备注小红书", "V：abc12345"),
    ("DIV-001", "ＶＸ：ａｂｃ１２３４５", "ＶＸ：ａｂｃ１２３４５"),
    ("DIV-002", "想要的加V了解", "加V"),
    ("DIV-002", "快加薇❤️领券", "加薇❤️"),
    ("DIV-002", "绿泡泡联系", "绿泡泡联系"),
    ("DIV-002", "联系方式围信xxx", "联系方式"),
    ("DIV-003", "Q号：12345678", "Q号：12345678"),
    ("DIV-003", "扣扣 12345678", "扣扣 12345678"),
    ("DIV-004", "电话13812345678", "13812345678"),
    ("DIV-004", "电话138 1234 5678。", "138 1234 5678"),
    ("DIV-004", "1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣", "1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣"),
    ("DIV-005", "需要的私我", "需要的私我"),
    ("DIV-005", "私信我", "私信"),
    ("DIV-005", "有问题滴滴我", "滴滴我"),
    ("DIV-005", "想要教程的评论666，我私你", "私你"),
    ("DIV-006", "链接看主页", "看主页"),
    ("DIV-006", "主页有惊喜", "主页有"),
    ("DIV-007", "评论区暗号领取", "暗号"),
    ("DIV-007", "评论区扣1", "评论区扣1"),
    ("DIV-008", "复制口令打开", "口令"),
    ("DIV-009", "扫码进群", "扫码"),
    ("DIV-010", "戳 https://xhslink.com/abc 领取", "https://xhslink.com/abc"),
    ("DIV-010", "邮箱 abc@qq.com", "abc@qq.com"),
    ("DIV-011", "淘宝搜店名就能找到", "淘宝搜"),
    ("DIV-012", "完整版在公众号，搜xxx号", "完整版在公众号"),
    ("DIV-012", "资料我都发在闲鱼了", "发在闲鱼"),
    ("PRICE-001", "只卖￥99", "￥99"),
    ("PRICE-002", "一共99元", "99元"),
    ("PRICE-002", "20块钱买的", "20块钱"),
    ("PRICE-003", "到手价很香", "到手价"),
    ("PRICE-003", "券后更便宜", "券后"),
    ("PRICE-004", "全场5折", "5折"),
    ("PRICE-004", "满199减20", "满199减20"),
    ("HS-001", "限时活动", "限时"),
    ("HS-002", "优惠码在下面", "优惠码"),
    ("HS-003", "链接在这里", "链接"),
    ("HS-004", "转发抽奖", "抽奖"),
    ("HS-005", "闭眼入不踩雷", "闭眼入"),
    ("HS-005", "姐妹们冲！", "冲"),
    ("HS-005", "内部渠道拿货", "内部渠道"),
    ("HS-006", "找我代购", "代购"),
    ("CH-001", "拼多多买的", "拼多多"),
    ("CH-001", "官方旗舰店", "旗舰店"),
    ("CH-001", "TB有同款", "TB"),
    ("ABS-001", "国家级配方", "国家级"),
    ("ABS-001", "全网最低", "全网最"),
    ("ABS-002", "销量第一的面霜", "销量第一"),
    ("ABS-002", "颜值第一！", "第一"),
    ("ABS-003", "唯一推荐的防晒", "唯一"),
    ("ABS-004", "100%有效", "100%"),
    ("ABS-005", "绝对好用", "绝对"),
    ("EFF-001", "美白淡斑一瓶搞定", "美白"),
    ("EFF-002", "根治痘痘", "根治"),
    ("EFF-002", "三天彻底治愈", "彻底治愈"),
    ("EFF-003", "一个月瘦10斤", "瘦10斤"),
    ("EFF-003", "7天见效", "7天见效"),
    ("VERT-001", "打了水光针", "水光针"),
    ("VERT-002", "这款保健品", "保健品"),
    ("VERT-003", "网贷秒下款", "网贷"),
    ("VERT-004", "报了个培训班", "培训"),
    ("VERT-005", "宝妈副业", "副业"),
    ("VERT-005", "在家日入300", "日入300"),
    ("DISC-011", "收到了某品牌的新春福袋！", "收到了某品牌的新春福袋"),
    ("DISC-011", "最后感谢某某品牌方赠送体验", "感谢某某品牌方赠送"),
    ("DISC-012", "作为某某的官方合作伙伴，这次", "作为某某的官方合作伙伴"),
    ("DISC-012", "本次活动与某品牌联合举办", "与某品牌联合举办"),
    ("DISC-012", "@商业广告薯", "@商业广告薯"),
    ("SELL-001", "现货不多，卖完无补", "卖完无补"),
    ("SELL-001", "3支包邮哦", "3支包邮"),
    ("SELL-001", "最后十几套了", "最后十几套"),
    ("SELL-002", "本店新到一批", "本店"),
    ("SELL-002", "欢迎到店体验", "欢迎到店"),
    ("SELL-003", "报名方式见下", "报名方式"),
    ("SELL-003", "仅剩5个名额", "仅剩5个名额"),
    ("SELL-004", "论文代写，有需要的私", "代写"),
    ("SELL-005", "一共卖出去快2万单了", "卖出去快2万单"),
    ("SELL-005", "产地直发，坏果包赔", "产地直发"),
    ("OBJ-001", "这瓶洗发水很香", "洗发水"),
    ("OBJ-002", "他们的训练营", "训练营"),
]

# (text, kind that must not fire): the false-positive traps.
NEGATIVES = [
    ("合作社的大米很好吃", "disclosure"),
    ("我们的合作伙伴", "disclosure"),
    ("团队合作很重要", "disclosure"),
    ("商务合作请私信", "disclosure"),
    ("这不是广告", "disclosure"),
    ("无利益相关", "disclosure"),
    ("没有恰饭", "disclosure"),
    ("没有任何品牌赞助", "disclosure"),
    ("这个广告拍得好看", "disclosure"),
    ("看广告太烦了", "disclosure"),
    ("#广告设计# 作品集", "disclosure"),
    ("谢谢大家提供的建议", "disclosure"),
    ("谢谢老公送来的礼物", "disclosure"),
    ("联合利华宣布收购", "disclosure"),
    ("缺少独家合作的小众品牌", "disclosure"),
    ("在货架角落发现这最后一瓶", "selling"),
    ("去逛了一家小店买的", "selling"),
    ("联系客服退款了", "selling"),
    ("无广州分店", "counter_claim"),
    ("微信支付很方便", "diversion"),
    ("他在团队里很有威信", "diversion"),
    ("火锅加微辣", "diversion"),
    ("ctrl+v 粘贴", "diversion"),
    ("小薇: 你好呀", "diversion"),
    ("扣扣子很难", "diversion"),
    ("Q: 好用吗", "diversion"),
    ("2023年12月25日", "diversion"),
    ("折叠桌很方便", "price"),
    ("骨折了", "price"),
    ("3块饼干", "price"),
    ("冲洗干净后冲泡", "hard_sell"),
    ("咸鱼很好吃", "channel"),
    ("第一次用就爱上了", "absolute"),
    ("第一天上班", "absolute"),
    ("唯一的缺点是贵", "absolute"),
    ("100%纯棉", "absolute"),
    ("绝对值", "absolute"),
    ("白色的衣服", "efficacy"),
    ("在大理的那一刻真的很治愈", "efficacy"),
    ("这样穿显瘦10斤", "efficacy"),
    ("看微信方便多了", "diversion"),
    ("大连的酒店，第一，大堂气派", "absolute"),
    ("绝对不会再买", "absolute"),
    ("8月21日入住", "vertical"),
    ("保险柜坏了", "vertical"),
    ("小时候学绕口令", "diversion"),
    ("今天天气很好", "vertical"),
]


@pytest.mark.parametrize(("entry", "text", "span"), POSITIVES)
def test_extract_signals_entry_fires_with_raw_span(
    lexicon: Lexicon, entry: str, text: str, span: str
) -> None:
    hits = [s for s in signals(lexicon, text) if s.entry == entry and s.text == span]
    assert len(hits) == 1, signals(lexicon, text)
    hit = hits[0]
    assert hit.kind == lexicon.entry(entry).kind
    assert hit.field == "text" and text[hit.start : hit.end] == span


def test_every_packaged_entry_has_a_positive_case(lexicon: Lexicon) -> None:
    # entries for comments or the bio only: tests/unit/test_comments.py
    assert {e.id for e in lexicon.entries if "text" in e.fields} == {entry for entry, _, _ in POSITIVES}


@pytest.mark.parametrize(("text", "kind"), NEGATIVES)
def test_extract_signals_false_positive_traps(lexicon: Lexicon, text: str, kind: str) -> None:
    assert [s for s in signals(lexicon, text) if s.kind == kind] == []


@pytest.mark.parametrize(
    ("text", "counter"),
    [("无利益相关", "无利益相关"), ("这不是广告哦", "不是广告"), ("没有品牌合作", "没有品牌合作")],
)
def test_extract_signals_counter_claim_suppresses_disclosure(
    lexicon: Lexicon, text: str, counter: str
) -> None:
    got = signals(lexicon, text)
    assert [s.text for s in got if s.kind == "counter_claim"] == [counter]
    assert not [s for s in got if s.kind == "disclosure"]


def test_extract_signals_offsets_point_into_original_fields(lexicon: Lexicon) -> None:
    title = "【廣告】ＶＸ好物"
    text = "  加薇❤️ abc12345\u200b，到手价￥99！#好物分享[话题]# @小红书助手 "
    note = Note(id="n1", title=title, text=text)
    got = extract_signals(note, lexicon)
    for s in got:
        assert getattr(note, s.field)[s.start : s.end] == s.text
    fields = [s.field for s in got]
    assert fields == sorted(fields, key=("title", "text").index)
    for name in ("title", "text"):
        starts = [s.start for s in got if s.field == name]
        assert starts == sorted(starts)
    found = {(s.field, s.kind, s.text) for s in got}
    assert ("title", "disclosure", "【廣告】") in found
    # the zero-width space after the handle is removed, so it joins the handle's last character
    assert ("text", "diversion", "加薇❤️ abc12345\u200b") in found
    assert ("text", "price", "￥99") in found
    assert ("text", "topic", "#好物分享[话题]#") in found
    assert ("text", "mention", "@小红书助手") in found


@pytest.mark.parametrize(
    ("text", "kind", "entry", "spans"),
    [
        ("@小红书助手 好用", "mention", MENTION_ENTRY, ["@小红书助手"]),
        ("谢谢@品牌官方号，和@朋友A", "mention", MENTION_ENTRY, ["@品牌官方号", "@朋友A"]),
        ("邮箱 abc@qq.com", "mention", MENTION_ENTRY, []),
        ("#好物分享[话题]# #护肤[话题]#", "topic", TOPIC_ENTRY, ["#好物分享[话题]#", "#护肤[话题]#"]),
        ("#护肤#彩妆#", "topic", TOPIC_ENTRY, ["#护肤#", "#彩妆#"]),
        ("分享 #日常 快乐", "topic", TOPIC_ENTRY, ["#日常"]),
    ],
)
def test_extract_signals_mentions_and_topics(
    lexicon: Lexicon, text: str, kind: str, entry: str, spans: list[str]
) -> None:
    got = [s for s in signals(lexicon, text) if s.kind == kind]
    assert [s.text for s in got] == spans
    assert all(s.entry == entry and text[s.start : s.end] == s.text for s in got)


def test_extract_signals_same_kind_does_not_overlap(lexicon: Lexicon) -> None:
    got = signals(lexicon, "快加v看主页，+vx: abc12345，私信私我滴滴我")
    for kind in {s.kind for s in got}:
        spans = sorted((s.start, s.end) for s in got if s.kind == kind)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans


def test_extract_signals_empty_note(lexicon: Lexicon) -> None:
    assert extract_signals(Note(id="empty"), lexicon) == ()


@pytest.mark.parametrize(("boundary", "fires"), [("word", False), ("none", True)])
def test_word_boundary_uses_jieba_tokens(boundary: str, fires: bool) -> None:
    lex = Lexicon("t", (LexiconEntry("T-1", "disclosure", ("合作",), boundary=boundary),))  # type: ignore[arg-type]
    assert bool(signals(lex, "合作社的大米")) is fires
    assert [s.text for s in signals(lex, "我们合作吧")] == ["合作"]


def test_boundary_rejection_falls_back_to_a_later_entry() -> None:
    lex = Lexicon("t", (
        LexiconEntry("T-1", "disclosure", ("合作",), boundary="word"),
        LexiconEntry("T-2", "disclosure", ("合作社",)),
    ))
    assert [(s.entry, s.text) for s in signals(lex, "合作社的大米")] == [("T-2", "合作社")]


def test_default_lexicon_is_loaded_once_and_versioned() -> None:
    lex = default_lexicon()
    assert lex is default_lexicon()
    assert lex.version.startswith("lexicon-")
    assert {e.kind for e in lex.entries} == set(LEXICON_KINDS)
    assert lex.folds and lex.path is not None and lex.path.endswith("lexicon.json")


# ---- invalid lexicons ------------------------------------------------------------------------

def _doc(**entry: Any) -> dict[str, Any]:
    row = {"id": "BAD-001", "kind": "disclosure", "patterns": ["广告"], "description": "x"}
    row.update(entry)
    return {"version": "test-1", "entries": [row]}


@pytest.mark.parametrize(
    ("doc", "rule_id", "message"),
    [
        (_doc(patterns=["(unclosed"]), "BAD-001", "not a valid regex"),
        (_doc(kind="bogus"), "BAD-001", "unknown kind 'bogus'"),
        (_doc(patterns=[]), "BAD-001", "'patterns' is empty"),
        (_doc(patterns=[""]), "BAD-001", "non-empty"),
        (_doc(patterns=["a*"]), "BAD-001", "matches the empty string"),
        (_doc(patterns=["(?P<x>a)"]), "BAD-001", "named groups"),
        (_doc(patterns=["(a)\\1"]), "BAD-001", "backreferences"),
        (_doc(boundary="sentence"), "BAD-001", "boundary"),
        (_doc(extra="field"), "BAD-001", "extra"),
        (_doc(patterns="广告"), "BAD-001", "patterns"),
        ({"version": "t", "entries": [{"kind": "disclosure", "patterns": ["a"]}]}, "entries[0]", "id"),
        (
            {"version": "t", "entries": [
                {"id": "DUP-1", "kind": "price", "patterns": ["a"]},
                {"id": "DUP-1", "kind": "price", "patterns": ["b"]},
            ]},
            "DUP-1",
            "duplicate entry id",
        ),
        ({"version": "t", "entries": [], "folds": [
            {"id": "F-1", "pattern": "a", "replace": "b", "strip": "c"}]}, "F-1", "exactly one of"),
        ({"version": "t", "entries": [], "folds": [
            {"id": "F-2", "pattern": "(", "replace": "b"}]}, "F-2", "not a valid regex"),
        ({"version": "t", "entries": [], "folds": [{"id": "F-3", "replace": "b"}]}, "F-3",
         "non-empty regex 'pattern'"),
        ({"version": "t", "entries": [], "folds": [
            {"id": "F-4", "pattern": "a", "replace": "b"},
            {"id": "F-4", "pattern": "c", "replace": "d"}]}, "F-4", "duplicate fold id"),
    ],
)
def test_lexicon_invalid_rows_raise_policy_error_naming_the_id(
    tmp_path: Path, doc: dict[str, Any], rule_id: str, message: str
) -> None:
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(PolicyError, match=message) as info:
        Lexicon.load(path)
    assert info.value.rule_id == rule_id
    assert info.value.path == str(path)
    assert rule_id in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid UTF-8 JSON"),
        ("[]", "must be a JSON object"),
        ('{"entries": []}', "non-empty string 'version'"),
        ('{"version": "t"}', "'entries' must be a list"),
        ('{"version": "t", "entries": [], "rules": []}', "unknown top-level keys"),
    ],
)
def test_lexicon_invalid_documents_raise_policy_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "lexicon.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        Lexicon.load(path)


def test_lexicon_missing_file_raises_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Lexicon.load(tmp_path / "nope.json")


def test_lexicon_built_by_hand_is_validated() -> None:
    with pytest.raises(PolicyError) as info:
        Lexicon("t", (LexiconEntry("X-1", "bogus", ("a",)),))
    assert info.value.rule_id == "X-1"


def test_lexicon_custom_folds_apply(tmp_path: Path) -> None:
    doc = {"version": "t",
           "entries": [{"id": "D-1", "kind": "diversion", "patterns": ["微信"]}],
           "folds": [{"id": "F-1", "pattern": "围脖", "replace": "微信"}]}
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    lex = Lexicon.load(path)
    assert [(s.entry, s.text) for s in signals(lex, "关注围脖")] == [("D-1", "围脖")]
    assert signals(lex, "薇信") == ()  # the packaged folds are not used by this lexicon


