"""Comments and the author's profile: read into the note, scanned with offsets, used by the rules
and the grounds, and decisive with the shipped model (issue 14, text part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.comments import read_comment_file
from classifier.errors import InputError
from classifier.grounds import find_grounds
from classifier.notes import note_from_dict
from classifier.pipeline import Pipeline
from classifier.rules import Facts, Policy, needs_context
from classifier.signals import Lexicon, extract_signals, field_text
from classifier.types import LABELS, Author, Comment, Note, Signal
from serving.http.feedback import note_record

BLAND = {"id": "n1", "title": "周末去露营", "text": "天气很好，带了新买的帐篷，风景超美，下次还来。"}
UNIFORM = {label: 1 / 3 for label in LABELS}


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load()


# ----------------------------------------------------------------------------- reading


def test_comments_canonical_objects_and_bio() -> None:
    note = note_from_dict({**BLAND, "author": {"id": "u1", "name": "小露", "bio": "户外 vx: camp_2024"},
                           "comments": [{"id": "c1", "text": "求链接", "author": "路人", "likes": "1.2万",
                                         "time": 1717200000000},
                                        {"id": "c2", "text": "已私", "is_author": "true", "parent_id": "c1"}]})
    assert note.author == Author(id="u1", name="小露", bio="户外 vx: camp_2024")
    assert note.comments == (
        Comment("c1", "求链接", author="路人", likes=12000, time="2024-06-01T00:00:00+00:00"),
        Comment("c2", "已私", is_author=True, parent_id="c1"),
    )
    assert note.comment_count is None


def test_comments_chasm_strings_and_count() -> None:
    note = note_from_dict({"id": 3, "title": "好物", "description": "今天的晚饭", "comments": ["好吃吗", " ", "在哪买"]})
    assert [(c.id, c.text) for c in note.comments] == [("c0", "好吃吗"), ("c2", "在哪买")]
    counted = note_from_dict({**BLAND, "comments": 12})
    assert counted.comment_count == 12 and counted.comments == ()


def test_comments_platform_objects_user_ids_and_replies() -> None:
    note = note_from_dict({
        "note_id": "p1", "desc": "分享一下", "user": {"user_id": "u9", "nickname": "博主", "desc": "商务合作📮 a@b.com"},
        "comments": [{"id": "k1", "content": "哪里买的", "user_info": {"user_id": "x1", "nickname": "甲"},
                      "like_count": "3", "create_time": 1717200000000,
                      "sub_comments": [{"id": "k2", "content": "滴滴", "user_info": {"user_id": "u9"},
                                        "target_comment": {"id": "k1"}},
                                       {"id": "k3", "content": "看置顶", "show_tags": ["is_author"]}]}],
    })
    assert note.author.bio == "商务合作📮 a@b.com"
    assert [(c.id, c.text, c.is_author, c.parent_id) for c in note.comments] == [
        ("k1", "哪里买的", False, None), ("k2", "滴滴", True, "k1"), ("k3", "看置顶", True, "k1")]


@pytest.mark.parametrize(("comments", "field"), [
    ([{"id": "c1"}], "comments[0].text"),
    ([{"text": "好", "likes": "many"}], "comments[0].likes"),
    ([{"text": "好", "is_author": "maybe"}], "comments[0].is_author"),
    ([3.5], "comments[0]"),
    ({"a": 1}, "comments"),
])
def test_comments_bad_values_name_the_field(comments: object, field: str) -> None:
    with pytest.raises(InputError) as info:
        note_from_dict({**BLAND, "comments": comments}, row=4)
    assert info.value.field == field and info.value.row == 4


def test_comments_round_trip_through_the_canonical_record() -> None:
    note = note_from_dict({**BLAND, "author": {"id": "u1", "bio": "简介"},
                           "comments": [{"id": "c1", "text": "好看", "user_id": "u1", "likes": 2}]})
    assert note.comments[0].is_author  # its user_id is the author's
    assert note_from_dict(note_record(note)) == note


def test_comments_file_reader_joins_by_note_and_reports_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "comments.jsonl"
    rows = [{"comment_id": "1", "note_id": "n1", "content": "求链接", "user_id": "x", "parent_comment_id": "0",
             "like_count": "2", "create_time": 1717200000000},
            {"comment_id": "2", "note_id": "n1", "content": "私你了", "user_id": "u1", "parent_comment_id": "1"},
            {"comment_id": "3", "content": "no note"},
            {"comment_id": "4", "note_id": "n2", "like_count": "x"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{not json\n", "utf-8")
    got = read_comment_file(path)
    assert got.rows == 5 and got.rows_of == {"n1": 2}
    assert [(c.id, c.parent_id, c.author_id) for c in got.by_note["n1"]] == [("1", None, "x"), ("2", "1", "u1")]
    assert [(row, fld) for row, fld, _, _ in got.errors] == [(3, "note_id"), (4, "comment.text"), (5, None)]
    assert "not valid JSON" in got.errors[2][2]


# ----------------------------------------------------------------------------- signals


COMMENT_POSITIVES = [
    ("DIV-013", "已私", "已私"), ("DIV-013", "已s哦", "已s"), ("DIV-013", "s你了宝", "s你了"),
    ("DIV-013", "滴滴", "滴滴"), ("DIV-013", "需要的进裙", "进裙"), ("DIV-013", "看煮页", "看煮页"),
    ("INQ-001", "求链接！", "求链接"), ("INQ-001", "这个在哪买呀", "在哪买"), ("INQ-001", "多少钱", "多少钱"),
]
BIO_POSITIVES = [("BIZ-001", "商务合作 a@b.com", "商务"), ("BIZ-001", "📮 a@b.com", "📮"), ("BIZ-001", "合作请联系 vx: abc123", "合作请")]


@pytest.mark.parametrize(("entry", "comment", "span"), COMMENT_POSITIVES)
def test_comments_signals_carry_the_comment_field(lexicon: Lexicon, entry: str, comment: str, span: str) -> None:
    note = Note(id="n", text="正文", comments=(Comment("a", "路过"), Comment("b", comment, is_author=True)))
    hits = [s for s in extract_signals(note, lexicon) if s.entry == entry]
    assert [(s.field, s.text) for s in hits] == [("comments[1]", span)]
    assert field_text(note, "comments[1]")[hits[0].start:hits[0].end] == span


@pytest.mark.parametrize(("entry", "bio", "span"), BIO_POSITIVES)
def test_comments_bio_signals(lexicon: Lexicon, entry: str, bio: str, span: str) -> None:
    note = Note(id="n", text="正文", author=Author(bio=bio))
    hits = [s for s in extract_signals(note, lexicon) if s.entry == entry]
    assert [(s.field, s.text, bio[s.start:s.end]) for s in hits] == [("author.bio", span, span)]


def test_comments_scoped_entries_never_fire_in_the_note_text(lexicon: Lexicon) -> None:
    text = "已私 私你了 滴滴 进群 求链接 在哪买 商务合作"
    scoped = {e.id for e in lexicon.entries if "text" not in e.fields}
    assert scoped == {"DIV-013", "INQ-001", "BIZ-001"}
    assert not [s for s in extract_signals(Note(id="n", title=text, text=text), lexicon) if s.entry in scoped]


def test_comments_every_scoped_entry_has_a_case(lexicon: Lexicon) -> None:
    cases = {e for e, _, _ in COMMENT_POSITIVES + BIO_POSITIVES}
    assert cases == {e.id for e in lexicon.entries if "text" not in e.fields}


def test_comments_lexicon_refuses_an_unknown_field() -> None:
    from classifier.errors import PolicyError

    doc = {"version": "t", "entries": [{"id": "X-1", "kind": "diversion", "patterns": ["x"], "fields": ["pics"]}]}
    with pytest.raises(PolicyError, match="fields"):
        Lexicon.from_dict(doc)


# ----------------------------------------------------------------------------- rules and grounds


def csig(kind: str, field: str, text: str = "x") -> Signal:
    return Signal(kind, f"{kind.upper()}-T", text, field, 0, len(text))


AUTHOR_REPLY = Note(id="a", text="t", comments=(Comment("c0", "求链接"), Comment("c1", "已私", is_author=True)))
BIO = Note(id="b", text="t", author=Author(bio="vx: abc123"))

CONTEXT_CASES = [
    ("R14-AUTHOR-REPLY-DIVERSION", AUTHOR_REPLY, [csig("diversion", "comments[1]")], True),
    ("R14-AUTHOR-REPLY-DIVERSION", AUTHOR_REPLY, [csig("diversion", "comments[0]")], False),  # a commenter
    ("R14-AUTHOR-REPLY-DIVERSION", AUTHOR_REPLY, [csig("diversion", "comments[1]"), csig("disclosure", "text")],
     False),
    ("R15-BUYER-QUESTION-AUTHOR-CHANNEL", AUTHOR_REPLY,
     [csig("inquiry", "comments[0]"), csig("channel", "comments[1]")], True),
    ("R15-BUYER-QUESTION-AUTHOR-CHANNEL", AUTHOR_REPLY,
     [csig("inquiry", "comments[0]"), csig("channel", "comments[0]")], False),
    ("R16-BIO-CONTACT-UNDISCLOSED", BIO, [csig("diversion", "author.bio")], True),
    ("R16-BIO-CONTACT-UNDISCLOSED", BIO, [csig("diversion", "author.bio"), csig("business", "author.bio")], False),
    ("R17-COMMERCIAL-CREATOR", BIO, [csig("business", "author.bio")], True),
    ("R17-COMMERCIAL-CREATOR", BIO, [csig("business", "text")], False),
    ("R18-PICTURE-DIVERSION", BIO, [csig("diversion", "images[0]")], True),
    ("R18-PICTURE-DIVERSION", BIO, [csig("diversion", "images[0]"), csig("disclosure", "text")], False),
]


@pytest.mark.parametrize(("rule_id", "note", "signals", "expected"), CONTEXT_CASES)
def test_comments_context_rules(rule_id: str, note: Note, signals: list[Signal], expected: bool) -> None:
    hits = {h.rule.id for h in Policy.load().evaluate(Facts(note, tuple(signals), UNIFORM))}
    assert (rule_id in hits) is expected


def test_comments_every_context_rule_has_a_case() -> None:
    assert {c[0] for c in CONTEXT_CASES if c[3]} == {r.id for r in Policy.load().rules if needs_context(r.when)}


def test_comments_fieldless_conditions_read_only_the_note_itself() -> None:
    """Rules written before comments existed keep their meaning: a commenter's 私我 is no diversion
    of the note's (R03), a commenter's 是广告 no disclosure (R02)."""
    policy = Policy.load()
    signals = (csig("diversion", "comments[0]"), csig("disclosure", "comments[0]"))
    hits = {h.rule.id for h in policy.evaluate(Facts(AUTHOR_REPLY, signals, UNIFORM))}
    assert not hits & {"R02-TEXT-DISCLOSURE", "R03-DIVERSION-UNDISCLOSED"}


def test_comments_grounds_take_the_authors_acts_only() -> None:
    g = find_grounds(AUTHOR_REPLY, [csig("diversion", "comments[1]", "已私")])
    assert g is not None and (g.act, g.act_field, g.act_evidence) == ("diversion", "comments[1]", "已私")
    assert find_grounds(AUTHOR_REPLY, [csig("diversion", "comments[0]")]) is None  # a commenter's
    assert find_grounds(BIO, [csig("diversion", "author.bio"), csig("business", "author.bio")]) is None
    text_first = find_grounds(AUTHOR_REPLY, [csig("diversion", "comments[1]"), Signal("diversion", "D", "私我",
                                                                                       "text", 5, 7)])
    assert text_first is not None and text_first.act_field == "text"


def test_comments_model_policy_gets_the_context_rules_only(pipeline: Pipeline) -> None:
    """A tuned policy written before the comment and bio rules existed gets them (and only them) from
    the packaged policy; the shipped model's policy, tuned since, holds them itself."""
    base = Policy.load()
    context = [r.id for r in base.rules if needs_context(r.when)]
    model_policy = Policy.load(pipeline.model_dir / "policy.json")  # type: ignore[operator]
    assert {r.id for r in model_policy.rules} >= set(context)
    assert pipeline.policy.to_dict() == model_policy.to_dict()
    data = model_policy.to_dict()
    data["rules"] = [r for r in data["rules"] if r["id"] not in context]
    older = Policy.from_dict(data, model_policy.source)
    widened = older.with_context_rules(base)
    assert [r.id for r in widened.rules if r.id not in {m.id for m in older.rules}] == context
    assert widened.version == f"{older.version}+{base.version}"
    assert model_policy.with_context_rules(base) is model_policy


