"""HTTP schemas: what clients send (``*In``) and get back (``*Out``), with limits and examples.

A note is read by the same reader as ``notecheck score`` (:func:`classifier.notes.note_from_dict`):
the note schemas check JSON types only (strictly: ``"12"`` is not an integer here, so the schema
never promises less than the reader refuses) and keep every field for the reader, which validates
values, reads crawler and platform fields, and ignores unknown ones (listed in ``warnings``).
Envelopes (a batch, a reload, an upload) refuse unknown fields, so that a typo is a clear 422.
Length limits that are configurable (the text limit) are checked at runtime against the
settings, not here. Strings may not contain lone surrogates (``"\\ud800"``), which no UTF-8
response could echo back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from classifier.types import Verdict
from serving.http.settings import MAX_NOTES_PER_BATCH

__all__ = [
    "AuthorIn",
    "BatchIn",
    "BatchOut",
    "CommentIn",
    "ErrorOut",
    "HealthOut",
    "ModelInfoOut",
    "ModerateIn",
    "NoteIn",
    "PolicyReloadIn",
    "PolicyReloadOut",
    "ProductTagIn",
    "ReadyOut",
    "ReasonOut",
    "VerdictItem",
    "VerdictOut",
    "WarningOut",
]

REQUEST_ID_PATTERN = r"^[\x21-\x7e]{1,128}$"
"""A request id: 1-128 visible ASCII characters (UUIDs, trace ids ...)."""


def _no_lone_surrogates(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone UTF-16 surrogate (such as \\ud800); send valid "
                         "Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_no_lone_surrogates)]
RequestId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN,
                                 description="Your id for this request, echoed back (else the "
                                 "X-Request-ID header, else a generated one).")]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
NonNegativeFloat = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[
    NonNegativeInt | NonNegativeFloat | Text | None,
    Field(description='A count: 12, or as crawlers write it: "1,234", "1.2万", "10+".')]
Flag = Annotated[
    StrictBool | StrictInt | Text | None,
    Field(description='true/false; also 0/1 and "true"/"false"/"yes"/"no".')]
Id = Annotated[Text | StrictInt | None, Field(description="A string or an integer id.")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """A note-shaped object: the fields below are checked for their JSON type, every other field
    is kept for the shared reader (:func:`classifier.notes.note_from_dict`), which validates the
    values exactly as ``notecheck score`` does, or ignores them."""

    model_config = ConfigDict(extra="allow", frozen=True)


class ProductTagIn(_Open):
    """A product tag (商品标记) linking the note to a store item."""

    name: Text | None = None
    store: Text | None = None
    price: NonNegativeInt | NonNegativeFloat | Annotated[Text, Field(
        description='A price as written: "¥99", "99元".')] | None = None


class AuthorIn(_Open):
    """Account facts: personal = non-professional, creator = professional blogger or authority,
    enterprise = brand account."""

    account_type: Annotated[Text | None, Field(
        description="personal, creator or enterprise (any case).")] = None
    has_store: Flag = None
    followers: Count = None
    id: Id = None
    name: Text | None = None
    bio: Annotated[Text | None, Field(
        description="The profile's self-description (简介): contact handles and 商务合作 lines are "
                    "read there.")] = None


class CommentIn(_Open):
    """One comment under the note (or a plain string, its text). ``is_author``: written by the
    note's author; without it, a comment whose ``user_id`` is the author's id is the author's."""

    id: Id = None
    text: Text | None = None
    author: Text | None = None
    is_author: Flag = None
    likes: Count = None
    parent_id: Id = None
    time: Annotated[Text | NonNegativeInt | NonNegativeFloat | None, Field(
        description="ISO 8601, or epoch seconds/milliseconds.")] = None


class PictureIn(_Open):
    """One picture of the note (or a plain string: a path, or an ``http(s)://`` URL). Read only
    when the server reads pictures (``NOTECHECK_IMAGES``): a path under ``NOTECHECK_IMAGE_ROOT``, a
    URL only with ``NOTECHECK_FETCH_IMAGES``; ``ocr_text`` given is used as the picture's text."""

    path: Text | None = None
    url: Text | None = None
    ocr_text: Text | None = None


