"""Build the canonical :class:`~classifier.types.Note` from the dicts users actually have.

Three shapes are understood, field by field (a record may mix them; unknown fields are ignored):

* **canonical** — ``id``, ``title``, ``text``, ``mentions``, ``topics``, ``product_tags``
  ([{name, store?, price?}]), ``sponsor_flag``, ``author`` ({account_type, has_store, followers,
  id?, name?, bio?}), ``published_at``, ``likes``/``collects``/``shares``/``views``, ``comments``
  (a list: see :mod:`classifier.comments`; a number is the platform's count, as ``comment_count``);
* **MediaCrawler export** — ``note_id``, ``title``, ``desc`` (the body; topics written
  ``#名字[话题]#``), ``time`` (epoch ms), ``user_id``, ``nickname``, ``liked_count``,
  ``collected_count``, ``comment_count``, ``share_count`` (counts such as ``"1.2万"`` or ``"10+"``),
  ``tag_list`` (comma-joined topic names) ...;
* **platform note objects** — ``at_user_list`` ([{nickname, user_id}]), ``tag_list``
  ([{id, name, type}]: ``topic`` is a topic, ``goods``/``product`` a product tag),
  ``interact_info`` ({liked_count, ...}), ``user`` ({user_id, nickname}) and a cooperation flag
  (``cooperate_binds``, ``is_cooperation``, ``sponsor``, ``is_sponsored``);
* **CHASM-style records** — ``title``, ``description`` (the body), ``comments`` (strings or objects).

The author's bio comes from ``author.bio``/``author.desc``, ``user.desc`` or a top-level
``user_desc``/``bio``; a comment is the author's own where it says so or where its ``user_id`` is the
note's author id.

Mentions and topics are taken from the text when no field gives them. A body taken from ``desc``
keeps what the user wrote except the crawler's ``[话题]`` markers (``#名字[话题]#`` -> ``#名字#``).
Every invalid value raises :class:`~classifier.errors.InputError` naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from classifier.comments import comments_from_value, mark_author
from classifier.errors import InputError
from classifier.types import ACCOUNT_TYPES, AccountType, Author, Note, Picture, ProductTag
from classifier.values import parse_bool as _parse_bool
from classifier.values import parse_count
from classifier.values import parse_time as _parse_time
from classifier.values import type_error as _type_error

__all__ = [
    "DEFAULT_MAX_CHARS",
    "NOTE_FIELDS",
    "extract_mentions",
    "extract_topics",
    "note_from_dict",
    "parse_count",
    "strip_topic_markers",
    "unknown_fields",
]

DEFAULT_MAX_CHARS = 100_000
"""Longest ``title`` or ``text`` accepted, in characters."""

_T = TypeVar("_T")

# Characters that end an @mention or a #topic: whitespace, the markers themselves, brackets and
# sentence punctuation (ASCII and CJK). ``.``, ``_``, ``-`` and ``·`` may occur inside names.
_STOP = r"\s@#\[\]()（）【】<>《》〈〉「」『』{}\"'“”‘’,，。、;；:：!！?？…~～|/\\=+*&^%$"
_MENTION_RE = re.compile(rf"(?<![A-Za-z0-9_.])@([^{_STOP}]{{1,40}})")
_TOPIC_RE = re.compile(rf"(?<!&)#([^{_STOP}]{{1,50}})(?:\[话题\])?#?")
_TOPIC_MARKER_RE = re.compile(rf"(#[^{_STOP}]{{1,50}})\[话题\]")
_PRICE_RE = re.compile(r"^[¥￥$]?\s*(\d+(?:\.\d+)?)\s*(?:元|块)?$")
NOTE_FIELDS: frozenset[str] = frozenset({
    # canonical
    "id", "title", "text", "mentions", "topics", "product_tags", "sponsor_flag", "author",
    "published_at", "likes", "collects", "comments", "shares", "views",
    # MediaCrawler export
    "note_id", "display_title", "desc", "description", "time", "user_id", "nickname",
    "account_type", "has_store", "followers", "fans", "liked_count", "collected_count",
    "comment_count", "share_count", "view_count", "tag_list", "user_desc", "bio",
    # platform note objects
    "at_user_list", "interact_info", "user", "cooperate_binds", "is_cooperation", "sponsor",
    "is_sponsored",
})
"""The top-level fields :func:`note_from_dict` reads; a record's other fields are ignored."""
_COOPERATION_FIELDS = ("sponsor_flag", "sponsor", "is_sponsored", "is_cooperation",
                       "cooperate_binds")
