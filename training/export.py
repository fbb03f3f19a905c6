"""Export encoder folders to ONNX (fp32 + dynamic int8) and tune the lexical -> encoder cascade.

    python -m training.export MODEL_DIR                      # export every encoder in MODEL_DIR
    python -m training.export MODEL_DIR --check 500          # ... and compare int8 with torch on 500 notes
    python -m training.export MODEL_DIR --skip-export --cascade lexical --write   # tune the cascade

``MODEL_DIR`` is an encoder folder or an ensemble folder (each encoder member is exported). For each
encoder this writes ``model.onnx`` (fp32, transformer ops fused for ONNX Runtime), ``model.int8.onnx``
(weights quantised to int8, activations quantised dynamically) and ``onnx.json`` (the weights' sha256,
options, library versions and the quality check). Run it at set-up or after training, never at start.

Recipe (what worked on this machine): ``torch.onnx.export(dynamo=False, opset_version=17)`` with
``attn_implementation="eager"``; ORT's transformer optimiser fuses attention/LayerNorm/GELU; int8 on
the fused graph needs ``extra_options={"DefaultTensorType": FLOAT}``. A fusion that changes the
logits by more than ``FUSED_TOLERANCE`` is dropped and the unfused graph is quantised instead.

``--cascade FIRST`` rebuilds the splits recorded in the model's ``meta.json`` and picks, on the
validation split only, the lowest ``tau`` whose macro-F1 (model alone and model + rules) for the fast
path (int8 behind FIRST) stays within ``--max-drop`` of the exact path (torch fp32, no cascade); it
reports both paths on the test split, and with ``--write`` stores FIRST, its version and ``tau`` in
the model's ``notecheck.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifier.cascade import CONFIG_KEY, confident, thresholds_of
from classifier.errors import ModelError, NotecheckError
from classifier.model import MODEL_FILE, model_text, read_model_config, softmax
from classifier.onnx_backend import (
    ONNX_FP32,
    ONNX_INT8,
    ONNX_META,
    OnnxEncoderModel,
    RawTokenizer,
    read_onnx_meta,
    weights_digest,
)
from classifier.registry import load_model

FloatArray = npt.NDArray[np.float64]
OPSET = 17
FUSED_TOLERANCE = 1e-3  # max |logit| change a graph fusion may cause
TAU_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ExportOptions:
    """How to export: ``fuse`` the transformer ops, quantise ``per_channel`` (one weight scale per
    output column: on the shipped encoder 2.4x smaller probability error than one per tensor, at
    the same speed) / with ``reduce_range`` (7-bit weights, for CPUs whose int8 dot products
    saturate), ``check`` notes against torch."""

    fuse: bool = True
    int8: bool = True
    per_channel: bool = True
    reduce_range: bool = False
    check: int = 500
    force: bool = False

    def __post_init__(self) -> None:
        if self.check < 0:
            raise ValueError(f"check must be >= 0 notes, got {self.check}")


# -- export -----------------------------------------------------------------------------------------

def encoder_folders(path: Path) -> list[Path]:
    """The encoder folders of a model folder: itself, or an ensemble's encoder members."""
    cfg = read_model_config(path)
    if cfg["kind"] == "encoder":
        return [path]
    if cfg["kind"] == "ensemble":
        subs = [path / str(m.get("path", "")) for m in cfg.get("members", [])]
        return [s for s in subs if read_model_config(s)["kind"] == "encoder"]
    return []


