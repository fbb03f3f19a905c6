"""Brand keys, the dump-wide dictionary and where a note names brands."""

from __future__ import annotations

import pytest

from classifier.types import Note, ProductTag
from serving.report.brands import BrandDictionary, brand_key, note_brands


@pytest.mark.parametrize(("name", "key"), [
    ("花西子官方旗舰店", "花西子"),
    ("@花西子旗舰店", "花西子"),
    ("兰蔻官方", "兰蔻"),
    ("@Dior 官方旗舰店", "dior"),
    ("ＳＫ-II", "skii"),
    ("追光科技官方账号", "追光科技"),
    ("官方旗舰店", "官方旗舰店"),  # nothing left after the suffix: keep the name
    ("小米专卖店", "小米"),
    ("   ", ""),
])
def test_report_brand_key(name: str, key: str) -> None:
    assert brand_key(name) == key


def _dictionary(*names: str) -> BrandDictionary:
    d = BrandDictionary()
    for name in names:
        d.add(name)
    return d


def test_report_dictionary_finds_keys_in_text() -> None:
    d = _dictionary("花西子官方旗舰店", "Dior", "美", "12345")
    assert len(d) == 2  # one-character and digit-only keys are not searched for
    assert d.find("最近在用花西子的散粉，还有DIOR口红") == frozenset({"花西子", "dior"})
    assert d.find("diorama 模型") == frozenset()
    assert d.find("") == frozenset()
    assert BrandDictionary().find("花西子") == frozenset()


def test_report_dictionary_display_is_the_most_common_name() -> None:
    d = _dictionary("花西子官方旗舰店", "花西子旗舰店", "花西子官方旗舰店")
    assert d.display("花西子") == "花西子官方旗舰店"
    assert d.display("unknown") == "unknown"


def test_report_dictionary_learns_mentions_and_stores_not_product_names() -> None:
    d = BrandDictionary()
    d.learn(Note(id="1", text="x", mentions=("追光科技官方",),
                 product_tags=(ProductTag(name="小黑瓶精华", store="兰蔻官方旗舰店"),
                               ProductTag(name="保湿面霜"))))
    assert "追光科技" in d and "兰蔻" in d
    assert "保湿面霜" not in d and d.display("保湿面霜") == "保湿面霜"


def test_report_note_brands_by_source() -> None:
    d = _dictionary("花西子官方旗舰店", "追光科技")
    note = Note(id="1", title="花西子散粉", text="@追光科技 的耳机不错",
                mentions=("追光科技",), product_tags=(ProductTag(name="保湿面霜"),))
    found = note_brands(note, d)
    assert found.mentioned == frozenset({"追光科技"})
    assert found.tagged == frozenset({"保湿面霜"})
    assert found.in_text == frozenset({"花西子", "追光科技"})
    assert found.all == frozenset({"花西子", "追光科技", "保湿面霜"})
