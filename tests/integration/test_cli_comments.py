"""`notecheck score notes.jsonl --comments comments.jsonl`: MediaCrawler's comment export joined to
its notes by note_id, end to end with the shipped model; every comment row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.cli import main
from tests.conftest import write_jsonl

BLAND = "天气很好，带了新买的帐篷，风景超美，下次还来。"
NOTES = [  # MediaCrawler note rows: the author is user_id
    {"note_id": "m1", "title": "周末去露营", "desc": BLAND, "user_id": "u1", "nickname": "小露",
     "time": 1717200000000, "liked_count": "12", "comment_count": "3"},
    {"note_id": "m2", "title": "周末去露营", "desc": BLAND, "user_id": "u2", "nickname": "小营",
     "comment_count": "1"},
    {"note_id": "m3", "title": "周末去露营", "desc": BLAND, "user_id": "u3"},
]
COMMENTS = [  # MediaCrawler comment rows
    {"comment_id": "10", "note_id": "m1", "content": "帐篷求链接", "user_id": "x9", "nickname": "路人",
     "parent_comment_id": "0", "like_count": "2", "create_time": 1717200100000},
    {"comment_id": "11", "note_id": "m1", "content": "已私", "user_id": "u1", "nickname": "小露",
     "parent_comment_id": "10", "like_count": "0", "create_time": 1717200200000},
    {"comment_id": "20", "note_id": "m2", "content": "私我私我", "user_id": "x8", "parent_comment_id": "0"},
    {"comment_id": "30", "note_id": "m9", "content": "没有这篇笔记", "user_id": "x7"},
    {"comment_id": "40", "note_id": "m1", "user_id": "x6"},
    {"comment_id": "50", "content": "没有 note_id", "user_id": "x5"},
    {"comment_id": "60", "note_id": "m2", "content": "好看", "like_count": "很多"},
]


def score(*args: str | Path) -> int:
    return main(["score", *map(str, args), "--no-progress"])


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_cli_comments_join_by_note_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    comments = write_jsonl(tmp_path / "comments.jsonl", COMMENTS)
    out = tmp_path / "v.jsonl"
    summary = tmp_path / "summary.json"
    assert score(notes, "--comments", comments, "-o", out, "--summary-json", summary) == 0
    verdicts = {v["id"]: v for v in read_jsonl(out)}
    assert set(verdicts) == {"m1", "m2", "m3"}
    m1 = verdicts["m1"]
    assert m1["label"] == "undisclosed_ad"
    reasons = m1["reasons"]
    assert isinstance(reasons, list)
    assert {"rule": "R14-AUTHOR-REPLY-DIVERSION", "evidence": "已私", "field": "comments[1]", "start": 0,
            "end": 2} in reasons
    assert verdicts["m2"]["label"] == "sharing"  # a commenter's 私我 is not the author's
    assert verdicts["m3"]["label"] == "sharing"
    errors = read_jsonl(tmp_path / "v.errors.jsonl")
    assert [(e["source"], e["row"], e["field"]) for e in errors] == [
        ("comments", 5, "comment.text"), ("comments", 6, "note_id"), ("comments", 7, "comment.like_count")]
    assert all(e["reason"] for e in errors)
    counts = json.loads(summary.read_text("utf-8"))["comments"]
    assert counts == {"rows": 7, "joined": 3, "failed": 3, "unmatched": 1}
    assert counts["joined"] + counts["failed"] + counts["unmatched"] == len(COMMENTS)
    assert "comment rows 7: joined 3, failed 3 (in the errors file), matching no note 1" in capsys.readouterr().out


def test_cli_comments_without_the_file_the_note_is_sharing(tmp_path: Path) -> None:
    notes = write_jsonl(tmp_path / "notes.jsonl", NOTES[:1])
    out = tmp_path / "v.jsonl"
    assert score(notes, "-o", out) == 0
    (v,) = read_jsonl(out)
    assert v["label"] == "sharing"


def test_cli_comments_missing_file_on_either_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    assert score(notes, "--comments", tmp_path / "c.jsonl", "--engine", "ray", "-o", tmp_path / "v.jsonl") == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "v.jsonl").exists()
    assert score(notes, "--comments", tmp_path / "none.jsonl", "-o", tmp_path / "v.jsonl") == 1
    assert "comments" in capsys.readouterr().err


def test_cli_comments_resume_does_not_repeat_comment_errors(tmp_path: Path) -> None:
    notes = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    comments = write_jsonl(tmp_path / "comments.jsonl", COMMENTS)
    out = tmp_path / "v.jsonl"
    assert score(notes, "--comments", comments, "-o", out, "--limit", "1", "--batch-size", "1") == 0
    assert score(notes, "--comments", comments, "-o", out, "--resume", "--batch-size", "1") == 0
    assert [v["id"] for v in read_jsonl(out)] == ["m1", "m2", "m3"]
    assert len(read_jsonl(tmp_path / "v.errors.jsonl")) == 3


def test_cli_check_takes_replies_and_bio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", BLAND, "--comment", "求链接", "--author-reply", "已私"]) == 0
    v = json.loads(capsys.readouterr().out)
    assert v["label"] == "undisclosed_ad"
    assert any(r["field"] == "comments[1]" for r in v["reasons"])
    assert main(["check", BLAND, "--bio", "商务合作 a@b.com"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "sharing"


@pytest.mark.parametrize("resumed", [False, True])
def test_cli_comments_a_repeated_note_id_counts_its_comment_rows_once(tmp_path: Path, resumed: bool) -> None:
    """A dump that repeats a note id joins its comments to each copy, but the comment file's rows
    are counted once (joined never above the rows read, unmatched never negative), also when the
    run is resumed between the copies."""
    notes = write_jsonl(tmp_path / "notes.jsonl", [*NOTES, NOTES[0]])
    comments = write_jsonl(tmp_path / "comments.jsonl", COMMENTS)
    out, summary = tmp_path / "v.jsonl", tmp_path / "summary.json"
    if resumed:
        assert score(notes, "--comments", comments, "-o", out, "--limit", "2", "--batch-size", "1") == 0
    assert score(notes, "--comments", comments, "-o", out, "--batch-size", "1", "--summary-json", summary,
                 *(["--resume"] if resumed else [])) == 0
    verdicts = read_jsonl(out)
    assert [v["id"] for v in verdicts] == ["m1", "m2", "m3", "m1"]
    assert verdicts[0]["label"] == verdicts[3]["label"] == "undisclosed_ad"  # both copies got the replies
    counts = json.loads(summary.read_text("utf-8"))["comments"]
    assert counts == {"rows": 7, "joined": 3, "failed": 3, "unmatched": 1}


def test_cli_comments_checkpoint_holds_joined_notes_as_bits_and_refuses_another_comment_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The checkpoint keeps which comment-file notes were joined as compressed bits over the file's
    note ids (not the ids); a resume with a comment file of other note ids is refused, naming why."""
    from serving.batch.local import progress_path

    notes = write_jsonl(tmp_path / "notes.jsonl", NOTES)
    comments = write_jsonl(tmp_path / "comments.jsonl", COMMENTS)
    out = tmp_path / "v.jsonl"
    assert score(notes, "--comments", comments, "-o", out, "--limit", "2", "--batch-size", "1") == 0
    saved = json.loads(progress_path(out).read_text("utf-8"))["joined_notes"]
    assert set(saved) == {"notes", "digest", "bits"} and saved["notes"] == 3  # m1, m2, m9
    assert "m1" not in json.dumps(saved)
    other = write_jsonl(tmp_path / "other.jsonl", [*COMMENTS, {"note_id": "m7", "content": "新的一条"}])
    capsys.readouterr()
    assert score(notes, "--comments", other, "-o", out, "--resume", "--batch-size", "1") != 0
    assert "comment file's note ids are not those of the checkpoint's run" in capsys.readouterr().err
    assert score(notes, "--comments", comments, "-o", out, "--resume", "--batch-size", "1",
                 "--summary-json", tmp_path / "s.json") == 0
    assert json.loads((tmp_path / "s.json").read_text("utf-8"))["comments"] == {
        "rows": 7, "joined": 3, "failed": 3, "unmatched": 1}


