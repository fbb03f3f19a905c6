"""A model folder in one of the benchmark's modes, built by the production loader.

``exact``: ``load_model(dir, exact=True)`` (torch fp32, no cascade: ``notecheck score --exact``);
``fast``: ``load_model(dir)`` (the default: ONNX int8 and the folder's tuned cascade);
``int8``: the fast model without its cascade (to see what each of the two contributes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODES = ("exact", "int8", "fast")


def encoder_dirs(model_dir: Path) -> list[Path]:
    from training.export import encoder_folders

    return encoder_folders(Path(model_dir))


def build(model_dir: Path, mode: str) -> Any:
    from classifier.cascade import CascadeModel
    from classifier.registry import load_model

    if mode not in MODES:
        raise SystemExit(f"mode {mode!r}: expected one of {MODES}")
    model: Any = load_model(model_dir, exact=mode == "exact")
    if mode == "int8" and isinstance(model, CascadeModel):
        model = model.second
    return model


def encoders_in(model: Any) -> list[Any]:
    """Every encoder object inside a (possibly nested) model."""
    from classifier.encoder import EncoderModel

    if isinstance(model, EncoderModel):
        return [model]
    out = []
    for attr in ("members", "first", "second"):
        sub = getattr(model, attr, None)
        for m in sub if isinstance(sub, list) else [sub] if sub is not None else []:
            out.extend(encoders_in(m))
    return out
