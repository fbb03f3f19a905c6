"""The lexical model: TF-IDF over jieba tokens (uni+bigrams) + multinomial logistic regression.

Fitting uses scikit-learn; the fitted vocabulary, idf weights and coefficients are saved as
plain data (``vocab.json`` + ``weights.safetensors``, no pickle) and scored here with numpy/scipy,
so a saved model loads on any scikit-learn version.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from classifier.errors import ModelError, NotFittedError
from classifier.model import MODEL_FILE, model_text, read_model_config, require_files, softmax
from classifier.types import LABELS, Note

FloatArray = npt.NDArray[np.float64]


def features(text: str, ngram_max: int) -> list[str]:
    """jieba tokens of ``text`` and their n-grams up to ``ngram_max``, space-joined."""
    from classifier.segment import tokens

    toks = tokens(text)
    out = list(toks)
    for n in range(2, ngram_max + 1):
        out.extend(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return out


class LexicalModel:
    """TF-IDF + logistic regression over jieba tokens; ``predict_proba`` in ``classes_`` order."""

    classes_ = LABELS

    def __init__(
        self,
        *,
        ngram_max: int = 2,
        min_df: int = 2,
        max_features: int = 100_000,
        C: float = 4.0,
        name: str = "lexical",
        model_version: str = "0",
    ) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.C = C
        self.name = name
        self.model_version = model_version
        self.temperature_ = 1.0

    @property
    def version(self) -> str:
        return f"{self.name}@{self.model_version}"

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        sample_weight: Sequence[float] | None = None,
    ) -> LexicalModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels")
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown labels {unknown}; expected {list(LABELS)}")
        ngram_max = self.ngram_max
        vectorizer = TfidfVectorizer(
            analyzer=lambda t: features(t, ngram_max),
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=True,
        )
        x = vectorizer.fit_transform(texts)
        y = np.array([LABELS.index(label) for label in labels])
        clf = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced")
        clf.fit(x, y, sample_weight=None if sample_weight is None else np.asarray(sample_weight))
        if tuple(clf.classes_) != tuple(range(len(LABELS))):
            raise ValueError("training data must contain every label: " + ", ".join(LABELS))
        self.vocabulary_: dict[str, int] = {t: int(i) for t, i in vectorizer.vocabulary_.items()}
        self.idf_: FloatArray = vectorizer.idf_.astype(np.float64)
        self.coef_: FloatArray = clf.coef_.astype(np.float64)
        self.intercept_: FloatArray = clf.intercept_.astype(np.float64)
        return self

    # -- scoring ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this LexicalModel is not fitted; call fit() or LexicalModel.load()")

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """TF-IDF rows (sublinear tf, l2-normalised), identical to the fitted vectorizer's."""
        self._check_fitted()
        vocab = self.vocabulary_
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        for text in texts:
            counts = Counter(i for f in features(text, self.ngram_max) if (i := vocab.get(f)) is not None)
            indices.extend(counts.keys())
            values.extend(1.0 + np.log(c) for c in counts.values())
            indptr.append(len(indices))
        x = sparse.csr_matrix(
            (np.asarray(values, dtype=np.float64), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(vocab)),
        )
        x = x.multiply(self.idf_).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0.0] = 1.0
        return sparse.csr_matrix(x.multiply(1.0 / norms[:, None]))

    def logits(self, texts: Sequence[str]) -> FloatArray:
        return np.asarray(self.transform(texts) @ self.coef_.T) + self.intercept_

    def predict_proba_texts(self, texts: Sequence[str]) -> FloatArray:
        return softmax(self.logits(texts) / self.temperature_)

    def predict_proba(self, notes: Sequence[Note]) -> FloatArray:
        return self.predict_proba_texts([model_text(n) for n in notes])

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: Path, extra_config: dict[str, Any] | None = None) -> Path:
        from safetensors.numpy import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        terms = [""] * len(self.vocabulary_)
        for term, i in self.vocabulary_.items():
            terms[i] = term
        (path / "vocab.json").write_text(json.dumps(terms, ensure_ascii=False), "utf-8")
        save_file(
            {k: np.ascontiguousarray(v) for k, v in  # safetensors writes the raw C-order buffer
             {"idf": self.idf_, "coef": self.coef_, "intercept": self.intercept_}.items()},
            str(path / "weights.safetensors"),
        )
        config = {
            "kind": "lexical",
            "name": self.name,
            "version": self.model_version,
            "labels": list(LABELS),
            "ngram_max": self.ngram_max,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "C": self.C,
            "temperature": self.temperature_,
            **(extra_config or {}),
        }
        (path / MODEL_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=2), "utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str) -> LexicalModel:
        from safetensors.numpy import load_file

        path = Path(path)
        cfg = read_model_config(path)
        if cfg["kind"] != "lexical":
            raise ModelError(f"{path} holds a {cfg['kind']!r} model, not a lexical one")
        require_files(path, ["vocab.json", "weights.safetensors"])
        model = cls(
            ngram_max=int(cfg.get("ngram_max", 2)),
            min_df=int(cfg.get("min_df", 2)),
            max_features=int(cfg.get("max_features", 100_000)),
            C=float(cfg.get("C", 4.0)),
            name=cfg["name"],
            model_version=cfg["version"],
        )
        terms = json.loads((path / "vocab.json").read_text("utf-8"))
        weights = load_file(str(path / "weights.safetensors"))
        model.vocabulary_ = {t: i for i, t in enumerate(terms)}
        model.idf_ = weights["idf"].astype(np.float64)
        model.coef_ = weights["coef"].astype(np.float64)
        model.intercept_ = weights["intercept"].astype(np.float64)
        model.temperature_ = float(cfg.get("temperature", 1.0))
        if model.coef_.shape != (len(LABELS), len(terms)) or model.idf_.shape != (len(terms),):
            raise ModelError(
                f"{path}: weights do not match the vocabulary: coef {model.coef_.shape}, "
                f"idf {model.idf_.shape}, {len(terms)} terms"
            )
        return model
