"""An ensemble of calibrated models: a weighted geometric blend of their probabilities.

The shipped model blends the fine-tuned encoder with the lexical model (the blend generalised
better to an unseen writer's notes on validation than either alone). A folder of kind
``ensemble`` holds each member in its own subfolder and lists them in ``notecheck.json``::

    {"kind": "ensemble", "members": [{"path": "encoder", "weight": 0.5},
                                     {"path": "lexical", "weight": 0.5}], "temperature": 1.0, ...}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.errors import ModelError
from classifier.model import MODEL_FILE, ModelLoader, model_text, read_model_config, softmax
from classifier.types import LABELS, Note

FloatArray = npt.NDArray[np.float64]


class EnsembleModel:
    """``predict_proba`` = softmax(sum_i w_i * log p_i / temperature) over member models."""

    classes_ = LABELS

    def __init__(self, members: Sequence[Any], weights: Sequence[float], *, names: Sequence[str],
                 name: str = "ensemble", model_version: str = "0") -> None:
        if len(members) != len(weights) or len(members) != len(names) or not members:
            raise ValueError("an ensemble needs as many weights and names as members, and at least one")
        self.members = list(members)
        self.weights = [float(w) for w in weights]
        self.names = list(names)
        self.name = name
        self.model_version = model_version
        self.temperature_ = 1.0

    @property
    def version(self) -> str:
        """``name@version``, plus how members run when not as trained (e.g. ``+onnx-int8``)."""
        tags = dict.fromkeys(tag for m in self.members if "+" in str(m.version)
                             for tag in str(m.version).split("+")[1:])
        return "+".join([f"{self.name}@{self.model_version}", *tags])

    def member(self, name: str) -> Any:
        return self.members[self.names.index(name)]

    def logits(self, texts: Sequence[str], known: Mapping[str, FloatArray] | None = None) -> FloatArray:
        """The blend's logits; ``known`` holds members' probabilities already computed for
        ``texts`` (by member name; a cascade passes its first model's), which are not recomputed."""
        known = known or {}
        z = np.zeros((len(texts), len(LABELS)))
        for model, weight, name in zip(self.members, self.weights, self.names, strict=True):
            proba = known[name] if name in known else model.predict_proba_texts(texts)
            z += weight * np.log(np.clip(proba, 1e-9, 1.0))
        return z

    def predict_proba_texts(self, texts: Sequence[str],
                            known: Mapping[str, FloatArray] | None = None) -> FloatArray:
        if not texts:
            return np.zeros((0, len(LABELS)))
        return softmax(self.logits(texts, known) / self.temperature_)

    def predict_proba(self, notes: Sequence[Note]) -> FloatArray:
        return self.predict_proba_texts([model_text(n) for n in notes])

    def config(self) -> dict[str, Any]:
        return {
            "kind": "ensemble", "name": self.name, "version": self.model_version, "labels": list(LABELS),
            "members": [{"path": n, "weight": w} for n, w in zip(self.names, self.weights, strict=True)],
            "temperature": self.temperature_,
        }

    def write_config(self, path: Path) -> None:
        (Path(path) / MODEL_FILE).write_text(json.dumps(self.config(), ensure_ascii=False, indent=2), "utf-8")

    @classmethod
    def load(cls, path: Path | str, *, exact: bool = False, load_member: ModelLoader) -> EnsembleModel:
        """Load the folder's members with ``load_member`` (:func:`classifier.registry.load_model`,
        which passes itself; ``exact`` as there)."""
        path = Path(path)
        cfg = read_model_config(path)
        if cfg["kind"] != "ensemble":
            raise ModelError(f"{path} holds a {cfg['kind']!r} model, not an ensemble")
        specs = cfg.get("members")
        if not isinstance(specs, list) or not specs:
            raise ModelError(f"{path}/{MODEL_FILE}: 'members' must be a non-empty list of {{path, weight}}")
        members, weights, names = [], [], []
        for spec in specs:
            sub = str(spec.get("path", ""))
            if not sub or Path(sub).is_absolute() or ".." in Path(sub).parts:
                raise ModelError(f"{path}/{MODEL_FILE}: member path {sub!r} must be a subfolder name")
            member = load_member(path / sub, exact=exact)
            if not hasattr(member, "predict_proba_texts"):
                raise ModelError(f"{path / sub}: a {type(member).__name__} cannot be an ensemble member")
            members.append(member)
            weights.append(float(spec.get("weight", 1.0)))
            names.append(sub)
        model = cls(members, weights, names=names, name=cfg["name"], model_version=cfg["version"])
        model.temperature_ = float(cfg.get("temperature", 1.0))
        return model