def export_torch(path: Path, out: Path) -> None:
    """The fine-tuned model as an fp32 ONNX graph with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), dtype=torch.float32, attn_implementation="eager").eval()

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    pad = int(getattr(model.config, "pad_token_id", None) or 0)
    ids = torch.full((2, 16), pad, dtype=torch.long)
    ids[0, :] = 5
    ids[1, :9] = 5
    mask = (torch.arange(16)[None, :] < torch.tensor([[16], [9]])).long()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Logits(model), (ids, mask), str(out), input_names=["input_ids", "attention_mask"],
            output_names=["logits"], opset_version=OPSET, dynamo=False, do_constant_folding=True,
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
        )


def fuse_graph(path: Path, src: Path, dst: Path) -> dict[str, int]:
    """ORT's transformer optimiser (attention, SkipLayerNorm, BiasGelu fusions); fused op counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    hf = json.loads((path / "config.json").read_text("utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimize_model(str(src), model_type="bert", num_heads=int(hf["num_attention_heads"]),
                             hidden_size=int(hf["hidden_size"]), opt_level=1)
    opt.save_model_to_file(str(dst))
    return {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}


def quantize(src: Path, dst: Path, opts: ExportOptions) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT advises "pre-processing" on every call; not needed here
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=opts.per_channel,
                         reduce_range=opts.reduce_range,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def _session_logits(graph: Path, ids: Sequence[Sequence[int]], pad: int) -> FloatArray:
    import onnxruntime as ort

    from classifier.encoder import pad_numpy
    from classifier.onnx_backend import session_options

    sess = ort.InferenceSession(str(graph), session_options(), providers=["CPUExecutionProvider"])
    out = []
    for start in range(0, len(ids), 16):
        a, m = pad_numpy(ids[start : start + 16], pad)
        out.append(sess.run(["logits"], {"input_ids": a, "attention_mask": m})[0])
    return np.concatenate(out).astype(np.float64)


def export_encoder(path: Path, opts: ExportOptions, texts: Sequence[str], log: Any = print) -> dict[str, Any]:
    """Export one encoder folder; returns (and writes as ``onnx.json``) what was done and checked."""
    from classifier.encoder import EncoderModel

    path = Path(path)
    digest = weights_digest(path)
    meta = read_onnx_meta(path)
    same_int8 = not opts.int8 or ((path / ONNX_INT8).is_file() and isinstance(meta, dict)
                                  and (meta.get("int8") or {}).get("per_channel") == opts.per_channel)
    if (not opts.force and meta and meta.get("weights_sha256") == digest
            and (path / ONNX_FP32).is_file() and same_int8):
        log(f"{path}: ONNX graphs are up to date (use --force to rebuild)")
        return meta
    started = time.perf_counter()
    raw = path / "model.raw.onnx"
    log(f"{path}: exporting to ONNX (opset {OPSET}) ...")
    export_torch(path, raw)
    torch_model = EncoderModel.load(path)
    probe = list(texts[:64]) or ["周末去了家楼下新开的面馆，汤头很鲜", "加薇信领优惠券，到手价99"]
    probe_ids = torch_model.encode(probe)
    reference = torch_model.logits(probe)
    pad = int(torch_model.tokenizer.pad_token_id)
    fused_ops: dict[str, int] = {}
    fused = False
    if opts.fuse:
        try:
            fused_ops = fuse_graph(path, raw, path / ONNX_FP32)
            drift = float(np.abs(_session_logits(path / ONNX_FP32, probe_ids, pad) - reference).max())
            fused = drift <= FUSED_TOLERANCE
            log(f"  fused {fused_ops} (max logit change {drift:.2e}{'' if fused else ': too large, unfused kept'})")
        except Exception as exc:  # noqa: BLE001 - fusion is an optimisation; fall back to the plain graph
            log(f"  fusion failed ({type(exc).__name__}: {exc}); keeping the unfused graph")
    if fused:
        raw.unlink()
    else:
        os.replace(raw, path / ONNX_FP32)
        fused_ops = {}
    drift32 = float(np.abs(_session_logits(path / ONNX_FP32, probe_ids, pad) - reference).max())
    if drift32 > FUSED_TOLERANCE:
        raise ModelError(f"{path / ONNX_FP32}: logits differ from torch by {drift32:.3g} "
                         f"(> {FUSED_TOLERANCE}); the export is wrong, please report it")
    if opts.int8:
        quantize(path / ONNX_FP32, path / ONNX_INT8, opts)
    tokenizer = "raw" if raw_tokenizer_matches(path, torch_model.tokenizer, texts or probe) else "auto"
    import onnx
    import onnxruntime
    import torch
    import transformers

    meta = {
        "weights_sha256": digest,
        "files": [ONNX_FP32, *([ONNX_INT8] if opts.int8 else [])],
        "opset": OPSET,
        "fused": fused_ops,
        "int8": {"weight_type": "QInt8", "activations": "dynamic uint8", "per_channel": opts.per_channel,
                 "reduce_range": opts.reduce_range} if opts.int8 else None,
        "tokenizer": tokenizer,
        "fp32_max_logit_diff": drift32,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        "export_seconds": round(time.perf_counter() - started, 1),
    }
    if opts.int8 and opts.check:
        meta["check"] = check_int8(path, torch_model, texts[: opts.check] if texts else probe)
        c = meta["check"]
        log(f"  int8 vs torch on {c['n']} notes: max |prob diff| {c['max_abs_prob_diff']:.4f}, "
            f"mean {c['mean_abs_prob_diff']:.5f}, label agreement {c['label_agreement']:.4f}")
    (path / ONNX_META).write_text(json.dumps(meta, indent=2), "utf-8")
    log(f"  wrote {', '.join(meta['files'])}, {ONNX_META} (tokenizer: {tokenizer}) "
        f"in {meta['export_seconds']}s")
    return meta


