"""The base of every model kind: the classifier interface, the model-folder contract and the
helpers the kinds share (``model_text``, ``softmax``, config reading) and the one file hasher
(``file_sha256``).

This module imports no model kind; :mod:`classifier.registry` maps a folder's ``kind`` to its
loader (``load_model``). The kinds (``classifier.encoder``, ``classifier.lexical``,
``classifier.onnx_backend``, ``classifier.ensemble``, ``classifier.cascade``) import this base and
never the registry; the composite kinds get the loader for their members as an argument.

Every model folder holds ``notecheck.json``::

    {"kind": "encoder" | "lexical" | "ensemble", "name": "...", "version": "...", "labels": [...], ...}

plus the kind's own files (see ``classifier.encoder`` and ``classifier.lexical``), and usually
``policy.json`` (the policy tuned with this model), ``meta.json``, ``metrics.json`` and
``MODEL_CARD.md``. Loading refuses a folder that lacks a required file or whose labels differ
from :data:`classifier.types.LABELS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from classifier.errors import ModelError
from classifier.types import LABELS, Note

MODEL_FILE = "notecheck.json"
KINDS = ("encoder", "lexical", "ensemble")



@runtime_checkable
class Classifier(Protocol):
    """Anything that turns notes into label probabilities, columns in ``classes_`` order."""

    @property
    def classes_(self) -> tuple[str, ...]: ...

    @property
    def version(self) -> str: ...

    def predict_proba(self, notes: Sequence[Note]) -> npt.NDArray[np.float64]: ...


class ModelLoader(Protocol):
    """Loads a model folder of any kind (:func:`classifier.registry.load_model`)."""

    def __call__(self, path: Path | str, *, exact: bool = False) -> Classifier: ...


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Row-wise softmax, numerically stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


# Surface style that says nothing about a commercial relationship, removed from what a model reads
# (the rules still see it): the crawler's ``[话题]`` topic markers, the platform's emoji codes
# (``[笑哭R]``, ``[doge]``) and pictographic emoji. Authored training notes used emoji far more in
# ads than in sharing; on a real feed emoji are house style, so a model must not learn them.
EMOJI_CODE = r"\[[^\[\]\s#@]{1,8}\]"
"""The platform's bracketed emoji codes (``[笑哭R]``, ``[doge]``); it also matches the ``[话题]`` marker."""
_STYLE_RE = re.compile(
    EMOJI_CODE
    + "|[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u3030\u303d\u3297\u3299]"
)
_SPACES_RE = re.compile(r"[ \t]{2,}")


def model_text(note: Note) -> str:
    """The text a model reads: normalised title and body, one line apart, without the surface
    style in :data:`_STYLE_RE` (topic markers, emoji codes, emoji). The note's topics that its title
    and text do not hold end the body as ``#topic#``, the form a topic in the text takes here: some
    exports keep the platform's topic markup in the text, others move the topics to a tag field
    (MediaCrawler's ``tag_list``), and a model must read the same note the same way from either."""
    from classifier.normalize import normalize

    title = _plain(normalize(note.title).text)
    body = _plain(normalize(note.text + _topics_not_in_text(note)).text)
    return f"{title}\n{body}" if title else body


def _topics_not_in_text(note: Note) -> str:
    shown = note.title + note.text
    missing = [t for t in (topic.strip("# ") for topic in note.topics) if t and t not in shown]
    return "\n" + " ".join(f"#{t}#" for t in dict.fromkeys(missing)) if missing else ""


def _plain(text: str) -> str:
    text = _STYLE_RE.sub(" ", text.replace("[话题]", ""))
    return _SPACES_RE.sub(" ", text).strip()


class PriorModel:
    """Uniform probabilities: the pipeline with this model is the rules layer alone."""

    classes_ = LABELS

    @property
    def version(self) -> str:
        return "prior-uniform"

    def predict_proba(self, notes: Sequence[Note]) -> npt.NDArray[np.float64]:
        return np.full((len(notes), len(LABELS)), 1.0 / len(LABELS))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks: the one hasher (model weights behind an ONNX
    export, data files in ``meta.json``, the bundled base encoder behind its conversion)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes in memory (a fetched picture): the same digest as :func:`file_sha256`
    of a file holding them."""
    return hashlib.sha256(data).hexdigest()


def read_model_config(path: Path) -> dict[str, Any]:
    """Read and check ``notecheck.json`` of a model folder."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"model folder {str(path)!r} does not exist; pass --model DIR with a model "
                         "folder (e.g. models/notecheck-base) or train one with `notecheck train`")
    cfg_path = path / MODEL_FILE
    try:
        cfg = json.loads(cfg_path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{cfg_path} is missing: not a notecheck model folder") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{cfg_path} is unreadable: {exc}") from None
    if cfg.get("kind") not in KINDS:
        raise ModelError(f"{cfg_path}: 'kind' is {cfg.get('kind')!r}; expected one of {list(KINDS)}")
    if tuple(cfg.get("labels", ())) != LABELS:
        raise ModelError(f"{cfg_path}: 'labels' is {cfg.get('labels')!r}; expected {list(LABELS)}")
    for key in ("name", "version"):
        if not isinstance(cfg.get(key), str) or not cfg[key]:
            raise ModelError(f"{cfg_path}: '{key}' must be a non-empty string")
    return dict(cfg)


def require_files(path: Path, names: Sequence[str]) -> None:
    missing = [n for n in names if not (path / n).is_file()]
    if missing:
        raise ModelError(f"model folder {str(path)!r} is incomplete: missing {missing}")


def models_root() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


def default_model_dir() -> Path:
    """``$NOTECHECK_MODEL``, else the folder named in ``models/DEFAULT`` of the checkout."""
    env = os.environ.get("NOTECHECK_MODEL")
    if env:
        return Path(env)
    root = models_root()
    try:
        name = (root / "DEFAULT").read_text("utf-8").strip()
    except OSError:
        raise ModelError(f"no default model: {root / 'DEFAULT'} is missing; pass --model DIR "
                         "or set NOTECHECK_MODEL") from None
    return root / name