_PRODUCT_TAG_TYPES = frozenset({"goods", "product"})
_TOPIC_TAG_TYPES = frozenset({"topic", "topic_page", "custom"})


# ----------------------------------------------------------------------------- text extraction


def strip_topic_markers(text: str) -> str:
    """Remove the crawler's ``[话题]`` suffix from hashtags: ``#名字[话题]#`` -> ``#名字#``."""
    if "[话题]" not in text:
        return text
    return _TOPIC_MARKER_RE.sub(lambda m: m.group(1), text)


def extract_mentions(text: str) -> tuple[str, ...]:
    """``@名字`` mentions in order of appearance, without duplicates; a name ends at whitespace or
    punctuation, and ``@`` inside an e-mail address is not a mention."""
    names = (m.group(1).rstrip(".-_·") for m in _MENTION_RE.finditer(text))
    return _unique(n for n in names if n)


def extract_topics(text: str) -> tuple[str, ...]:
    """Hashtag topics in order, without duplicates: ``#话题#``, ``#话题[话题]#`` and a bare ``#话题``
    token ending at whitespace or punctuation."""
    names = (m.group(1).rstrip(".-_·") for m in _TOPIC_RE.finditer(text))
    return _unique(n for n in names if n)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# ----------------------------------------------------------------------------- scalar parsing


def _parse_flag(value: Any, *, field: str, row: int | None) -> bool:
    """A platform cooperation flag: a bool-like, or a list/object that is set when non-empty."""
    if value is None:
        return False
    if isinstance(value, (list, tuple, Mapping)):
        return len(value) > 0
    return _parse_bool(value, field=field, row=row)


