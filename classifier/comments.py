"""Comments and the author's profile: the parts of a note beyond its own text.

One reader, :func:`comments_from_value`, builds :class:`~classifier.types.Comment` objects from the
shapes users have (a record may mix them; unknown fields are ignored):

* **canonical** — ``{id, text, author, is_author, likes, parent_id, time, author_id}``;
* **MediaCrawler comment export** (one row per comment, joined to its note by ``note_id``) —
  ``comment_id``, ``content``, ``nickname``, ``user_id``, ``like_count``, ``parent_comment_id``
  (``0`` or empty for a top-level comment), ``create_time`` (epoch ms);
* **platform comment objects** — ``id``, ``content``, ``user_info`` ({user_id, nickname}),
  ``like_count``, ``create_time``, ``show_tags`` (``"is_author"`` marks the note's author),
  ``target_comment`` ({id}) and nested ``sub_comments`` (flattened after their parent);
* **CHASM-style** — a plain string is a comment's text.

``is_author`` is the record's own flag where it gives one, else whether the comment's ``user_id``
is the note's author id. :func:`read_comment_file` reads a whole comment export (JSONL, JSON, CSV)
into comments by note id, every bad row an error naming its row, field and reason.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from classifier.errors import InputError
from classifier.types import Comment
from classifier.values import parse_bool, parse_count, parse_time, type_error

__all__ = ["MAX_COMMENTS", "CommentFile", "comment_from_dict", "comments_from_value",
           "mark_author", "read_comment_file"]

MAX_COMMENTS = 500
"""Comments kept per note (the first ones, in order); the rest are not read."""
_NO_PARENT = frozenset({"", "0", "none", "null"})


def _first(d: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    for key in keys:
        if d.get(key) is not None:
            return key, d[key]
    return keys[0], None


def _text_id(value: Any, field: str, row: int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise type_error(field, value, "a string or integer id", row)
    return str(value).strip() or None


def _flag(value: Any, field: str, row: int | None) -> bool | None:
    return None if value is None else parse_bool(value, field=field, row=row)


def comment_from_dict(d: Any, *, field: str = "comments[0]", row: int | None = None,
                      index: int = 0) -> list[Comment]:
    """One comment object (or a CHASM string) -> the comment and its nested replies, in order.

    ``index`` numbers comments that have no id (``c<index>``). Raises :class:`InputError` naming
    ``field`` (``comments[3].text`` ...).
    """
    if isinstance(d, str):
        return [Comment(id=f"c{index}", text=d)] if d.strip() else []
    if not isinstance(d, Mapping):
        raise type_error(field, d, "a comment object or a string", row)
    d = cast(Mapping[str, Any], d)
    text_key, text = _first(d, ("text", "content"))
    if not isinstance(text, str):
        raise InputError("expected the comment's text as a string in 'text' (or 'content' in crawler "
                         f"exports), got {type(text).__name__}; give the text or drop the comment",
                         field=f"{field}.{text_key}", row=row)
    user = d.get("user_info") if d.get("user_info") is not None else d.get("user")
    if user is not None and not isinstance(user, Mapping):
        raise type_error(f"{field}.user_info", user, "an object", row)
    user = cast(Mapping[str, Any], user or {})
    id_key, cid = _first(d, ("id", "comment_id"))
    name_key, name = _first(d, ("author", "nickname"))
    if name is None:
        name_key, name = "user_info.nickname", user.get("nickname")
    if name is not None and not isinstance(name, str):
        raise type_error(f"{field}.{name_key}", name, "a string", row)
    author_id = _text_id(d.get("author_id", d.get("user_id", user.get("user_id"))),
                         f"{field}.user_id", row)
    parent_key, parent = _first(d, ("parent_id", "parent_comment_id"))
    target = d.get("target_comment")
    if parent is None and isinstance(target, Mapping):
        parent_key, parent = "target_comment.id", target.get("id")
    parent_id = _text_id(parent, f"{field}.{parent_key}", row)
    if parent_id is not None and parent_id.lower() in _NO_PARENT:
        parent_id = None
    is_author = _flag(d.get("is_author"), f"{field}.is_author", row)
    tags = d.get("show_tags")
    if is_author is None and isinstance(tags, (list, tuple)):
        is_author = "is_author" in tags
    likes_key, likes = _first(d, ("likes", "like_count"))
    time_key, time = _first(d, ("time", "create_time"))
    comment = Comment(
        id=_text_id(cid, f"{field}.{id_key}", row) or f"c{index}",
        text=text,
        author=name,
        is_author=bool(is_author),
        likes=parse_count(likes, field=f"{field}.{likes_key}", row=row),
        parent_id=parent_id,
        time=parse_time(time, field=f"{field}.{time_key}", row=row),
        author_id=author_id,
    )
    out = [comment]
    subs = d.get("sub_comments")
    if subs:
        if not isinstance(subs, (list, tuple)):
            raise type_error(f"{field}.sub_comments", subs, "a list of comments", row)
        for k, sub in enumerate(subs):
            for reply in comment_from_dict(sub, field=f"{field}.sub_comments[{k}]", row=row,
                                           index=index * 1000 + k + 1):
                out.append(reply if reply.parent_id else replace(reply, parent_id=comment.id))
    return out


def comments_from_value(value: Any, *, row: int | None = None) -> tuple[Comment, ...]:
    """A record's ``comments`` field (a list of strings or comment objects; a number is the
    platform's count and gives no comments) -> comments, at most :data:`MAX_COMMENTS`."""
    if value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool)):
        return ()
    if not isinstance(value, (list, tuple)):
        raise type_error("comments", value, "a list of comments (strings or objects) or a count", row)
    out: list[Comment] = []
    for i, item in enumerate(value):
        out.extend(comment_from_dict(item, field=f"comments[{i}]", row=row, index=i))
        if len(out) >= MAX_COMMENTS:
            break
    return tuple(out[:MAX_COMMENTS])


