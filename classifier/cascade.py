"""A cascade: a cheap first model keeps the notes it is sure of, the rest go to the second model.

The shipped model is an ensemble of an encoder and a lexical model (TF-IDF + LR, ~2,000 notes/s);
its fast path puts that lexical member in front: a note whose lexical probabilities are confident
keeps them, every other note is scored by the whole ensemble (which reuses the lexical
probabilities already computed). A note is *confident* when the first model's top probability
reaches the threshold of its top label (``tau`` in (0, 1]: one number for every label, or one per
label). ``tau = 1`` sends every note to the second model, so the cascade then reproduces it exactly.

The thresholds are tuned on validation (``python -m training.export MODEL_DIR --cascade lexical
--write``) and live in the second model's ``notecheck.json``::

    "cascade": {"first": "lexical", "first_version": "notecheck-base-lexical@2026.11.23", "tau": 0.9}

``first`` is a member name of an ensemble (its loaded member is reused) or a model folder relative
to the model folder. When the first model found there has another version than the one the
thresholds were tuned with, the cascade is not used (the log says why) and the second model runs
alone: thresholds fitted to other scores would route notes blindly. ``load_model(dir, exact=True)``
never builds a cascade.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from classifier.errors import ModelError
from classifier.model import MODEL_FILE, ModelLoader, model_text
from classifier.types import LABELS, Note

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
CONFIG_KEY = "cascade"

log = logging.getLogger("notecheck.cascade")


@runtime_checkable
class TextClassifier(Protocol):
    """A classifier that also scores model texts directly (lexical, encoder, ensemble)."""

    @property
    def version(self) -> str: ...

    def predict_proba_texts(self, texts: Sequence[str]) -> FloatArray: ...


def thresholds_of(tau: float | Mapping[str, float]) -> FloatArray:
    """Per-label thresholds (LABELS order) from one number or a ``{label: threshold}`` mapping
    that names every label."""
    if isinstance(tau, Mapping):
        missing = [lab for lab in LABELS if lab not in tau]
        unknown = sorted(set(tau) - set(LABELS))
        if missing or unknown:
            raise ValueError(f"cascade tau {dict(tau)!r}: needs exactly the labels {list(LABELS)} "
                             f"(missing {missing}, unknown {unknown})")
        values = np.array([float(tau[lab]) for lab in LABELS])
    else:
        values = np.full(len(LABELS), float(tau))
    if np.isnan(values).any() or (values <= 0.0).any() or (values > 1.0).any():
        raise ValueError(f"cascade tau {tau!r}: thresholds must be numbers in (0, 1]; "
                         "use 1.0 to send every note to the second model")
    return values


def confident(proba: FloatArray, thresholds: FloatArray) -> BoolArray:
    """Rows whose top probability reaches the threshold of their top label (never when >= 1)."""
    if len(proba) == 0:
        return np.zeros(0, dtype=bool)
    top = proba.argmax(axis=1)
    limit = thresholds[top]
    return np.asarray((proba.max(axis=1) >= limit) & (limit < 1.0), dtype=bool)


class CascadeModel:
    """``predict_proba``: the first model's probabilities where it is confident, else the second's.

    ``routed_`` counts the notes each stage answered since the model was built
    (``{"first": n1, "second": n2}``), for metrics and the benchmark.
    """

    classes_ = LABELS

    def __init__(self, first: TextClassifier, second: TextClassifier,
                 tau: float | Mapping[str, float], *, member: str | None = None) -> None:
        self.first = first
        self.second = second
        self.tau = tau
        self.member = member  # the first model's name among the second's (ensemble) members
        self.thresholds_ = thresholds_of(tau)
        self.routed_ = {"first": 0, "second": 0}

    @property
    def version(self) -> str:
        return f"{self.second.version}+cascade({self.first.version},tau={_tau_text(self.tau)})"

    def route(self, texts: Sequence[str]) -> tuple[FloatArray, BoolArray]:
        """The first model's probabilities for ``texts`` and which of them it keeps."""
        p_first = np.asarray(self.first.predict_proba_texts(texts), dtype=np.float64)
        return p_first, confident(p_first, self.thresholds_)

    def predict_proba_texts(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, len(LABELS)))
        out, keep = self.route(texts)
        rest = np.flatnonzero(~keep)
        if len(rest):
            rest_texts = [texts[int(i)] for i in rest]
            if self.member is not None:  # the ensemble reuses its member's probabilities
                out[rest] = self.second.predict_proba_texts(  # type: ignore[call-arg]
                    rest_texts, known={self.member: out[rest]})
            else:
                out[rest] = self.second.predict_proba_texts(rest_texts)
        self.routed_["first"] += int(keep.sum())
        self.routed_["second"] += len(rest)
        return out

    def predict_proba(self, notes: Sequence[Note]) -> FloatArray:
        return self.predict_proba_texts([model_text(n) for n in notes])

    @classmethod
    def from_config(cls, path: Path | str, spec: Any, second: TextClassifier, *,
                    load_first: ModelLoader | None = None) -> TextClassifier:
        """The cascade that ``spec`` (the ``"cascade"`` entry of ``path``'s ``notecheck.json``)
        describes in front of ``second``; ``second`` alone when the first model has changed.
        A first model in its own folder is loaded with ``load_first``
        (:func:`classifier.registry.load_model`, which passes itself)."""
        path = Path(path)
        where = f"{path / MODEL_FILE}: '{CONFIG_KEY}'"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("first"), str) or "tau" not in spec:
            raise ModelError(f"{where} must be an object with 'first' (an ensemble member name or a "
                             f"model folder relative to {path}) and 'tau'; got {spec!r}")
        try:
            thresholds_of(spec["tau"])
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}: {exc}") from None
        first = _member(second, spec["first"])
        member = spec["first"] if first is not None else None
        if first is None:
            folder = path / spec["first"]
            if not folder.is_dir():
                raise ModelError(f"{where}: first model folder {str(folder)!r} does not exist; fix "
                                 f"'first' or remove the '{CONFIG_KEY}' entry")
            if load_first is None:
                raise TypeError(f"{where}: the first model is a folder; pass load_first="
                                "classifier.registry.load_model to load it")
            first = load_first(folder)
        if not isinstance(first, TextClassifier):
            raise ModelError(f"{where}: a {type(first).__name__} cannot be a cascade's first model")
        tuned = spec.get("first_version")
        if tuned is not None and tuned != first.version:
            log.warning("%s: thresholds were tuned with %s but the first model is %s; the cascade is "
                        "off until they are re-tuned (python -m training.export %s --cascade ...)",
                        where, tuned, first.version, path)
            return second
        return cls(first, second, spec["tau"], member=member)


def _member(second: Any, name: str) -> Any:
    """An ensemble's already-loaded member called ``name``, if ``second`` is such an ensemble."""
    names = getattr(second, "names", None)
    if isinstance(names, list) and name in names and hasattr(second, "member"):
        return second.member(name)
    return None


def _tau_text(tau: float | Mapping[str, float]) -> str:
    if isinstance(tau, Mapping):
        return "/".join(f"{float(tau[lab]):g}" for lab in LABELS)
    return f"{float(tau):g}"
