"""note_from_dict: canonical, crawler and platform records; extraction; validation naming fields."""

from __future__ import annotations

from typing import Any

import pytest

from classifier.errors import InputError
from classifier.notes import (
    extract_mentions,
    extract_topics,
    note_from_dict,
    parse_count,
    strip_topic_markers,
)
from classifier.types import Author, Note, ProductTag

CRAWLER: dict[str, Any] = {
    "note_id": "6650a1b2c3d4e5f600000001",
    "type": "normal",
    "title": "油皮夏天的防晒",
    "desc": "用了一夏天 @安耐晒官方 的小金瓶 #防晒[话题]# #油皮护肤[话题]#\n真的不搓泥",
    "time": 1717200000000,
    "user_id": "5f0000000000000000000001",
    "nickname": "油皮本皮",
    "liked_count": "1.2万",
    "collected_count": "10+",
    "comment_count": "",
    "share_count": "37",
    "ip_location": "四川",
    "image_list": "https://example.com/a.jpg,https://example.com/b.jpg",
    "tag_list": "防晒,油皮护肤",
    "note_url": "https://www.xiaohongshu.com/explore/6650a1b2c3d4e5f600000001",
    "source_keyword": "防晒",
}


def test_notes_canonical_record_builds_every_field() -> None:
    note = note_from_dict({
        "id": "n1", "title": "标题", "text": "正文", "mentions": ["@品牌官方"],
        "topics": ["#护肤"], "product_tags": [{"name": "面霜", "store": "旗舰店", "price": "¥99"}],
        "sponsor_flag": "true",
        "author": {"account_type": "Creator", "has_store": 1, "followers": "1.5万",
                   "id": 42, "name": "小A"},
        "published_at": "2024-06-01T12:00:00+08:00",
        "likes": 3, "collects": "4", "comments": 5.0, "shares": 0, "views": "1,234",
    })
    assert note == Note(
        id="n1", title="标题", text="正文", mentions=("品牌官方",), topics=("护肤",),
        product_tags=(ProductTag("面霜", "旗舰店", 99.0),), sponsor_flag=True,
        author=Author("creator", True, 15000, "42", "小A"),
        published_at="2024-06-01T12:00:00+08:00",
        likes=3, collects=4, comment_count=5, shares=0, views=1234,
    )


def test_notes_crawler_record_strips_markers_and_extracts() -> None:
    note = note_from_dict(CRAWLER)
    assert note.id == CRAWLER["note_id"]
    assert note.text == "用了一夏天 @安耐晒官方 的小金瓶 #防晒# #油皮护肤#\n真的不搓泥"
    assert note.mentions == ("安耐晒官方",)
    assert note.topics == ("防晒", "油皮护肤")
    assert note.author == Author(id="5f0000000000000000000001", name="油皮本皮")
    assert note.published_at == "2024-06-01T00:00:00+00:00"
    assert (note.likes, note.collects, note.comment_count, note.shares) == (12000, 10, None, 37)
    assert note.sponsor_flag is False and note.product_tags == ()


def test_notes_crawler_topics_from_text_when_tag_list_empty() -> None:
    note = note_from_dict({**CRAWLER, "tag_list": "", "desc": "#早餐[话题]# 好吃 #自制#"})
    assert note.topics == ("早餐", "自制")


def test_notes_platform_object() -> None:
    note = note_from_dict({
        "note_id": "p1", "display_title": "平台对象", "desc": "感谢 @某品牌 邀请 #好物[话题]#",
        "at_user_list": [{"nickname": "某品牌", "user_id": "b1"}, {"name": "另一个", "user_id": 2},
                         {"user_id": "b3"}],
        "tag_list": [{"id": "t1", "name": "好物", "type": "topic"},
                     {"id": "g1", "name": "修护面霜", "type": "goods"},
                     {"id": "l1", "name": "上海", "type": "location"}],
        "interact_info": {"liked_count": "2.3万", "collected_count": "900",
                          "comment_count": "45", "share_count": "12"},
        "user": {"user_id": "u3", "nickname": "小C"},
        "cooperate_binds": [{"brand": "b1"}],
    })
    assert note.title == "平台对象"
    assert note.mentions == ("某品牌", "另一个")
    assert note.topics == ("好物",)
    assert note.product_tags == (ProductTag("修护面霜"),)
    assert note.sponsor_flag is True
    assert (note.likes, note.collects, note.comment_count, note.shares) == (23000, 900, 45, 12)
    assert note.author == Author(id="u3", name="小C")


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("is_cooperation", True, True), ("is_cooperation", "false", False),
    ("sponsor", {"brand": "x"}, True), ("sponsor", {}, False),
    ("cooperate_binds", [], False), ("is_sponsored", 1, True), ("sponsor_flag", 0, False),
])
def test_notes_cooperation_flags(flag: str, value: Any, expected: bool) -> None:
    assert note_from_dict({"id": "x", "text": "t", flag: value}).sponsor_flag is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("谢谢 @小红薯 和@Amy.Li。再见", ("小红薯", "Amy.Li")),
    ("@品牌官方，@品牌官方 重复", ("品牌官方",)),
    ("邮箱 abc@qq.com 不是提及", ()),
    ("@用户A[赞R]", ("用户A",)),
])
def test_notes_extract_mentions(text: str, expected: tuple[str, ...]) -> None:
    assert extract_mentions(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("#护肤[话题]# #好物分享[话题]#", ("护肤", "好物分享")),
    ("今天 #穿搭# 分享", ("穿搭",)),
    ("结尾的话题 #ootd #日常", ("ootd", "日常")),
    ("#ad 感谢品牌", ("ad",)),
    ("没有话题，只有 &#39; 实体", ()),
])
def test_notes_extract_topics(text: str, expected: tuple[str, ...]) -> None:
    assert extract_topics(text) == expected