# ----------------------------------------------------------------------------- the shipped model


def _reasons(v: object) -> list[tuple[str, str, str | None]]:
    return [(r.rule, r.evidence, r.field) for r in v.reasons]  # type: ignore[attr-defined]


def test_comments_bland_note_alone_is_sharing(pipeline: Pipeline) -> None:
    v = pipeline(note_from_dict(BLAND))
    assert v.label == "sharing"
    commenters = note_from_dict({**BLAND, "comments": ["私我私我", "求链接", "滴滴"]})
    assert pipeline(commenters).label == "sharing"  # commenters' words are not the author's act


@pytest.mark.parametrize("reply", ["已私", "私你了哈", "看主页", "滴滴", "需要的进群", "已s"])
def test_comments_author_reply_makes_a_bland_note_an_undisclosed_ad(pipeline: Pipeline, reply: str) -> None:
    note = note_from_dict({**BLAND, "author": {"id": "u1"},
                           "comments": [{"id": "c1", "text": "帐篷求链接", "user_id": "x"},
                                        {"id": "c2", "text": reply, "user_id": "u1", "parent_id": "c1"}]})
    v = pipeline(note)
    assert (v.label, v.decision) == ("undisclosed_ad", "review")
    reasons = _reasons(v)
    assert ("R14-AUTHOR-REPLY-DIVERSION", reasons[1][1], "comments[1]") in reasons
    act = next(r for r in v.reasons if r.rule == "GROUNDS-ACT")
    assert act.field == "comments[1]" and reply[act.start:act.end] == act.evidence  # type: ignore[misc]


