"""training.forms: each export form rewrites a note as another export would, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from classifier.types import Note
from training.forms import FORMS, main, render

NOTE = Note(id="a", title="洗发水", text="用了一个月[笑哭R]\n真的好用\t#控油[话题]# #蓬松[话题]#",
            topics=("控油", "蓬松"))


def rewrite(name: str) -> Note:
    return FORMS[name][1](NOTE)


def test_each_form_changes_what_it_says_and_keeps_the_rest() -> None:
    assert rewrite("as given") == NOTE
    moved = rewrite("topics in a tag field")
    assert (moved.text, moved.topics) == ("用了一个月[笑哭R]\n真的好用\t ", ("控油", "蓬松"))
    dropped = rewrite("topics dropped")
    assert (dropped.text, dropped.topics) == (moved.text.rstrip(), ())
    assert (rewrite("no title").title, rewrite("no title").text) == ("", NOTE.text)
    assert rewrite("title in the text").text == "洗发水\n" + NOTE.text and not rewrite("title in the text").title
    assert rewrite("one line").text == "用了一个月[笑哭R] 真的好用 #控油[话题]# #蓬松[话题]#"
    assert rewrite("no emoji codes").text == "用了一个月\n真的好用\t#控油[话题]# #蓬松[话题]#"
    assert rewrite("cut to 60").text == NOTE.text[:60] and len(rewrite("cut to 120").text) <= 120
    assert all(FORMS[name][1](NOTE).id == "a" for name in FORMS)


def test_topics_dropped_is_the_rewrite_the_training_augment_copies() -> None:
    from training.trainer import without_topics

    note = Note(id="b", text="#护肤# 换季好用 #无关[话题]#\n#换季#", topics=("护肤", "换季"))
    dropped = FORMS["topics dropped"][1](note)
    assert (dropped.text, dropped.topics) == (" 换季好用", ())  # listed plain hashtags and all markup go
    copy = without_topics(note)
    assert copy is not None and (copy.id, copy.text, copy.topics) == ("b~no-topics", dropped.text, ())


def test_forms_main_keeps_a_result_the_readme_renders(tmp_path: Path, lexical_dir: Path) -> None:
    data = tmp_path / "labelled.jsonl"
    rows = [{"id": f"n{i}", "title": "周末", "text": text, "label": label} for i, (text, label) in enumerate([
        ("天气很好，带了新买的帐篷 #露营[话题]#", "sharing"), ("加微信领优惠，私我下单", "undisclosed_ad"),
        ("品牌合作：感谢品牌方赠送", "declared")])]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out = tmp_path / "forms.json"
    assert main(["--data", str(data), "--model", str(lexical_dir), "--out", str(out)]) == 0
    kept = json.loads(out.read_text("utf-8"))
    assert list(kept["forms"]) == list(FORMS) and all(f["n"] == 3 for f in kept["forms"].values())
    table = render(kept)
    assert table.count("\n| ") == len(FORMS) + 1 and "| topics dropped |" in table
