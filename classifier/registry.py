"""The model registry: a model folder's ``kind`` -> its loader, and :func:`load_model`.

The kinds import the base (:mod:`classifier.model`), never this module; each loader here imports
its kind when first used (torch and jieba stay unloaded until a model of that kind is), and the
composite kinds (ensemble, cascade) receive :func:`load_model` for their members.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from classifier.errors import ModelError
from classifier.model import KINDS, Classifier, read_model_config

__all__ = ["LOADERS", "load_model"]

# the logger of the former classifier.model loader, kept so that log filters stay valid
log = logging.getLogger("notecheck.model")

Loader = Callable[[Path, bool], Classifier]


def _lexical(path: Path, exact: bool) -> Classifier:
    from classifier.lexical import LexicalModel

    return LexicalModel.load(path)


def _ensemble(path: Path, exact: bool) -> Classifier:
    from classifier.ensemble import EnsembleModel

    return EnsembleModel.load(path, exact=exact, load_member=load_model)


def _encoder(path: Path, exact: bool) -> Classifier:
    from classifier.encoder import EncoderModel

    if not exact:
        from classifier.onnx_backend import ONNX_INT8, OnnxEncoderModel, fast_artifact

        if fast_artifact(path) is not None:
            return OnnxEncoderModel.load(path)
        if not (path / ONNX_INT8).is_file():  # a stale graph: fast_artifact has said why
            log.warning("%s: no ONNX int8 graph, scoring with torch fp32 (slower); build it with "
                        "`python -m training.export %s` (make demo / make test do)", path, path)
    return EncoderModel.load(path)


LOADERS: Mapping[str, Loader] = MappingProxyType(
    {"encoder": _encoder, "lexical": _lexical, "ensemble": _ensemble}
)
"""Every model kind (:data:`classifier.model.KINDS`) and the function that loads its folder."""


def load_model(path: Path | str, *, exact: bool = False) -> Classifier:
    """Load a model folder of any kind with the production loader.

    By default the fast path: an encoder runs on its int8 ONNX graph when an up-to-date one lies
    next to its weights (``python -m training.export``; else torch, and the log says so), and a
    tuned ``"cascade"`` entry in the folder's ``notecheck.json`` puts the cheap first model in
    front (see :mod:`classifier.cascade`). ``exact=True`` is the full unoptimised path: torch
    fp32 for every encoder and no cascade."""
    path = Path(path)
    cfg = read_model_config(path)
    loader = LOADERS.get(cfg["kind"])
    if loader is None:  # pragma: no cover - read_model_config checks the kind against KINDS
        raise ModelError(f"{path}: no loader for kind {cfg['kind']!r}; expected one of {list(KINDS)}")
    model: Any = loader(path, exact)
    if not exact and cfg.get("cascade") is not None:
        from classifier.cascade import CascadeModel

        model = CascadeModel.from_config(path, cfg["cascade"], model, load_first=load_model)
    result: Classifier = model
    return result