class NoteIn(_Open):
    """One note, read as ``notecheck score`` reads a record: the canonical fields below, or a
    MediaCrawler export row (``note_id``, ``desc``, ``liked_count``, ``tag_list`` ...), or a
    platform note object (``at_user_list``, ``interact_info``, ``user`` ...), or a mix. Fields
    the reader does not know (a ``label``, a crawler's ``ip_location``) are ignored and listed in
    the response's ``warnings``. ``text`` (or ``desc``) and ``title`` are at most
    ``max_text_chars`` characters (20,000 by default); mentions and topics are read from the
    text when not given."""

    id: Id = None
    title: Text | None = None
    text: Text | None = None
    mentions: list[Text] | None = None
    topics: list[Text] | None = None
    product_tags: list[ProductTagIn | Text] | None = None
    sponsor_flag: Annotated[
        StrictBool | StrictInt | Text | list[Any] | dict[str, Any] | None,
        Field(description="The platform's 赞助/合作 flag (true/false, 0/1, or a cooperation "
                          "list/object that is set when not empty).")] = None
    author: AuthorIn | None = None
    published_at: Annotated[Text | NonNegativeInt | NonNegativeFloat | None, Field(
        description="ISO 8601, or epoch seconds/milliseconds.")] = None
    likes: Count = None
    collects: Count = None
    comments: Annotated[Count | list[CommentIn | Text], Field(
        description="The comments: a list of comment objects or texts (the author's replies and "
                    "commenters' questions are read, with offsets into comments[i]); a number is "
                    "the platform's comment count.")] = None
    shares: Count = None
    views: Count = None
    images: Annotated[list[PictureIn | Text] | None, Field(
        description="The pictures (paths, URLs or picture objects); their text (OCR) and QR "
                    "codes are read, with offsets into images[i], only when the server reads "
                    "pictures (NOTECHECK_IMAGES); otherwise ignored and named in warnings.")] = None

    def to_record(self) -> dict[str, Any]:
        """The record as sent (every field, known or not, minus ``request_id``): what
        :func:`classifier.notes.note_from_dict` reads."""
        record = self.model_dump(exclude_unset=True, by_alias=True)
        record.pop("request_id", None)
        return record


class ModerateIn(NoteIn):
    """One note to moderate, with an optional ``request_id``."""

    request_id: RequestId | None = None


class BatchIn(_In):
    """Up to 100 notes, scored together; verdicts come back in the same order."""

    request_id: RequestId | None = None
    notes: Annotated[list[NoteIn], Field(min_length=1, max_length=MAX_NOTES_PER_BATCH)]


class ReasonOut(BaseModel):
    """A fired rule and its evidence; ``start``/``end`` are character offsets into ``field``."""

    rule: str
    evidence: str
    field: str | None = Field(default=None, description=(
        "Where the span lies: title, text, comments[i] (the i-th comment's text), author.bio or "
        "images[i] (the i-th picture's text, then its QR codes)."))
    start: int | None = None
    end: int | None = None


class WarningOut(BaseModel):
    """Something sent but not used: the ``fields`` of the note at ``field`` (``notes[3]`` in a
    batch, ``note`` in a correction, absent for one note) that the reader does not know."""

    warning: Literal["unknown_fields"] = "unknown_fields"
    field: str | None = None
    fields: list[str]
    detail: str

    @classmethod
    def unknown(cls, fields: list[str], where: str | None) -> WarningOut:
        return cls(field=where, fields=fields, detail=(
            f"ignored unknown field{'s' if len(fields) > 1 else ''} {', '.join(fields)}: the "
            "reader takes canonical, MediaCrawler and platform note fields (see /docs); drop "
            "them or check their spelling"))


Warnings = Annotated[list[WarningOut], Field(
    description="Fields that were sent but ignored (unknown to the note reader).")]


class VerdictItem(BaseModel):
    id: str
    label: Literal["sharing", "undisclosed_ad", "declared"]
    scores: dict[str, float]
    decision: Literal["pass", "review", "block"]
    reasons: list[ReasonOut]
    model_version: str
    policy_version: str
    model_scores: dict[str, float] = Field(description="The model's probabilities before rules.")

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> VerdictItem:
        return cls.model_validate(verdict.to_dict())


class VerdictOut(VerdictItem):
    request_id: str
    took_ms: float
    warnings: Warnings = []

    @classmethod
    def build(cls, verdict: Verdict, request_id: str, took_ms: float,
              warnings: list[WarningOut] | None = None) -> VerdictOut:
        return cls.model_validate({**verdict.to_dict(), "request_id": request_id,
                                   "took_ms": took_ms, "warnings": warnings or []})


class BatchOut(BaseModel):
    request_id: str
    took_ms: float
    count: int
    verdicts: list[VerdictItem]
    warnings: Warnings = []