def _parse_price(value: Any, *, field: str, row: int | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        if not value.strip():
            return None
        match = _PRICE_RE.match(value.strip().replace(",", ""))
        if match is None:
            raise _type_error(field, value, "a price such as 99, 99.9 or \"¥99\"", row)
        number = float(match.group(1))
    else:
        raise _type_error(field, value, "a price such as 99, 99.9 or \"¥99\"", row)
    if not math.isfinite(number) or number < 0:
        raise _type_error(field, value, "a finite price >= 0", row)
    return number


def _optional_str(value: Any, *, field: str, row: int | None, ids: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if ids and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _type_error(field, value, "a string" + (" or an integer id" if ids else ""), row)


def _str_list(value: Any, *, field: str, row: int | None, strip: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise _type_error(field, value, "a list of strings", row)
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _type_error(f"{field}[{i}]", item, "a string", row)
        cleaned = item.strip().strip(strip).strip()
        if cleaned:
            out.append(cleaned)
    return _unique(out)


def _first(d: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, Any]:
    """The first key of ``keys`` present in ``d`` with a non-None value, and that value."""
    for key in keys:
        if d.get(key) is not None:
            return key, d[key]
    return keys[0], None


def _mapping(value: Any, *, field: str, row: int | None) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _type_error(field, value, "an object", row)
    return cast(Mapping[str, Any], value)


def _each_mapping(value: Any, *, field: str, row: int | None,
                  build: Callable[[int, Any], _T | None]) -> list[_T]:
    if not isinstance(value, (list, tuple)):
        raise _type_error(field, value, "a list", row)
    out = []
    for i, item in enumerate(value):
        built = build(i, item)
        if built is not None:
            out.append(built)
    return out


# ----------------------------------------------------------------------------- the note


READ_PICTURES: ContextVar[bool] = ContextVar("READ_PICTURES", default=False)
"""Whether :func:`note_from_dict` reads ``images``/``image_list`` (``notecheck score --images``
sets it for its run); off, they are ignored fields, as before pictures were read."""
PICTURE_FIELDS = frozenset({"images", "image_list"})


def unknown_fields(d: Mapping[str, Any]) -> tuple[str, ...]:
    """The top-level fields of record ``d`` that :func:`note_from_dict` ignores (a ``label``, a
    crawler's ``ip_location``), in the record's order."""
    known = NOTE_FIELDS | PICTURE_FIELDS if READ_PICTURES.get() else NOTE_FIELDS
    return tuple(str(k) for k in d if k not in known)


def note_from_dict(d: Mapping[str, Any], *, row: int | None = None,
                   max_chars: int = DEFAULT_MAX_CHARS) -> Note:
    """Validate one record (canonical, crawler export or platform object) and build a :class:`Note`.

    Raises :class:`InputError` with ``field`` set to the offending field (``id``, ``text``,
    ``mentions``, ``author.followers`` ...) and ``row`` as given.
    """
    if not isinstance(d, Mapping):
        raise InputError(f"expected a JSON object (a mapping of field names to values), got "
                         f"{type(d).__name__}; write one note object per record", row=row)
    note_id = _note_id(d, row)
    title_key, title_value = _first(d, ("title", "display_title"))
    title = _optional_str(title_value, field=title_key, row=row) or ""
    text_key, text_value = _first(d, ("text", "desc", "description"))
    text = _optional_str(text_value, field=text_key, row=row) or ""
    if text_key != "text":
        text = strip_topic_markers(text)
    if not text.strip() and not title.strip():
        raise InputError("the note has neither text nor title; give the body as 'text' "
                         "(or 'desc' in crawler exports) or a 'title'", field="text", row=row)
    for name, value in (("title", title), ("text", text)):
        if len(value) > max_chars:
            raise InputError(f"{name} is {len(value):,} characters, longer than the limit of "
                             f"{max_chars:,}; split the note or raise max_chars",
                             field=name, row=row)
    topics, product_tags = _topics_and_products(d, title, text, row)
    interact = _mapping(d.get("interact_info"), field="interact_info", row=row)
    time_key, time_value = _first(d, ("published_at", "time"))
    author = _author(d, row)
    for name, value in (("author.bio", author.bio or ""),):
        if len(value) > max_chars:
            raise InputError(f"{name} is {len(value):,} characters, longer than the limit of "
                             f"{max_chars:,}; shorten it or raise max_chars", field=name, row=row)
    comments = mark_author(comments_from_value(d.get("comments"), row=row), author.id)
    for i, c in enumerate(comments):
        if len(c.text) > max_chars:
            raise InputError(f"comments[{i}] is {len(c.text):,} characters, longer than the limit "
                             f"of {max_chars:,}; shorten it or raise max_chars",
                             field=f"comments[{i}].text", row=row)
    return Note(
        id=note_id,
        title=title,
        text=text,
        mentions=_mentions(d, title, text, row),
        topics=topics,
        product_tags=product_tags,
        sponsor_flag=any(_parse_flag(d.get(k), field=k, row=row) for k in _COOPERATION_FIELDS),
        author=author,
        published_at=_parse_time(time_value, field=time_key, row=row),
        likes=_count(d, interact, ("likes", "liked_count"), row),
        collects=_count(d, interact, ("collects", "collected_count"), row),
        comment_count=_count(d, interact, ("comments", "comment_count"), row),
        shares=_count(d, interact, ("shares", "share_count"), row),
        views=_count(d, interact, ("views", "view_count"), row),
        comments=comments,
        images=(pictures_from_value(*_first(d, ("images", "image_list")), row=row)
                if READ_PICTURES.get() else ()),
    )


MAX_PICTURES = 50
"""The most pictures one note may carry (the platform allows 18)."""


def pictures_from_value(key: str, value: Any, *, row: int | None = None) -> tuple[Picture, ...]:
    """A note's pictures from ``images`` (a list of local paths, URLs or objects with ``path``
    and/or ``url`` and an optional ``ocr_text``) or MediaCrawler's ``image_list`` (URLs joined by
    commas, or a list). A string starting with ``http://`` or ``https://`` is a URL, any other a
    path. Nothing is read or fetched here (see :mod:`classifier.pictures`)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise _type_error(key, value, "a list of paths, URLs or {path, url, ocr_text} objects "
                          "(or URLs joined by commas)", row)
    if len(value) > MAX_PICTURES:
        raise InputError(f"{key} has {len(value)} pictures, more than {MAX_PICTURES}; keep the "
                         f"note's own pictures", field=key, row=row)
    out = []
    for i, item in enumerate(value):
        name = f"images[{i}]"
        if isinstance(item, str):
            ref = item.strip()
            if not ref:
                raise InputError("an empty picture reference; give a path or a URL",
                                 field=name, row=row)
            web = ref.lower().startswith(("http://", "https://"))
            out.append(Picture(url=ref) if web else Picture(path=ref))
            continue
        if not isinstance(item, Mapping):
            raise _type_error(name, item, "a path, a URL or an object {path, url, ocr_text}", row)
        path = _optional_str(item.get("path"), field=f"{name}.path", row=row)
        url = _optional_str(item.get("url"), field=f"{name}.url", row=row)
        ocr = _optional_str(item.get("ocr_text"), field=f"{name}.ocr_text", row=row)
        if not path and not url and ocr is None:
            raise InputError("a picture object needs 'path', 'url' or 'ocr_text'", field=name,
                             row=row)
        out.append(Picture(path=path or None, url=url or None, ocr_text=ocr))
    return tuple(out)


def _note_id(d: Mapping[str, Any], row: int | None) -> str:
    key, value = _first(d, ("id", "note_id"))
    if value is None:
        raise InputError("the note has no id; give each note an 'id' (or 'note_id' in crawler "
                         "exports) so that its verdict can be matched to it", field="id", row=row)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _type_error(key, value, "a string or integer id", row)
    note_id = str(value).strip()
    if not note_id:
        raise InputError("the id is empty; give each note a non-empty 'id'", field=key, row=row)
    return note_id


def _mentions(d: Mapping[str, Any], title: str, text: str, row: int | None) -> tuple[str, ...]:
    if d.get("mentions") is not None:
        return _str_list(d["mentions"], field="mentions", row=row, strip="@")
    if d.get("at_user_list"):
        def build(i: int, item: Any) -> str | None:
            user = _mapping(item, field=f"at_user_list[{i}]", row=row)
            key, name = _first(user, ("nickname", "name"))
            name = _optional_str(name, field=f"at_user_list[{i}].{key}", row=row)
            cleaned = (name or "").strip().lstrip("@").strip()
            return cleaned or None

        return _unique(_each_mapping(d["at_user_list"], field="at_user_list", row=row,
                                     build=build))
    return extract_mentions(f"{title}\n{text}")


def _topics_and_products(d: Mapping[str, Any], title: str, text: str,
                         row: int | None) -> tuple[tuple[str, ...], tuple[ProductTag, ...]]:
    topics: tuple[str, ...] | None = None
    products: list[ProductTag] = []
    if d.get("topics") is not None:
        topics = _str_list(d["topics"], field="topics", row=row, strip="#")
    tags = d.get("tag_list")
    if isinstance(tags, str) and tags.strip():
        found = _unique(t.strip().strip("#").strip() for t in re.split(r"[,，]", tags))
        topics = topics if topics is not None else tuple(t for t in found if t)
    elif isinstance(tags, (list, tuple)) and tags:
        tag_topics: list[str] = []
        for i, tag in enumerate(tags):
            if isinstance(tag, str):
                tag_topics.append(tag.strip().strip("#"))
                continue
            tag = _mapping(tag, field=f"tag_list[{i}]", row=row)
            name = _optional_str(tag.get("name"), field=f"tag_list[{i}].name", row=row)
            kind = _optional_str(tag.get("type"), field=f"tag_list[{i}].type", row=row)
            if not name or not name.strip():
                continue
            if kind in _PRODUCT_TAG_TYPES:
                products.append(ProductTag(name=name.strip()))
            elif kind is None or kind in _TOPIC_TAG_TYPES:
                tag_topics.append(name.strip().strip("#"))
        topics = topics if topics is not None else _unique(t for t in tag_topics if t)
    elif tags is not None and not isinstance(tags, (str, list, tuple)):
        raise _type_error("tag_list", tags, "a comma-joined string or a list of tags", row)
    if d.get("product_tags") is not None:
        products = _each_mapping(d["product_tags"], field="product_tags", row=row,
                                 build=lambda i, item: _product_tag(item, i, row))
    if topics is None:
        topics = extract_topics(f"{title}\n{text}")
    return topics, tuple(products)


def _product_tag(item: Any, i: int, row: int | None) -> ProductTag:
    field = f"product_tags[{i}]"
    if isinstance(item, str):
        item = {"name": item}
    tag = _mapping(item, field=field, row=row)
    name = _optional_str(tag.get("name"), field=f"{field}.name", row=row)
    if not name or not name.strip():
        raise InputError("expected a non-empty 'name' for each product tag; give the product's "
                         "name or drop the tag", field=f"{field}.name", row=row)
    return ProductTag(
        name=name.strip(),
        store=_optional_str(tag.get("store"), field=f"{field}.store", row=row),
        price=_parse_price(tag.get("price"), field=f"{field}.price", row=row),
    )


def _author(d: Mapping[str, Any], row: int | None) -> Author:
    # Sources in order of precedence, each with the keys it may use for a fact: the canonical
    # ``author`` object, the platform's ``user`` object, then top-level crawler fields.
    sources: tuple[tuple[str, Mapping[str, Any]], ...] = (
        ("author.", _mapping(d.get("author"), field="author", row=row)),
        ("user.", _mapping(d.get("user"), field="user", row=row)),
        ("", d),
    )
    keys = {
        "account_type": (("account_type",), ("account_type",), ("account_type",)),
        "has_store": (("has_store",), ("has_store",), ("has_store",)),
        "followers": (("followers", "fans"), ("followers", "fans"), ("followers", "fans")),
        "id": (("id", "user_id"), ("user_id", "id"), ("user_id",)),
        "name": (("name", "nickname"), ("nickname", "name"), ("nickname",)),
        "bio": (("bio", "desc"), ("desc", "bio"), ("user_desc", "bio")),
    }

    def pick(fact: str) -> tuple[str, Any]:
        for (label, source), names in zip(sources, keys[fact]):
            key, value = _first(source, names)
            if value is not None:
                return label + key, value
        return "author." + fact, None

    type_key, account_type = pick("account_type")
    account_type = "personal" if account_type is None else account_type
    if not isinstance(account_type, str) or account_type.strip().lower() not in ACCOUNT_TYPES:
        raise InputError(f"expected one of {', '.join(ACCOUNT_TYPES)}, got {account_type!r}; "
                         "personal = non-professional account, creator = professional blogger, "
                         "enterprise = brand account", field=type_key, row=row)
    store_key, has_store = pick("has_store")
    followers_key, followers = pick("followers")
    id_key, author_id = pick("id")
    name_key, name = pick("name")
    bio_key, bio = pick("bio")
    return Author(
        account_type=cast(AccountType, account_type.strip().lower()),
        has_store=False if has_store is None else _parse_bool(has_store, field=store_key, row=row),
        followers=parse_count(followers, field=followers_key, row=row),
        id=_optional_str(author_id, field=id_key, row=row, ids=True),
        name=_optional_str(name, field=name_key, row=row),
        bio=_optional_str(bio, field=bio_key, row=row),
    )


def _count(d: Mapping[str, Any], interact: Mapping[str, Any], keys: tuple[str, str],
           row: int | None) -> int | None:
    canonical, crawler = keys
    value = d.get(canonical)
    if canonical == "comments" and isinstance(value, (list, tuple)):
        value = None  # CHASM-style dumps carry the comment texts here, not a count
    if value is not None:
        return parse_count(value, field=canonical, row=row)
    if d.get(crawler) is not None:
        return parse_count(d[crawler], field=crawler, row=row)
    return parse_count(interact.get(crawler), field=f"interact_info.{crawler}", row=row)
