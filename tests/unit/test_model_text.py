"""What a model reads (``classifier.model.model_text``): one note reads the same from an export that
keeps the platform's topic markup in the text and from one that moves the topics to a tag field."""

from __future__ import annotations

from classifier.formats import note_from_dict
from classifier.model import model_text
from classifier.types import Note


def test_model_text_drops_style_and_keeps_words() -> None:
    note = Note(id="a", title="标题[笑哭R]", text="好用😀 #控油[话题]# 下次还买")
    assert model_text(note) == "标题\n好用 #控油# 下次还买"


def test_topics_in_a_tag_field_end_the_body_in_the_form_a_topic_in_the_text_takes() -> None:
    in_text = Note(id="a", title="洗发水", text="用了一个月\n#控油[话题]# #蓬松[话题]#", topics=("控油", "蓬松"))
    in_field = Note(id="a", title="洗发水", text="用了一个月", topics=("控油", "#蓬松#"))
    assert model_text(in_field) == model_text(in_text) == "洗发水\n用了一个月\n#控油# #蓬松#"


def test_topics_the_text_already_holds_are_not_repeated() -> None:
    note = Note(id="a", text="#控油[话题]# 好用", topics=("控油", "控油", "新品"))
    assert model_text(note) == "#控油# 好用\n#新品#"
    assert model_text(Note(id="a", text="好用", topics=("", "#"))) == "好用"
    assert model_text(Note(id="a", title="控油", text="好用", topics=("控油",))) == "控油\n好用"


def test_a_mediacrawler_tag_list_reaches_the_model() -> None:
    note = note_from_dict({"note_id": "m", "title": "t", "desc": "好用", "tag_list": "控油,洗发水"})
    assert model_text(note) == "t\n好用\n#控油# #洗发水#"