def raw_tokenizer_matches(path: Path, tokenizer: Any, texts: Sequence[str]) -> bool:
    """Whether the transformers-free tokenizer gives the same ids as ``AutoTokenizer`` on ``texts``."""
    try:
        raw = RawTokenizer.load(path)
    except (ModelError, OSError, ValueError):
        return False
    same_ids = (raw(texts)["input_ids"] == tokenizer(list(texts), add_special_tokens=False)["input_ids"])
    same_special = ((raw.cls_token_id, raw.sep_token_id, raw.pad_token_id)
                    == (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id))
    return bool(same_ids and same_special)


def check_int8(path: Path, torch_model: Any, texts: Sequence[str]) -> dict[str, Any]:
    """int8 against torch fp32 on ``texts``: probability differences and label agreement."""
    if not texts:
        return {"n": 0}
    fast = OnnxEncoderModel.load(path)
    z_torch, z_fast = torch_model.logits(texts), fast.logits(texts)
    p_torch = softmax(z_torch / torch_model.temperature_)
    p_fast = softmax(z_fast / fast.temperature_)
    diff = np.abs(p_fast - p_torch)
    return {
        "n": len(texts),
        "max_abs_prob_diff": float(diff.max()),
        "mean_abs_prob_diff": float(diff.mean()),
        "label_agreement": float((p_fast.argmax(1) == p_torch.argmax(1)).mean()),
        "max_abs_logit_diff": float(np.abs(z_fast - z_torch).max()),
    }


def export_model(path: Path, opts: ExportOptions, texts: Sequence[str], log: Any = print) -> dict[str, Any]:
    """Export every encoder of a model folder; ``{folder: onnx.json contents}``."""
    folders = encoder_folders(Path(path))
    if not folders:
        raise ModelError(f"{path} holds no encoder (a lexical model needs no export)")
    return {str(f): export_encoder(f, opts, texts, log) for f in folders}


# -- data -------------------------------------------------------------------------------------------

def default_data() -> list[Path]:
    return sorted((REPO / "training" / "data").glob("seed_*.jsonl"))