def test_notes_strip_topic_markers_keeps_the_rest() -> None:
    assert strip_topic_markers("a #护肤[话题]# b [话题] #x[话题]") == "a #护肤# b [话题] #x"


@pytest.mark.parametrize(("value", "expected"), [
    (12, 12), (12.0, 12), ("12", 12), ("1,234", 1234), ("1.2万", 12000), ("3w", 30000),
    ("10+", 10), ("2亿", 200_000_000), ("1.5k", 1500), ("", None), (None, None),
])
def test_notes_parse_count(value: Any, expected: int | None) -> None:
    assert parse_count(value, field="likes") == expected


@pytest.mark.parametrize("value", ["many", True, -1, [1], "1.2.3"])
def test_notes_parse_count_rejects(value: Any) -> None:
    with pytest.raises(InputError) as info:
        parse_count(value, field="liked_count", row=7)
    assert info.value.field == "liked_count" and info.value.row == 7


@pytest.mark.parametrize(("record", "field"), [
    ({"text": "no id"}, "id"),
    ({"id": "", "text": "empty id"}, "id"),
    ({"id": 1.5, "text": "float id"}, "id"),
    ({"id": "x"}, "text"),
    ({"id": "x", "title": " ", "text": "  "}, "text"),
    ({"id": "x", "text": 123}, "text"),
    ({"id": "x", "text": "t", "title": ["a"]}, "title"),
    ({"note_id": "x", "desc": 5}, "desc"),
    ({"id": "x", "text": "t", "mentions": "@a"}, "mentions"),
    ({"id": "x", "text": "t", "mentions": ["a", 1]}, "mentions[1]"),
    ({"id": "x", "text": "t", "topics": [None]}, "topics[0]"),
    ({"id": "x", "text": "t", "author": "me"}, "author"),
    ({"id": "x", "text": "t", "author": {"followers": "many"}}, "author.followers"),
    ({"id": "x", "text": "t", "author": {"account_type": "brand"}}, "author.account_type"),
    ({"id": "x", "text": "t", "author": {"has_store": "maybe"}}, "author.has_store"),
    ({"id": "x", "text": "t", "sponsor_flag": "maybe"}, "sponsor_flag"),
    ({"id": "x", "text": "t", "sponsor_flag": 2}, "sponsor_flag"),
    ({"id": "x", "text": "t", "product_tags": [{"store": "s"}]}, "product_tags[0].name"),
    ({"id": "x", "text": "t", "product_tags": [{"name": "a", "price": "free"}]},
     "product_tags[0].price"),
    ({"id": "x", "text": "t", "product_tags": {"name": "a"}}, "product_tags"),
    ({"note_id": "x", "desc": "t", "liked_count": "lots"}, "liked_count"),
    ({"id": "x", "text": "t", "interact_info": {"liked_count": "?"}}, "interact_info.liked_count"),
    ({"id": "x", "text": "t", "interact_info": [1]}, "interact_info"),
    ({"id": "x", "text": "t", "at_user_list": ["a"]}, "at_user_list[0]"),
    ({"id": "x", "text": "t", "tag_list": 5}, "tag_list"),
    ({"id": "x", "text": "t", "published_at": True}, "published_at"),
])
def test_notes_invalid_field_is_named(record: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        note_from_dict(record, row=3)
    assert info.value.field == field
    assert info.value.row == 3
    assert "expected" in str(info.value) or "give" in str(info.value)


def test_notes_text_over_max_chars() -> None:
    note_from_dict({"id": "x", "text": "a" * 50}, max_chars=50)
    with pytest.raises(InputError) as info:
        note_from_dict({"id": "x", "text": "a" * 51}, max_chars=50)
    assert info.value.field == "text" and "max_chars" in str(info.value)


def test_notes_non_mapping_is_rejected() -> None:
    with pytest.raises(InputError, match="JSON object"):
        note_from_dict(["not", "a", "dict"], row=2)  # type: ignore[arg-type]


def test_notes_unknown_fields_ignored_and_chasm_comments_list() -> None:
    note = note_from_dict({"id": 7, "title": "t", "description": "正文", "comments": ["好看"],
                           "images": ["x.jpg"], "label": 1, "whatever": {"a": 1}})
    assert note.id == "7" and note.text == "正文" and note.comment_count is None
    assert [c.text for c in note.comments] == ["好看"]


@pytest.mark.parametrize(("value", "expected"), [
    (1717200000000, "2024-06-01T00:00:00+00:00"),
    ("1717200000000", "2024-06-01T00:00:00+00:00"),
    (1717200000, "2024-06-01T00:00:00+00:00"),
    ("2024-06-01 08:00", "2024-06-01 08:00"),
])
def test_notes_time_forms(value: Any, expected: str) -> None:
    assert note_from_dict({"note_id": "x", "desc": "t", "time": value}).published_at == expected
