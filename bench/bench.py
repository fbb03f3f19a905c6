"""Every way of scoring notes, side by side, on the same notes in one run.

    python -m bench.bench [--model DIR] [--n 2000] [--quick]

On ``--n`` notes drawn from the authored seed notes (realistic lengths), each in its own process:

(a) ``hf``       the obvious implementation: transformers ``pipeline("text-classification")`` over the
                 same fine-tuned encoder, torch fp32, batch 8, no length sorting;
(b) ``fast``     ``notecheck score`` end to end (read, normalise, jieba, signals, model, rules, write)
                 as shipped: ONNX int8 encoder behind the tuned lexical cascade; ``exact`` the same
                 with ``--exact`` (torch fp32, no cascade); ``int8`` the fast path without its cascade;
(c) ``api-1`` / ``api-32``  the HTTP API (``notecheck serve`` driven by ``bench/load_api.py``) with
                 one client and with 32 clients.

For each: notes/s, p50/p99 single-note latency, peak RSS, and the encoder's achieved GFLOP/s (useful
FLOPs, padding excluded, over the seconds spent inside the encoder) as a share of the fp32 matmul peak
measured in the same run (torch, 1024x1024, 2 threads; best of the runs before and after). Prints a
table, then ONE JSON line with every figure. The machine's load average is recorded with each mode:
other work on the box lowers every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCORE_MODES = ("exact", "int8", "fast")


def run_worker(args: Sequence[str], timeout: float, what: str) -> dict[str, Any] | None:
    """Run ``python -m bench.worker ARGS``; its last stdout line is the JSON result."""
    cmd = [sys.executable, "-m", "bench.worker", *args]
    return _run_json(cmd, timeout, what)


def _run_json(cmd: Sequence[str], timeout: float, what: str) -> dict[str, Any] | None:
    load = os.getloadavg()[0]
    print(f"-- {what} (load average {load:.1f}) ...", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"   {what}: timed out after {timeout:.0f} s; skipped", flush=True)
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        print(f"   {what}: failed (exit {proc.returncode}): " + " | ".join(tail), flush=True)
        return None
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    result["loadavg_start"] = round(load, 2)
    return result


def model_version(model: Path) -> str | None:
    """What the production loader makes of the folder (the API serves this)."""
    code = ("import sys; from classifier.registry import load_model; "
            "print(load_model(sys.argv[1]).version)")
    proc = subprocess.run([sys.executable, "-c", code, str(model)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if proc.returncode == 0 and lines else None


def run_api(model: Path, notes: Path, requests: int, single: int, timeout: float) -> dict[str, Any] | None:
    script = REPO / "bench" / "load_api.py"
    if not script.is_file():
        print("-- (c) HTTP API: skipped: bench/load_api.py is not in this checkout", flush=True)
        return None
    cmd = [sys.executable, str(script), "--model", str(model), "--notes", str(notes), "--requests",
           str(requests), "--concurrency", "32", "--single", str(single), "--client-procs", "1"]
    return _run_json(cmd, timeout, f"(c) HTTP API, {requests} requests from 32 clients + {single} from one")


def label_agreement(a: Path, b: Path) -> float | None:
    try:
        la = [str(json.loads(x)["label"]) for x in a.read_text("utf-8").splitlines() if x.strip()]
        lb = [str(json.loads(x)["label"]) for x in b.read_text("utf-8").splitlines() if x.strip()]
    except (OSError, KeyError, json.JSONDecodeError):
        return None
    if len(la) != len(lb) or not la:
        return None
    return round(sum(x == y for x, y in zip(la, lb, strict=True)) / len(la), 4)


def rows_of(results: dict[str, Any], peak: float | None) -> list[dict[str, Any]]:
    """One table row per mode, in a fixed order."""
    rows = []
    flop_per_note = None
    exact = results.get("exact") or results.get("hf")
    if exact and exact.get("encoder") and exact["encoder"].get("sequences"):
        flop_per_note = exact["encoder"]["gflop"] * 1e9 / exact["encoder"]["sequences"]
    for key, label in (("hf", "(a) transformers pipeline, torch fp32, batch 8"),
                       ("exact", "(b) notecheck score --exact (torch fp32)"),
                       ("int8", "(b) notecheck score, int8 only (no cascade)"),
                       ("fast", "(b) notecheck score (default: int8 + cascade)"),
                       ("api-1", "(c) HTTP API, 1 client"),
                       ("api-32", "(c) HTTP API, 32 clients")):
        r = results.get(key)
        if r is None:
            continue
        enc = r.get("encoder") or {}
        gflops, approx = enc.get("gflops"), False
        if gflops is None and key.startswith("api") and flop_per_note and not r.get("cascade"):
            gflops, approx = r["notes_per_s"] * flop_per_note / 1e9, True  # all notes through the encoder
        rows.append({
            "mode": key, "label": label, "notes_per_s": r.get("notes_per_s"),
            "p50_ms": r.get("p50_ms"), "p99_ms": r.get("p99_ms"), "peak_rss_mb": r.get("peak_rss_mb"),
            "encoder_gflops": round(gflops, 2) if gflops else None, "gflops_from_throughput": approx,
            "peak_share": round(gflops / peak, 4) if gflops and peak else None,
        })
    return rows


def print_table(rows: list[dict[str, Any]], base: float | None) -> None:
    head = (f"{'mode':<52}{'notes/s':>9}{'x (a)':>7}{'p50 ms':>9}{'p99 ms':>9}{'RSS MiB':>9}"
            f"{'GFLOP/s':>9}{'% peak':>8}")
    print(head)
    print("-" * len(head))

    def f(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, int | float) else "-"

    for r in rows:
        speed = r["notes_per_s"] / base if base and r["notes_per_s"] else None
        gflops = f(r["encoder_gflops"], ".1f") + ("*" if r["gflops_from_throughput"] else "")
        share = f(100 * r["peak_share"], ".0f") if r["peak_share"] else "-"
        print(f"{r['label']:<52}{f(r['notes_per_s'], '.1f'):>9}{f(speed, '.2f'):>7}{f(r['p50_ms'], '.1f'):>9}"
              f"{f(r['p99_ms'], '.1f'):>9}{f(r['peak_rss_mb'], '.0f'):>9}{gflops:>9}{share:>8}")


def main(argv: Sequence[str] | None = None) -> int:
    if str(REPO) not in sys.path:  # also runnable as `python bench/bench.py`
        sys.path.insert(0, str(REPO))
    from bench.data import SEED_GLOB as SEED_NOTES
    from bench.data import draw_notes, write_jsonl
    from bench.models import encoder_dirs
    from classifier.model import default_model_dir, read_model_config
    from classifier.onnx_backend import fast_artifact

    p = argparse.ArgumentParser(prog="python -m bench.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--n", type=int, default=2000, help="notes scored in every mode (default 2000)")
    p.add_argument("--latency", type=int, default=200, help="single-note calls timed per mode")
    p.add_argument("--quick", action="store_true", help="a smoke run: 200 notes, 30 single-note calls")
    p.add_argument("--skip", nargs="*", default=[], choices=["hf", *SCORE_MODES, "api"],
                   help="modes to leave out")
    p.add_argument("--notes-from", type=Path, nargs="+",
                   help="draw the notes from these files, repeated to --n (default: training/data/seed_w*.jsonl)")
    p.add_argument("--out", type=Path, default=REPO / "out" / "bench", help="working folder")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per mode")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.latency = min(args.n, 200), min(args.latency, 30)
    model = (args.model or default_model_dir()).resolve()
    cfg = read_model_config(model)
    encoders = encoder_dirs(model)
    if not encoders:
        raise SystemExit(f"{model} holds no encoder: nothing to compare (a lexical model is the cascade's first stage)")
    args.out.mkdir(parents=True, exist_ok=True)
    notes = write_jsonl(args.out / "notes.jsonl", draw_notes(args.n, sources=args.notes_from))
    print(f"bench: {model} ({cfg['name']}@{cfg['version']}), {args.n} notes, {args.latency} single-note "
          f"calls per mode, {os.cpu_count()} CPUs", flush=True)

    results: dict[str, Any] = {}
    common = ["--model", str(model), "--notes", str(notes), "--latency", str(args.latency),
              "--out", str(args.out)]
    peaks = [run_worker(["peak"], 300, "matmul peak (torch fp32 1024x1024, 2 threads)")]
    if "hf" not in args.skip:
        results["hf"] = run_worker(["hf", *common], args.timeout, "(a) transformers pipeline")
    fast_ok = all(fast_artifact(e) is not None for e in encoders)
    if not fast_ok:
        print(f"-- fast modes skipped: no up-to-date model.int8.onnx; run `python -m training.export {model}`")
    tuned = cfg.get("cascade")
    for mode in SCORE_MODES:
        if mode in args.skip or (mode != "exact" and not fast_ok):
            continue
        results[mode] = run_worker(["score", *common, "--mode", mode], args.timeout,
                                   f"(b) notecheck score, {mode}")
    if "api" not in args.skip:
        served = model_version(model)
        api = run_api(model, notes, args.n, args.latency, args.timeout)
        if api is not None:
            cascade = bool(served and "+cascade(" in served)
            common_api = {"peak_rss_mb": api.get("rss_mb_peak"), "served": served, "cascade": cascade,
                          "ready_s": api.get("ready_s"), "mean_model_batch": api.get("mean_model_batch")}
            results["api-32"] = {**api["load"], **common_api}
            results["api-1"] = {**api["single_client"], **common_api}
    peaks.append(run_worker(["peak"], 300, "matmul peak again"))
    best = [pk["best_gflops"] for pk in peaks if pk]
    peak = max(best) if best else None

    for mode in ("int8", "fast"):
        r, e = results.get(mode), results.get("exact")
        if r and e:
            r["label_agreement_with_exact"] = label_agreement(Path(r["output"]), Path(e["output"]))
    rows = rows_of({k: v for k, v in results.items() if v}, peak)
    base = (results.get("hf") or {}).get("notes_per_s")
    print()
    print(f"matmul peak {peak} GFLOP/s (best of {best}); cascade {tuned or 'none (not tuned)'}; "
          f"load average now {os.getloadavg()[0]:.1f}")
    print_table(rows, base)
    print("GFLOP/s: the encoder's useful FLOPs / seconds inside it; * = from API throughput x FLOPs "
          "per note. Latency: one note per call (b: pipeline.score_batch([note]); c: one request).")
    for mode in ("int8", "fast"):
        r = results.get(mode)
        if r:
            routed = f", routed {r['routed']}" if r.get("routed") else ""
            print(f"{mode}: labels agree with exact on {r.get('label_agreement_with_exact')} of notes{routed}")
    fast, api1 = results.get("fast") or {}, results.get("api-1") or {}
    targets = {
        "score_notes_per_s": fast.get("notes_per_s"),
        "score_speedup_vs_obvious": round(fast["notes_per_s"] / base, 2) if fast.get("notes_per_s") and base else None,
        "api_single_p99_ms": api1.get("p99_ms"),
        "fast_label_agreement_with_exact": fast.get("label_agreement_with_exact"),
    }
    print(f"targets: {json.dumps(targets)} (score >= 100 notes/s and >= 4x (a); single-note API p99 <= 50 ms)")
    print(json.dumps({"bench": {"model": str(model), "n": args.n, "latency_calls": args.latency,
                                "notes_from": [str(f) for f in args.notes_from or [SEED_NOTES]],
                                "cpu_count": os.cpu_count(), "matmul_peak_gflops": peak, "peaks": peaks,
                                "targets": targets, "rows": rows, "results": results}}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