def test_joined_notes_resume_from_a_checkpoint_that_listed_the_ids() -> None:
    """Checkpoints written before the bits listed the joined note ids; a resume still reads them."""
    from classifier.comments import CommentFile
    from serving.batch.local import Summary

    comment_file = CommentFile(by_note={"a": (), "b": (), "c": ()}, errors=(), rows=4,
                               rows_of={"a": 2, "b": 1, "c": 1})
    summary = Summary()
    summary.restore({"scored": 1, "failed": 0, "comments": {"rows": 4, "joined": 2, "failed": 0, "unmatched": 2},
                     "joined_notes": ["a"]})
    summary.index_comments(comment_file)
    summary.count_joined({"a": 2, "c": 1})
    assert summary.comments == {"rows": 4, "joined": 3, "failed": 0, "unmatched": 1}
    assert len(summary.joined_notes or ()) == 2
    again = Summary()
    again.restore(summary.state())
    again.index_comments(comment_file)
    again.count_joined({"a": 2, "b": 1, "c": 1})
    assert again.comments == {"rows": 4, "joined": 4, "failed": 0, "unmatched": 0}
    stale = Summary()
    stale.restore({"scored": 1, "failed": 0, "comments": {"rows": 4}, "joined_notes": ["z"]})
    with pytest.raises(ValueError, match="note id 'z', joined in the checkpoint's run, is not in the comment file"):
        stale.index_comments(comment_file)