def mark_author(comments: tuple[Comment, ...], author_id: str | None) -> tuple[Comment, ...]:
    """``is_author`` set on the comments whose ``author_id`` is the note's author id."""
    if author_id is None:
        return comments
    return tuple(replace(c, is_author=True) if not c.is_author and c.author_id == author_id else c
                 for c in comments)


# ----------------------------------------------------------------------------- comment exports


@dataclass(frozen=True)
class CommentFile:
    """A comment export read whole: comments by note id (file order) and the rows that failed,
    each ``(row, field, reason, raw)``; ``rows`` = comments read + errors."""

    by_note: dict[str, tuple[Comment, ...]]
    errors: tuple[tuple[int, str | None, str, str], ...]
    rows: int
    rows_of: dict[str, int]
    """Rows read per note id (a row with nested replies gives several comments)."""


def read_comment_file(path: Path, *, max_chars: int = 100_000) -> CommentFile:
    """Read a comment export (JSONL, a JSON array, or CSV with a header) whose rows carry the
    ``note_id`` they belong to; bad rows (no note id, no text, bad values, a text longer than
    ``max_chars``) become errors. Raises :class:`InputError` when the file cannot be read."""
    path = Path(path)
    by_note: dict[str, list[Comment]] = {}
    rows_of: dict[str, int] = {}
    errors: list[tuple[int, str | None, str, str]] = []
    rows = 0
    for row, raw, obj in _rows(path):
        rows += 1
        try:
            if isinstance(obj, _BadJson):
                raise InputError(f"not valid JSON ({obj.why}); write one comment object per line",
                                 row=row)
            if not isinstance(obj, Mapping):
                raise InputError(f"expected a JSON object (one comment), got {type(obj).__name__}",
                                 row=row)
            note_key, note_id = _first(obj, ("note_id", "note"))
            nid = _text_id(note_id, note_key, row)
            if nid is None:
                raise InputError("the comment has no note_id; give each comment row the id of its "
                                 "note", field="note_id", row=row)
            found = comment_from_dict(obj, field="comment", row=row, index=row)
            too_long = next((c for c in found if len(c.text) > max_chars), None)
            if too_long is not None:
                raise InputError(f"the comment is {len(too_long.text):,} characters, longer than the "
                                 f"limit of {max_chars:,}; shorten it or raise --max-chars",
                                 field="content", row=row)
        except InputError as e:
            errors.append((row, e.field, e.reason, raw[:500]))
            continue
        rows_of[nid] = rows_of.get(nid, 0) + 1
        bucket = by_note.setdefault(nid, [])
        if len(bucket) < MAX_COMMENTS:
            bucket.extend(found[:MAX_COMMENTS - len(bucket)])
    return CommentFile({k: tuple(v) for k, v in by_note.items()}, tuple(errors), rows, rows_of)


def _rows(path: Path) -> list[tuple[int, str, Any]]:
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the comment file {path}: {e}", field="comments") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        return [(i, json.dumps(r, ensure_ascii=False), dict(r)) for i, r in enumerate(reader, start=1)]
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"the comment file {path} is not valid JSON ({e}); give a JSON array "
                             "or one comment object per line", field="comments") from None
        return [(i, json.dumps(o, ensure_ascii=False), o) for i, o in enumerate(items, start=1)]
    out: list[tuple[int, str, Any]] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((i, line, json.loads(line)))
        except json.JSONDecodeError as e:
            out.append((i, line, _BadJson(str(e))))
    return out


class _BadJson:
    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"invalid JSON ({self.why})"