def test_comments_bio_wechat_makes_a_bland_note_an_undisclosed_ad(pipeline: Pipeline) -> None:
    bio = "户外爱好者 | 薇❤: camp_2024"
    v = pipeline(note_from_dict({**BLAND, "author": {"bio": bio}}))
    assert v.label == "undisclosed_ad"
    (r16,) = [r for r in v.reasons if r.rule == "R16-BIO-CONTACT-UNDISCLOSED"]
    assert r16.field == "author.bio" and bio[r16.start:r16.end] == r16.evidence  # type: ignore[misc]
    assert any(r.rule == "GROUNDS-ACT" and r.field == "author.bio" for r in v.reasons)


def test_comments_business_bio_raises_the_prior_not_the_verdict(pipeline: Pipeline) -> None:
    plain = pipeline(note_from_dict(BLAND))
    v = pipeline(note_from_dict({**BLAND, "author": {"bio": "户外博主 商务合作 vx: camp_2024"}}))
    assert v.label == "sharing"
    assert v.scores["undisclosed_ad"] > plain.scores["undisclosed_ad"]
    assert "R17-COMMERCIAL-CREATOR" in {r.rule for r in v.reasons}


def test_comments_author_answers_a_buyer_with_a_shop(pipeline: Pipeline) -> None:
    v = pipeline(note_from_dict({**BLAND, "comments": [{"text": "哪里买的呀"},
                                                        {"text": "某宝搜同名店铺", "is_author": True}]}))
    assert v.label == "undisclosed_ad"
    assert {"R14-AUTHOR-REPLY-DIVERSION", "R15-BUYER-QUESTION-AUTHOR-CHANNEL"} <= {r.rule for r in v.reasons}


def test_comments_disclosed_note_with_author_reply_stays_declared(pipeline: Pipeline) -> None:
    declared = {**BLAND, "text": BLAND["text"] + " #品牌合作", "comments": [{"text": "已私", "is_author": True}]}
    v = pipeline(note_from_dict(declared))
    assert v.label != "undisclosed_ad"
    assert "R14-AUTHOR-REPLY-DIVERSION" not in {r.rule for r in v.reasons}