class ErrorOut(BaseModel):
    """Every 4xx/5xx body. ``field`` names the offending field (``notes[3].text``), header
    (``X-API-Key``) or ``body``; ``rule_id`` the invalid policy rule or lexicon entry."""

    error: str
    field: str | None = None
    detail: str
    request_id: str | None = None
    rule_id: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready", "loading", "failed", "shutting_down"]
    detail: str | None = None
    model_version: str | None = None
    policy_version: str | None = None


class ModelInfoOut(BaseModel):
    model_version: str
    policy_version: str
    lexicon_version: str
    labels: list[str]
    thresholds: dict[str, float]
    bands: dict[str, float]
    rules: list[dict[str, Any]] = Field(description="The policy's rules: id, description, effects.")
    policy_source: str
    limits: dict[str, float]


class PolicyReloadIn(_In):
    """A new policy and/or lexicon as JSON documents (same shape as the files). What is left out
    stays as it is. Send no body at all to reload both from their files instead."""

    policy: dict[str, Any] | None = None
    lexicon: dict[str, Any] | None = None


class PolicyReloadOut(BaseModel):
    source: Literal["files", "body"]
    policy_version: str
    lexicon_version: str
    previous_policy_version: str
    previous_lexicon_version: str


# ----------------------------------------------------------------------------- OpenAPI examples
NOTE_EXAMPLES: dict[str, Any] = {
    "undisclosed_ad": {
        "summary": "软广：导流到微信，无利益声明",
        "value": {
            "request_id": "req-20260501-0001",
            "id": "6650a1b2c3",
            "title": "挖到宝了！这款精华真的绝了",
            "text": "姐妹们冲！用了一周皮肤透亮，到手价只要99，链接在主页，加薇❤领优惠券",
            "mentions": [],
            "topics": ["护肤", "精华推荐"],
            "product_tags": [],
            "sponsor_flag": False,
            "author": {"account_type": "personal", "has_store": False, "followers": 812},
        },
    },
    "declared": {
        "summary": "已声明的品牌合作",
        "value": {
            "id": "6650a1b2c4",
            "title": "扫地机器人一个月体验",
            "text": "#品牌合作 这次收到了品牌方赠送的扫地机器人，实际用下来吸力不错，边角清洁一般。",
            "sponsor_flag": True,
            "author": {"account_type": "creator", "has_store": False, "followers": 52000},
        },
    },
    "sharing": {
        "summary": "真实分享（提到品牌和价格也可以）",
        "value": {
            "id": "6650a1b2c5",
            "title": "楼下新开的面馆",
            "text": "周末去了家楼下新开的面馆，牛肉面28块，汤头很鲜，就是排队有点久，下次工作日再来",
        },
    },
}

NOTE_EXAMPLES["crawler_row"] = {
    "summary": "MediaCrawler 导出的一行（与 notecheck score 读法相同；未知字段会列在 warnings 里）",
    "value": {
        "note_id": "6650a1b2c6",
        "title": "平价好物分享",
        "desc": "这支口红真的绝了 #好物分享[话题]# 需要的私我",
        "liked_count": "1.2万",
        "collected_count": "10+",
        "nickname": "小红薯",
        "ip_location": "上海",
    },
}

BATCH_EXAMPLES: dict[str, Any] = {
    "two_notes": {
        "summary": "两条笔记一起审核",
        "value": {
            "request_id": "batch-20260501-0001",
            "notes": [
                {"id": "n1", "text": "带娃去公园野餐，天气超好，孩子玩疯了，记录一下美好的一天"},
                {"id": "n2", "title": "内部渠道", "text": "全网最低价，私我获取购买方式，V: abc12345"},
            ],
        },
    },
}

RELOAD_EXAMPLES: dict[str, Any] = {
    "from_files": {"summary": "从配置的文件重新加载策略和词典", "value": {}},
    "thresholds": {
        "summary": "用 JSON 替换策略（此处只示意结构，需完整策略文档）",
        "value": {"policy": {"version": "policy-2026.11.1",
                             "labels": ["sharing", "undisclosed_ad", "declared"],
                             "thresholds": {"undisclosed_ad": 0.6, "declared": 0.5},
                             "bands": {"block": 0.9, "review_ad": 0.4, "min_confidence": 0.5},
                             "rules": [{"id": "R01-PLATFORM-SPONSOR-FLAG",
                                        "description": "平台的赞助/合作标记",
                                        "when": {"note": "sponsor_flag", "is": True},
                                        "settle": "declared", "add": {"declared": 6.0}}]}},
    },
}