def recorded_data(path: Path) -> list[Path]:
    """The labelled files the model's ``meta.json`` records (read by
    :func:`training.trainer.recorded_split`) that exist, relative ones under the repository; the
    seed files when there is no readable record or it names none that exists."""
    from training.trainer import recorded_split

    try:
        data = recorded_split(path)["data"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return default_data()
    files = [p if p.is_absolute() else REPO / p for p in data]
    return [p for p in files if p.is_file()] or default_data()


def sample_texts(files: Sequence[Path], n: int, seed: int = 0) -> list[str]:
    """``n`` model texts drawn at random (fixed seed) from labelled files."""
    from training.data import load_labelled

    texts = [model_text(x.note) for f in files for x in load_labelled(f)]
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(texts))[:n]
    return [texts[i] for i in idx]


# -- cascade tuning -----------------------------------------------------------------------------------

def _split_metrics(model: Any, policy: Any, lexicon: Any, xs: Sequence[Any], proba: FloatArray) -> dict[str, float]:
    from training.tuning import evaluate_three_ways

    three = evaluate_three_ways(model, policy, lexicon, list(xs), proba=proba)
    return {"macro_f1_model": float(three["model"]["macro_f1"]),
            "macro_f1_combined": float(three["combined"]["macro_f1"]),
            "ad_f1_combined": float(three["combined"]["per_class"]["undisclosed_ad"]["f1"])}


