"""Chinese word segmentation with jieba and the domain dictionary.

jieba is imported on first use; one ``jieba.Tokenizer`` is built then, with the domain words of
``classifier/data/userdict.txt`` (品牌合作, 到手价, 恰饭, 玻尿酸 ...), its log silenced and its
prefix-dictionary cache kept in ``$NOTECHECK_CACHE_DIR/jieba`` (default: the system temp folder).
Call :func:`warm` at start-up to pay the one-off loading cost (about a second) before serving.

- :func:`segment`: raw jieba words of a text, nothing dropped.
- :func:`spans`: ``(word, start, end)`` offsets into the text, for word-boundary checks.
- :func:`tokens`: features for the lexical model: the text is normalised first
  (:func:`classifier.normalize.normalize`), whitespace and punctuation-only words dropped,
  prices (``¥99``, ``99元``) become ``<price>`` and digit runs ``<num>``.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

from classifier.errors import ModelError
from classifier.normalize import normalize

__all__ = ["NUM", "PRICE", "segment", "spans", "tokens", "warm"]

NUM = "<num>"
PRICE = "<price>"

_LOCK = threading.Lock()
_TOKENIZER: Any = None

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_ONLY = re.compile(r"\d+(?:\.\d+)?\Z")
_PRICE_WORD = re.compile(r"(?:[¥$]\d+(?:\.\d+)?|\d+(?:\.\d+)?(?:元|块钱|rmb))\Z")
_CURRENCY = frozenset({"¥", "$"})
_PRICE_UNITS = frozenset({"元", "块钱", "块", "rmb"})
_DROP_CATEGORIES = ("P", "Z", "Sm", "Sk", "Cc", "Cf")


def warm() -> None:
    """Load jieba and the domain dictionary now rather than on the first call."""
    _tokenizer()


def segment(text: str) -> list[str]:
    """jieba's words of ``text`` (precise mode with HMM), as they are."""
    return list(_tokenizer().lcut(text))


def spans(text: str) -> list[tuple[str, int, int]]:
    """jieba's words of ``text`` with their ``[start, end)`` character offsets into ``text``."""
    return [(w, s, e) for w, s, e in _tokenizer().tokenize(text)]


def tokens(text: str) -> list[str]:
    """Tokens for the lexical model: normalised, segmented, punctuation dropped, numbers folded.

    >>> tokens("到手价￥99，真的绝了！")  # doctest: +SKIP
    ['到手价', '<price>', '真的', '绝了']
    """
    words = [w.strip() for w in _tokenizer().lcut(normalize(text).text)]
    words = [w for w in words if w and not _is_punctuation(w)]
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if _PRICE_WORD.match(w):
            out.append(PRICE)
        elif (w in _CURRENCY and _NUMBER_ONLY.match(nxt)) or (
            _NUMBER_ONLY.match(w) and nxt in _PRICE_UNITS
        ):
            out.append(PRICE)
            i += 1  # the pair is one price
        else:
            out.append(_NUMBER.sub(NUM, w))
        i += 1
    return out


def _is_punctuation(word: str) -> bool:
    return all(unicodedata.category(c).startswith(_DROP_CATEGORIES) for c in word)


def _cache_dir() -> Path:
    root = os.environ.get("NOTECHECK_CACHE_DIR") or tempfile.gettempdir()
    return Path(root) / "jieba"


def _tokenizer() -> Any:
    global _TOKENIZER
    if _TOKENIZER is None:
        with _LOCK:
            if _TOKENIZER is None:
                _TOKENIZER = _build()
    return _TOKENIZER


def _build() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot create the jieba cache folder {cache}: {exc}; "
            "set NOTECHECK_CACHE_DIR to a writable folder"
        ) from exc
    tok = jieba.Tokenizer()
    tok.tmp_dir = str(cache)
    tok.initialize()
    for word, freq, tag in _user_words():
        tok.add_word(word, freq, tag)
    return tok


def _user_words() -> list[tuple[str, int | None, str | None]]:
    """Rows of the packaged ``userdict.txt``: ``word [freq] [tag]``, ``#`` starts a comment."""
    res = resources.files("classifier").joinpath("data", "userdict.txt")
    rows: list[tuple[str, int | None, str | None]] = []
    for lineno, line in enumerate(res.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) > 3 or (len(parts) > 1 and not parts[1].isdigit()):
            raise ModelError(
                f"{res}: line {lineno}: expected 'word [freq] [tag]' with an integer freq, "
                f"got {line!r}; fix the domain dictionary"
            )
        freq = int(parts[1]) if len(parts) > 1 else None
        tag = parts[2] if len(parts) > 2 else None
        rows.append((parts[0], freq, tag))
    return rows
