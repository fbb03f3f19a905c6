"""training.shortcuts: blind models that see only a note's form or length, kept per data set."""

from __future__ import annotations

import json
from pathlib import Path

from training.data import load_labelled
from training.readme import render_shortcuts
from training.shortcuts import form_of, length_auc, main, measure

WORDS = ["今天去了公园散步", "这个面霜用了一个月", "周末在家做饭", "新开的咖啡店", "考试复习计划",
         "猫咪又拆家了", "通勤路上听播客", "换季衣柜整理", "第一次学游泳", "楼下面包店打折"]


def _notes(writer: str, *, form_differs: bool) -> list[dict[str, object]]:
    """Genuine notes end with '。'; ads, when their form differs, are short and shout with '!!' and '✨'."""
    rows: list[dict[str, object]] = []
    for i, words in enumerate(WORDS * 3):
        for label in ("sharing", "undisclosed_ad", "declared"):
            text = f"{words}，{writer}第{i}天的记录。{'真的不错' * (i % 3)}"
            if form_differs and label == "undisclosed_ad":
                text = f"{words}!!✨✨"
            elif form_differs and label == "declared":
                text = f"【合作】{words}…… {'真的不错' * (i % 3)}"
            rows.append({"id": f"{writer}-{label}-{i}", "label": label, "text": text, "writer": writer})
    return rows


def _write(tmp_path: Path, *, form_differs: bool) -> list[Path]:
    files = []
    for writer in ("w1", "w2", "w3"):
        path = tmp_path / f"{'styled' if form_differs else 'plain'}_{writer}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                for r in _notes(writer, form_differs=form_differs)), "utf-8")
        files.append(path)
    return files


def test_form_of_keeps_only_the_form(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"id": "a", "label": "sharing", "title": "Ab1",
                                "text": "今天ＡＢ１２，好开心！[笑哭R]#旅行[话题]#✨"}, ensure_ascii=False) + "\n", "utf-8")
    (x,) = load_labelled(path)
    assert form_of(x) == "\n，！[]#[]#✨"  # CJK, letters and digits (full-width too) removed


def test_a_form_shortcut_is_found_and_its_absence_too(tmp_path: Path) -> None:
    styled = measure(_write(tmp_path, form_differs=True), ["w3"], {})
    plain = measure(_write(tmp_path, form_differs=False), ["w3"], {})
    assert styled["train_n"] == plain["train_n"] == 2 * 3 * len(WORDS) * 3
    assert styled["models"]["style"]["held_out_writers"]["macro_f1"] > 0.95
    assert plain["models"]["style"]["held_out_writers"]["macro_f1"] < 0.6
    assert styled["length"]["train"]["length_auc"] < 0.2  # the styled ads are the short ones
    assert plain["length"]["train"]["length_auc"] == 0.5  # same texts in every label


def test_length_auc_is_the_chance_an_ad_is_longer(tmp_path: Path) -> None:
    rows = [{"id": "a", "label": "undisclosed_ad", "text": "长" * 50},
            {"id": "b", "label": "sharing", "text": "短"}, {"id": "c", "label": "declared", "text": "x"}]
    path = tmp_path / "l.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert length_auc(load_labelled(path)) == 1.0
    assert length_auc(load_labelled(path)[1:]) is None  # no ad: undefined


def test_cli_keeps_each_data_set_under_its_key_and_readme_renders_them(tmp_path: Path) -> None:
    files = _write(tmp_path, form_differs=True)
    out = tmp_path / "r" / "shortcuts.json"
    dev = files[2]
    assert main(["--data", *map(str, files[:2]), "--test-writers", "w2", "--key", "two",
                 "--eval-data", str(dev), "--out", str(out)]) == 0
    assert main(["--data", *map(str, files), "--test-writers", "w3", "--key", "three", "--out", str(out)]) == 0
    kept = json.loads(out.read_text("utf-8"))
    assert list(kept) == ["two", "three"]
    assert set(kept["two"]["models"]["style"]) == {"held_out_writers", f"eval:{dev.stem}"}
    table = render_shortcuts(kept)
    assert "| two (90 training notes) |" in table and "| three (180 training notes) |" in table
    assert table.count("\n| ") == 3  # header row and one row per data set


def test_cli_refuses_a_missing_file_and_an_empty_held_out_set(tmp_path: Path) -> None:
    files = _write(tmp_path, form_differs=False)
    out = tmp_path / "s.json"
    assert main(["--data", str(tmp_path / "nope.jsonl"), "--key", "k", "--out", str(out)]) == 2
    assert main(["--data", *map(str, files), "--test-writers", "w9", "--key", "k", "--out", str(out)]) == 2
    assert not out.exists()
