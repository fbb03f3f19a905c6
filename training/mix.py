"""``notecheck mix``: the model scores of a scored dump read back, for :func:`classifier.mix.estimate_mix`.

The verdicts ``notecheck score`` writes carry the model's own scores (``model_scores``, before the
prior and the rules) and the model's version; an estimate is only meaningful with the model that
scored them, whose policy names the mix those scores are calibrated on (``priors.model``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from classifier.errors import InputError, ModelError
from classifier.formats import RowError
from classifier.model import read_model_config
from classifier.pipeline import policy_for
from classifier.rules import Priors
from classifier.types import LABELS


def model_priors(model_dir: Path) -> tuple[Priors, str]:
    """The model folder's policy priors and its ``name@version`` (no weights are loaded)."""
    cfg = read_model_config(model_dir)
    priors = policy_for(model_dir, None).spec.priors
    if priors is None:
        raise ModelError(f"the policy of {model_dir} has no priors: its scores name no label mix to move "
                         "from; retrain or retune it with the packaged policy")
    return priors, f"{cfg.get('name') or Path(model_dir).name}@{cfg.get('version', '')}"


def read_model_scores(paths: Sequence[Path], model: str) -> np.ndarray:
    """Every verdict's ``model_scores`` (rows in :data:`LABELS` order) from ``notecheck score`` output
    files (JSONL, CSV or Parquet: :func:`serving.report.verdicts.read_rows`); a row that is not such a
    verdict, or was scored by another model than ``model`` (``name@version``), is an error naming the
    file and row."""
    from serving.report.verdicts import read_rows

    rows: list[list[float]] = []
    for path in paths:
        for item in read_rows(path, ("model_scores", "model_version")):  # FormatError is an InputError
            if isinstance(item, RowError):
                raise InputError(f"{path}: {item.reason}", field=item.field, row=item.row)
            number, verdict, _ = item
            scores = verdict.get("model_scores")
            if isinstance(scores, str):  # CSV and Parquet cells hold nested values as JSON text
                try:
                    scores = json.loads(scores)
                except json.JSONDecodeError:
                    scores = None
            if not isinstance(scores, Mapping) or not all(
                    isinstance(scores.get(lab), (int, float)) for lab in LABELS):
                raise InputError(f"{path}: no model_scores with {', '.join(LABELS)}; give the verdicts "
                                 "file `notecheck score` wrote (not its errors file)", field="model_scores",
                                 row=number)
            version = str(verdict.get("model_version") or "")
            if version != model and not version.startswith(model + "+"):
                raise InputError(f"{path}: scored by model {version!r}, not {model}; pass the model "
                                 "that scored the file with --model", field="model_version", row=number)
            rows.append([float(scores[lab]) for lab in LABELS])
    if not rows:
        raise InputError("no verdicts in " + ", ".join(map(str, paths)))
    return np.array(rows)


def prior_argument(mix: Mapping[str, float]) -> str:
    """``--deployment-prior``'s value for ``mix``: three decimals, every share at least 0.001,
    summing to one."""
    shares = {lab: max(round(float(mix[lab]), 3), 0.001) for lab in LABELS[1:]}
    shares = {LABELS[0]: round(1.0 - sum(shares.values()), 3), **shares}
    return ",".join(f"{lab}={shares[lab]:.3f}" for lab in LABELS)