def tune_cascade(model_dir: Path, first: str, *, max_drop: float = 0.005, tau: float | None = None,
                 tau_why: str = "", log: Any = print) -> dict[str, Any]:
    """Tune the cascade of the fast path on the validation split the model was trained with.

    The reference is the exact path (torch fp32, no cascade); the candidate is the fast path (every
    encoder on its int8 graph) behind ``first`` (an ensemble member name, or a model folder relative
    to ``model_dir``). The chosen ``tau`` is the lowest (most notes settled by ``first``) whose
    validation macro-F1, of the model alone and of the combined pipeline (model + rules), stays
    within ``max_drop`` of the exact path. The test split is only reported, never used to choose.
    A given ``tau`` is used as it is (``tau_why`` says where it was chosen, for the card).
    """
    from classifier.cascade import CascadeModel
    from classifier.pipeline import Pipeline
    from training.trainer import assemble, eval_sets, recorded_args

    model_dir = Path(model_dir)
    recorded = recorded_args(model_dir)
    splits = assemble(recorded)
    if not splits.val or not splits.test:
        raise ValueError(f"{model_dir}: the recorded data gives no validation or test notes")
    exact = Pipeline.load(model_dir, exact=True)
    fast: Any = load_model(model_dir)
    if isinstance(fast, CascadeModel):  # tune afresh: the fast model without its current cascade
        fast = fast.second
    member = first if first in getattr(fast, "names", []) else None
    first_model: Any = fast.member(first) if member else load_model(model_dir / first)
    authored = [x for x in splits.test if not x.source.startswith("proxy:")]
    log(f"cascade: {first_model.version} -> {fast.version} (exact reference {exact.model.version}); "
        f"val {len(splits.val)}, test {len(splits.test)} (authored, held-out writers: {len(authored)})")

    def probas(xs: Sequence[Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
        texts = [model_text(x.note) for x in xs]
        p1 = first_model.predict_proba_texts(texts)
        p_fast = (fast.predict_proba_texts(texts, known={member: p1}) if member
                  else fast.predict_proba_texts(texts))
        return p1, p_fast, exact.model.predict_proba([x.note for x in xs])

    def row(xs: Sequence[Any], p1: FloatArray, p_fast: FloatArray, tau: float) -> dict[str, float]:
        keep = confident(p1, thresholds_of(tau))
        proba = np.where(keep[:, None], p1, p_fast)
        return {"tau": tau, "share_first": float(keep.mean()),
                **_split_metrics(fast, exact.policy, exact.lexicon, xs, proba)}

    val = probas(splits.val)
    base_val = {"share_first": 0.0, **_split_metrics(exact.model, exact.policy, exact.lexicon, splits.val, val[2])}
    grid = [row(splits.val, val[0], val[1], tau) for tau in (*TAU_GRID, 1.0)]
    ok = [r for r in grid if all(r[k] >= base_val[k] - max_drop for k in ("macro_f1_model", "macro_f1_combined"))]
    if not ok and tau is None:
        raise ValueError(f"no tau keeps validation macro-F1 within {max_drop} of the exact path, not even "
                         f"tau=1 (int8 alone: {grid[-1]}); export with --per-channel or keep --exact")
    chosen = min(ok, key=lambda r: (-r["share_first"], r["tau"])) if tau is None else row(
        splits.val, val[0], val[1], tau)
    tau = float(chosen["tau"])
    idx = {id(x): i for i, x in enumerate(splits.test)}
    t1, t_fast, t_exact = probas(splits.test)
    def three_paths(xs: Sequence[Any], p1: FloatArray, p_fast: FloatArray, p_exact: FloatArray) -> dict[str, Any]:
        return {"exact": {"share_first": 0.0, **_split_metrics(exact.model, exact.policy, exact.lexicon, xs, p_exact)},
                "int8": row(xs, p1, p_fast, 1.0), "fast": row(xs, p1, p_fast, tau)}

    test: dict[str, Any] = {}
    for name, xs in (("test", splits.test), ("test_authored", authored)):
        sel = np.array([idx[id(x)] for x in xs], dtype=int)
        test[name] = three_paths(xs, t1[sel], t_fast[sel], t_exact[sel])
    for name, xs in eval_sets(recorded).items():  # evaluation only: reported, never used to choose
        test[f"eval:{name}"] = three_paths(xs, *probas(xs))
    result = {"first": first, "first_version": first_model.version, "second_version": fast.version,
              "tau": tau, "max_drop": max_drop, "tau_why": tau_why, "val": {"exact": base_val, "fast": chosen},
              "grid_val": grid, **test}
    log(f"  tau {tau} ({tau_why or 'chosen on validation'}): {chosen['share_first']:.1%} of validation notes settled by {first}; "
        f"macro-F1 model {chosen['macro_f1_model']:.4f} (exact {base_val['macro_f1_model']:.4f}), combined "
        f"{chosen['macro_f1_combined']:.4f} (exact {base_val['macro_f1_combined']:.4f})")
    for name in ("test_authored", "test", *(k for k in test if k.startswith("eval:"))):
        log(f"  {name}: " + "; ".join(
            f"{path} macro-F1 combined {r['macro_f1_combined']:.4f} model {r['macro_f1_model']:.4f} "
            f"ad-F1 {r['ad_f1_combined']:.4f} (first settles {r['share_first']:.1%})"
            for path, r in test[name].items()))
    return result


def write_cascade(model_dir: Path, result: dict[str, Any]) -> None:
    """Store the tuned cascade (first model, its version, tau) in ``model_dir``'s ``notecheck.json``,
    other keys kept; the tuning report belongs in ``--json``, not in the model folder."""
    cfg_path = Path(model_dir) / MODEL_FILE
    cfg = json.loads(cfg_path.read_text("utf-8"))
    cfg[CONFIG_KEY] = {"first": result["first"], "first_version": result["first_version"],
                       "tau": result["tau"]}
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n", "utf-8")
    card = Path(model_dir) / "MODEL_CARD.md"
    if card.is_file():
        card.write_text(card_with_fast_path(card.read_text("utf-8"), result), "utf-8")


FAST_SECTION = "## Default fast path"


def card_with_fast_path(card: str, result: dict[str, Any]) -> str:
    """``card`` (a MODEL_CARD.md) with its fast-path section replaced by one for ``result`` (a
    :func:`tune_cascade` result), placed before "## Known limits" (or at the end)."""
    if FAST_SECTION in card:  # drop the old section, up to the next one
        head, _, rest = card.partition(FAST_SECTION)
        nxt = rest.find("\n## ")
        card = head.rstrip("\n") + "\n\n" + (rest[nxt + 1:] if nxt >= 0 else "")
    rows = [("| split / path | share settled by first | macro-F1 combined | undisclosed_ad F1 combined "
            "| macro-F1 model |"), "|---|---|---|---|---|"]
    for split in ("val", "test_authored", "test", *(k for k in result if k.startswith("eval:"))):
        for path in ("exact", "int8", "fast"):
            r = result.get(split, {}).get(path)
            if r is not None:
                rows.append(f"| {split} / {path} | {r['share_first']:.1%} | {r['macro_f1_combined']:.4f} | "
                            f"{r['ad_f1_combined']:.4f} | {r['macro_f1_model']:.4f} |")
    section = "\n".join([
        FAST_SECTION,
        (f"`notecheck` scores with the encoder's ONNX int8 graph behind a cascade: `{result['first']}` "
        f"({result['first_version']}) settles a note when its top probability reaches tau = "
        f"{result['tau']:g}; the rest go to the whole model. "
        + (f"tau was set by hand: {result['tau_why']}. " if result.get("tau_why") else
           f"tau was chosen on the validation split only (the lowest tau keeping validation macro-F1 "
           f"within {result['max_drop']:g} of the exact path). ")
        + "The test rows are reported, never used. `--exact` runs the full model (torch fp32, "
        "no cascade), whose figures are the Evaluation table above."), "", *rows, "", ""])
    marker = "## Known limits"
    if marker in card:
        head, _, tail = card.partition(marker)
        return head + section + marker + tail
    return card.rstrip("\n") + "\n\n" + section


# -- command line -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="an encoder or ensemble model folder")
    p.add_argument("--check", type=int, default=500, help="notes compared int8 vs torch (0: none)")
    p.add_argument("--data", type=Path, nargs="+", help="labelled files for the check and the cascade "
                   "(default: the model's recorded data files, else training/data/seed_*.jsonl)")
    p.add_argument("--no-fuse", dest="fuse", action="store_false", help="skip ORT's transformer fusions")
    p.add_argument("--no-int8", dest="int8", action="store_false", help="fp32 graph only")
    p.add_argument("--per-tensor", dest="per_channel", action="store_false",
                   help="one int8 weight scale per tensor (default: one per output channel)")
    p.add_argument("--reduce-range", action="store_true", help="7-bit weights (CPUs without VNNI that saturate)")
    p.add_argument("--force", action="store_true", help="rebuild even if the graphs are up to date")
    p.add_argument("--skip-export", action="store_true", help="only tune the cascade")
    p.add_argument("--cascade", metavar="FIRST", help="tune the fast path's cascade with this first model: "
                   "an ensemble member name (e.g. lexical) or a folder relative to MODEL_DIR; splits as "
                   "recorded in MODEL_DIR/meta.json")
    p.add_argument("--max-drop", type=float, default=0.005, help="macro-F1 the cascade may lose (0.005 = 0.5 pt)")
    p.add_argument("--tau", type=float, help="use this tau instead of choosing it on validation")
    p.add_argument("--tau-why", default="", help="with --tau: where it was chosen (written into the card)")
    p.add_argument("--write", action="store_true", help="write the tuned cascade into notecheck.json")
    p.add_argument("--json", type=Path, help="also write the export/cascade report here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    report: dict[str, Any] = {}
    try:
        files = list(args.data or recorded_data(args.model))
        if not args.skip_export:
            opts = ExportOptions(fuse=args.fuse, int8=args.int8, per_channel=args.per_channel,
                                 reduce_range=args.reduce_range, check=args.check, force=args.force)
            texts = sample_texts(files, max(args.check, 64)) if files else []
            report["export"] = export_model(args.model, opts, texts)
        if args.cascade is not None:
            report["cascade"] = tune_cascade(args.model, args.cascade, max_drop=args.max_drop, tau=args.tau,
                                             tau_why=args.tau_why)
            if args.write:
                write_cascade(args.model, report["cascade"])
                print(f"  wrote '{CONFIG_KEY}' into {args.model / MODEL_FILE}")
    except (NotecheckError, ValueError) as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
