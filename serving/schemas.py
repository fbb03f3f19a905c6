"""HTTP schemas: what clients send (``*In``) and get back (``*Out``), with limits and examples.

Types are strict where a client could mean two things (``sponsor_flag`` must be a JSON boolean,
counts JSON integers); unknown fields are refused so that a typo (``txt``) is a clear 422 naming
it. Length limits that are configurable (the text limit) are checked at runtime against the
settings, not here. Strings may not contain lone surrogates (``"\\ud800"``), which no UTF-8
response could echo back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from classifier.types import Verdict
from serving.settings import MAX_NOTES_PER_BATCH

__all__ = [
    "AuthorIn",
    "BatchIn",
    "BatchOut",
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
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_lone_surrogates)]
RequestId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN,
                                 description="Your id for this request, echoed back (else the "
                                 "X-Request-ID header, else a generated one).")]
Count = Annotated[StrictInt, Field(ge=0)]
Price = (Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
         | Annotated[Text, Field(max_length=32, description='A price as written: "¥99", "99元".')])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProductTagIn(_In):
    """A product tag (商品标记) linking the note to a store item."""

    name: Name
    store: Name | None = None
    price: Price | None = None


class AuthorIn(_In):
    """Account facts: personal = non-professional, creator = professional blogger or authority,
    enterprise = brand account."""

    account_type: Literal["personal", "creator", "enterprise"] = "personal"
    has_store: StrictBool = False
    followers: Count | None = None
    id: Name | None = None
    name: Name | None = None


class NoteIn(_In):
    """The canonical note. ``text`` is the body (at most ``max_text_chars`` characters, 20,000 by
    default; so is ``title``); mentions and topics are read from the text when not given."""

    id: Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_no_lone_surrogates)]
    title: Text = ""
    text: Text
    mentions: Annotated[list[Name], Field(max_length=100)] | None = None
    topics: Annotated[list[Name], Field(max_length=100)] | None = None
    product_tags: Annotated[list[ProductTagIn], Field(max_length=50)] = []
    sponsor_flag: StrictBool = Field(default=False, description="The platform's 赞助/合作 flag.")
    author: AuthorIn = AuthorIn()
    published_at: Annotated[Text, Field(max_length=64)] | None = None
    likes: Count | None = None
    collects: Count | None = None
    comments: Count | None = None
    shares: Count | None = None
    views: Count | None = None

    def to_record(self) -> dict[str, Any]:
        """The dict :func:`classifier.notes.note_from_dict` validates into a ``Note``."""
        return self.model_dump(exclude_none=True, exclude={"request_id"})


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
    field: Literal["title", "text"] | None = None
    start: int | None = None
    end: int | None = None


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

    @classmethod
    def build(cls, verdict: Verdict, request_id: str, took_ms: float) -> VerdictOut:
        return cls.model_validate({**verdict.to_dict(), "request_id": request_id,
                                   "took_ms": took_ms})


class BatchOut(BaseModel):
    request_id: str
    took_ms: float
    count: int
    verdicts: list[VerdictItem]


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
