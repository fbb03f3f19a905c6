"""The transformer classifier: a fine-tuned BERT-family encoder with a 3-way head.

A model folder holds the transformers files (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``tokenizer_config.json``) and ``notecheck.json`` with ``kind: "encoder"``,
``max_length``, ``head_fraction`` (how much of a long note's token budget goes to its head; the
rest keeps its tail) and the calibration ``temperature``. torch and transformers are imported
only when a model is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.errors import ModelError
from classifier.model import MODEL_FILE, model_text, read_model_config, require_files, softmax
from classifier.types import LABELS, Note

FloatArray = npt.NDArray[np.float64]
ENCODER_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def head_tail(ids: list[int], budget: int, head_fraction: float) -> list[int]:
    """Keep ``budget`` token ids: the head and the tail of a long sequence."""
    if len(ids) <= budget:
        return ids
    head = max(1, int(budget * head_fraction))
    tail = budget - head
    return ids[:head] + (ids[len(ids) - tail :] if tail else [])


def pad_numpy(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Right-padded ``input_ids`` and ``attention_mask`` arrays (int64) for some id sequences."""
    width = max(len(s) for s in seqs)
    input_ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, seq in enumerate(seqs):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return input_ids, mask


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """:func:`pad_numpy` as torch tensors (``torch.long``)."""
    import torch

    input_ids, mask = pad_numpy(seqs, pad_id)
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


class EncoderModel:
    """Fine-tuned encoder; ``predict_proba(notes)`` is (n, 3) in ``classes_`` order."""

    classes_ = LABELS

    def __init__(self, model: Any, tokenizer: Any, config: dict[str, Any], batch_size: int = 16) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.batch_size = batch_size
        self.max_length = int(config.get("max_length", 256))
        self.head_fraction = float(config.get("head_fraction", 0.7))
        self.temperature_ = float(config.get("temperature", 1.0))
        self.text_prefix = str(config.get("text_prefix", ""))

    @property
    def version(self) -> str:
        return f"{self.config['name']}@{self.config['version']}"

    @classmethod
    def load(cls, path: Path | str, *, threads: int | None = None) -> EncoderModel:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        cfg = read_model_config(path)
        if cfg["kind"] != "encoder":
            raise ModelError(f"{path} holds a {cfg['kind']!r} model, not an encoder")
        require_files(path, ENCODER_FILES)
        hf_cfg = json.loads((path / "config.json").read_text("utf-8"))
        id2label = {int(k): v for k, v in hf_cfg.get("id2label", {}).items()}
        if tuple(id2label.get(i) for i in range(len(LABELS))) != LABELS:
            raise ModelError(f"{path}/config.json: id2label is {id2label}; expected {dict(enumerate(LABELS))}")
        if threads is not None:
            torch.set_num_threads(threads)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the encoder in {path}: {exc}") from None
        model.eval()
        return cls(model, tokenizer, cfg)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with special tokens, long texts cut to head + tail."""
        tok = self.tokenizer
        raw = tok([self.text_prefix + t for t in texts], add_special_tokens=False, verbose=False)["input_ids"]
        budget = self.max_length - 2
        return [
            [tok.cls_token_id, *head_tail(list(ids), budget, self.head_fraction), tok.sep_token_id]
            for ids in raw
        ]

    def logits(self, texts: Sequence[str]) -> FloatArray:
        """Raw logits, computed in length-sorted micro-batches (less padding)."""
        import torch

        ids = self.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), len(LABELS)), dtype=np.float64)
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                input_ids, mask = pad_batch([ids[i] for i in chunk], pad)
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
                out[chunk] = logits.float().numpy()
        return out

    def predict_proba_texts(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, len(LABELS)))
        return softmax(self.logits(texts) / self.temperature_)

    def predict_proba(self, notes: Sequence[Note]) -> FloatArray:
        return self.predict_proba_texts([model_text(n) for n in notes])


def write_encoder_config(path: Path, **config: Any) -> None:
    """Write ``notecheck.json`` for an encoder folder (labels and kind filled in)."""
    data = {"kind": "encoder", "labels": list(LABELS), **config}
    (Path(path) / MODEL_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
