"""One benchmark measurement in its own process (clean peak RSS); prints one JSON line last.

    python -m bench.worker peak
    python -m bench.worker hf    --model DIR --notes NOTES.jsonl --latency 200
    python -m bench.worker score --model DIR --notes NOTES.jsonl --mode exact|int8|fast --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

STARTED = time.perf_counter()


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latencies_ms(fn: Callable[[Any], Any], items: Sequence[Any]) -> dict[str, float | None]:
    if not items:
        return {"p50_ms": None, "p99_ms": None, "latency_n": 0}
    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2), "latency_n": len(times)}


def run_peak(args: argparse.Namespace) -> dict[str, Any]:
    from bench.flops import matmul_peak

    return matmul_peak(threads=args.threads)


def run_hf(args: argparse.Namespace) -> dict[str, Any]:
    """(a) the obvious implementation: transformers' text-classification pipeline, torch fp32, batch 8."""
    import torch
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from bench.data import read_jsonl
    from bench.flops import EncoderDims, EncoderMeter
    from bench.models import encoder_dirs

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(args.threads)
    enc = encoder_dirs(args.model)[0]
    max_length = int(json.loads((enc / "notecheck.json").read_text("utf-8")).get("max_length", 256))
    rows = read_jsonl(args.notes)
    texts = [f"{r.get('title') or ''}\n{r.get('text') or ''}".strip() for r in rows]
    t0 = time.perf_counter()
    clf = pipeline("text-classification", model=str(enc), tokenizer=str(enc), device=-1,
                   dtype=torch.float32, top_k=None)
    load_s = time.perf_counter() - t0
    meter = EncoderMeter(EncoderDims.of(enc))
    meter.attach_torch(clf.model)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    out = clf(texts, batch_size=8, truncation=True, max_length=max_length)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    assert len(out) == len(texts)
    encoder = meter.summary()
    lat = latencies_ms(lambda t: clf(t, truncation=True, max_length=max_length), texts[: args.latency])
    return {"mode": "hf-pipeline", "n": len(texts), "elapsed_s": round(elapsed, 3),
            "notes_per_s": round(len(texts) / elapsed, 2), "cpu_s": round(cpu, 2), "load_s": round(load_s, 2),
            **lat, "encoder": encoder, "encoder_dir": str(enc)}


def run_score(args: argparse.Namespace) -> dict[str, Any]:
    """(b) ``notecheck score`` end to end: read, normalise, jieba, signals, model, rules, write."""
    from bench.data import read_jsonl
    from bench.flops import EncoderDims, EncoderMeter
    from bench.models import MODES, build, encoder_dirs, encoders_in
    from classifier.notes import note_from_dict
    from classifier.onnx_backend import OnnxEncoderModel
    from classifier.pipeline import Pipeline
    from classifier.rules import Policy
    from classifier.signals import Lexicon
    from serving.batch.local import score_file

    if args.mode not in MODES:
        raise SystemExit(f"--mode {args.mode!r}: expected one of {MODES}")
    if args.mode == "exact":
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.mode == "int8":
        model = build(args.model, args.mode)
        policy_path = args.model / "policy.json"
        pipeline = Pipeline(model, Policy.load(policy_path if policy_path.is_file() else None),
                            Lexicon.load(), model_dir=args.model)
    else:  # what `notecheck score [--exact]` loads
        pipeline = Pipeline.load(args.model, exact=args.mode == "exact")
        model = pipeline.model
    load_s = time.perf_counter() - t0
    encoders = encoders_in(model)
    meter = EncoderMeter(EncoderDims.of(encoder_dirs(args.model)[0])) if encoders else None
    for enc in encoders:
        assert meter is not None
        if isinstance(enc, OnnxEncoderModel):
            enc.on_run = meter.record_runs
        else:
            meter.attach_torch(enc.model)
    out = Path(args.out) / f"verdicts-{args.mode}.jsonl"
    for stale in (out, out.with_name(out.name + ".progress.json")):
        stale.unlink(missing_ok=True)
    cpu0 = time.process_time()
    summary = score_file(pipeline, args.notes, out, batch_size=args.batch_size, progress=False)
    cpu = time.process_time() - cpu0
    encoder = meter.summary() if meter else None
    routed = dict(getattr(model, "routed_", {})) or None
    notes = [note_from_dict(r) for r in read_jsonl(args.notes)[: args.latency]]
    lat = latencies_ms(lambda n: pipeline.score_batch([n]), notes)
    return {"mode": f"score-{args.mode}", "model_version": pipeline.model_version, "n": summary.scored,
            "failed": summary.failed, "elapsed_s": round(summary.elapsed_s, 3),
            "notes_per_s": round(summary.scored / summary.elapsed_s, 2), "cpu_s": round(cpu, 2),
            "load_s": round(load_s, 2), **lat, "encoder": encoder, "routed": routed, "output": str(out)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("what", choices=["peak", "hf", "score"])
    p.add_argument("--model", type=Path)
    p.add_argument("--notes", type=Path)
    p.add_argument("--mode", default="exact")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    p.add_argument("--latency", type=int, default=200, help="single-note calls timed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args(argv)
    result = {"peak": run_peak, "hf": run_hf, "score": run_score}[args.what](args)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["process_s"] = round(time.perf_counter() - STARTED, 2)
    result["loadavg_end"] = os.getloadavg()[0]
    sys.stdout.flush()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
