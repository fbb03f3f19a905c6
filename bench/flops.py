"""FLOP accounting for the encoder and the matmul peak it is compared with.

Useful FLOPs of one sequence of ``l`` real tokens through an encoder with ``L`` layers, hidden
size ``h`` and feed-forward size ``f`` (multiply-add = 2 FLOPs; embeddings, softmax, norms left out):

    L * (2 * l * (4 h^2 + 2 h f)   # Q, K, V, output projections and the feed-forward
         + 4 * l^2 * h)            # Q K^T and attention x V
    + 2 * (h^2 + 3 h)              # classification head on the first token

Padding tokens are counted separately (``padded``): they are work done but not useful.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EncoderDims:
    layers: int
    hidden: int
    ffn: int

    @classmethod
    def of(cls, encoder_dir: Path) -> EncoderDims:
        cfg = json.loads((Path(encoder_dir) / "config.json").read_text("utf-8"))
        return cls(int(cfg["num_hidden_layers"]), int(cfg["hidden_size"]), int(cfg["intermediate_size"]))

    def flops(self, lengths: Any) -> float:
        """FLOPs for sequences of the given real lengths (one number or an array)."""
        n = np.asarray(lengths, dtype=np.float64)
        h, f = self.hidden, self.ffn
        per_seq = self.layers * (2 * n * (4 * h * h + 2 * h * f) + 4 * n * n * h) + 2 * (h * h + 3 * h)
        return float(np.sum(per_seq))


@dataclass
class EncoderMeter:
    """Accumulates the encoder's calls: sequences, useful and padded FLOPs, seconds inside it."""

    dims: EncoderDims
    calls: int = 0
    sequences: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    flops: float = 0.0
    padded_flops: float = 0.0
    seconds: float = 0.0
    _t0: list[float] = field(default_factory=list)

    def record(self, input_ids: Any, mask: Any, seconds: float) -> None:
        m = np.asarray(mask)
        lengths = m.sum(axis=1)
        self.calls += 1
        self.sequences += int(m.shape[0])
        self.tokens += int(lengths.sum())
        self.padded_tokens += int(m.size)
        self.flops += self.dims.flops(lengths)
        self.padded_flops += self.dims.flops(np.full(m.shape[0], m.shape[1]))
        self.seconds += seconds

    def record_runs(self, runs: Any, seconds: float) -> None:
        """The ONNX backend's hook: every run's ``(input_ids, mask)``, and the wall seconds they
        took together (runs may overlap, so their own times would count some seconds twice)."""
        for input_ids, mask in runs:
            self.record(input_ids, mask, 0.0)
        self.seconds += seconds

    def attach_torch(self, module: Any) -> None:
        """Time every forward of a torch module called with ``input_ids``/``attention_mask``."""

        def pre(_mod: Any, args: Any, kwargs: Any) -> None:
            self._t0.append(time.perf_counter())

        def post(_mod: Any, args: Any, kwargs: Any, _out: Any) -> None:
            dt = time.perf_counter() - self._t0.pop()
            ids = kwargs.get("input_ids", args[0] if args else None)
            mask = kwargs.get("attention_mask")
            if mask is None:
                mask = np.ones(tuple(ids.shape))
            self.record(ids, mask.cpu().numpy() if hasattr(mask, "cpu") else mask, dt)

        module.register_forward_pre_hook(pre, with_kwargs=True)
        module.register_forward_hook(post, with_kwargs=True)

    def summary(self, peak_gflops: float | None = None) -> dict[str, Any]:
        gflops = self.flops / self.seconds / 1e9 if self.seconds else None
        return {
            "calls": self.calls, "sequences": self.sequences, "tokens": self.tokens,
            "padding_share": round(1 - self.tokens / self.padded_tokens, 4) if self.padded_tokens else None,
            "gflop": round(self.flops / 1e9, 2), "seconds": round(self.seconds, 3),
            "gflops": round(gflops, 2) if gflops else None,
            "peak_share": round(gflops / peak_gflops, 4) if gflops and peak_gflops else None,
        }


def matmul_peak(threads: int = 2, size: int = 1024, reps: int = 30) -> dict[str, Any]:
    """fp32 matmul GFLOP/s of torch on ``threads`` threads: best and median of ``reps`` runs."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    for _ in range(3):
        torch.mm(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    flop = 2.0 * size**3
    return {"threads": threads, "size": size, "reps": reps,
            "best_gflops": round(flop / min(times) / 1e9, 1),
            "median_gflops": round(flop / float(np.median(times)) / 1e9, 1)}
