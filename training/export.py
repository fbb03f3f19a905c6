"""Export encoder folders to ONNX (fp32 + dynamic int8) and tune the lexical -> encoder cascade.

    python -m training.export MODEL_DIR                      # export every encoder in MODEL_DIR
    python -m training.export MODEL_DIR --check 500          # ... and compare int8 with torch on 500 notes
    python -m training.export MODEL_DIR --skip-export --cascade lexical --write   # tune the cascade

``MODEL_DIR`` is an encoder folder or an ensemble folder (each encoder member is exported). For each
encoder this writes ``model.onnx`` (fp32, transformer ops fused for ONNX Runtime), ``model.int8.onnx``
(the attention blocks' weights quantised to int8, activations quantised dynamically; the feed-forward
layers stay fp32 unless ``--int8-scope all``) and ``onnx.json`` (the weights' sha256,
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
import dataclasses
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
from training.card import FAST_SECTION

FloatArray = npt.NDArray[np.float64]
OPSET = 17
FUSED_TOLERANCE = 1e-3  # max |logit| change a graph fusion may cause
TAU_GRID = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)
REPO = Path(__file__).resolve().parent.parent
INT8_SCOPES = ("attention", "all")


@dataclass(frozen=True)
class ExportOptions:
    """How to export: ``fuse`` the transformer ops, quantise ``per_channel`` (one weight scale per
    output column: on the shipped encoder 2.4x smaller probability error than one per tensor, at
    the same speed) / with ``reduce_range`` (7-bit weights, for CPUs whose int8 dot products
    saturate), ``check`` notes against torch.

    ``int8_scope`` says which weights become int8: ``"attention"`` (the default) quantises the
    attention blocks and keeps the feed-forward layers (the matrices with the intermediate size) in
    fp32; ``"all"`` quantises every MatMul. On the shipped encoder, against torch fp32 on its
    validation split, ``"all"`` changed labels where ``"attention"`` changed none; ``"attention"`` is
    slower (the feed-forward layers hold two thirds of the multiply-adds), so compare both in one
    bench run before choosing (``onnx.json`` keeps the check of every export, the card shows it)."""

    fuse: bool = True
    int8: bool = True
    per_channel: bool = True
    reduce_range: bool = False
    int8_scope: str = "attention"
    check: int = 500
    check_texts: str = "given texts"  # where the check's texts come from, for onnx.json and the card
    force: bool = False

    def __post_init__(self) -> None:
        if self.check < 0:
            raise ValueError(f"check must be >= 0 notes, got {self.check}")
        if self.int8_scope not in INT8_SCOPES:
            raise ValueError(f"int8_scope must be one of {list(INT8_SCOPES)}, got {self.int8_scope!r}")


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


def feed_forward_nodes(graph: Path, intermediate_size: int) -> list[str]:
    """The MatMul nodes of ``graph`` whose weight matrix has the intermediate (feed-forward) size
    on one side: the two dense layers of every transformer block's feed-forward part."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul"
            and any(intermediate_size in shapes.get(i, ()) for i in n.input)]


def quantize(src: Path, dst: Path, opts: ExportOptions, *, intermediate_size: int | None = None) -> list[str]:
    """Quantise ``src`` into ``dst``; returns the nodes kept in fp32 (none for ``int8_scope="all"``)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep: list[str] = []
    if opts.int8_scope == "attention":
        if not intermediate_size:
            raise ModelError(f"{src}: int8 scope 'attention' needs the encoder's intermediate_size")
        keep = feed_forward_nodes(src, intermediate_size)
        if not keep:
            raise ModelError(f"{src}: no feed-forward MatMul of size {intermediate_size} found; "
                             "export with --int8-scope all")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT advises "pre-processing" on every call; not needed here
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=opts.per_channel,
                         reduce_range=opts.reduce_range, nodes_to_exclude=keep,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    return keep


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
    recorded = (meta.get("int8") or {}) if isinstance(meta, dict) else {}
    same_int8 = not opts.int8 or ((path / ONNX_INT8).is_file() and recorded.get("per_channel") == opts.per_channel
                                  and recorded.get("scope", "all") == opts.int8_scope)
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
    kept_fp32: list[str] = []
    if opts.int8:
        hf = json.loads((path / "config.json").read_text("utf-8"))
        kept_fp32 = quantize(path / ONNX_FP32, path / ONNX_INT8, opts,
                             intermediate_size=int(hf.get("intermediate_size") or 0))
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
                 "reduce_range": opts.reduce_range, "scope": opts.int8_scope,
                 "fp32_nodes": len(kept_fp32)} if opts.int8 else None,
        "tokenizer": tokenizer,
        "fp32_max_logit_diff": drift32,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        "export_seconds": round(time.perf_counter() - started, 1),
    }
    if opts.int8 and opts.check:
        meta["check"] = {**check_int8(path, torch_model, texts[: opts.check] if texts else probe),
                         "texts": opts.check_texts if texts else "built-in probe"}
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


def validation_texts(model_dir: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` model texts drawn at random (fixed seed) from the validation split recorded in the
    model's ``meta.json`` (notes it was not trained on); empty when there is no usable record."""
    from training.trainer import assemble, recorded_args

    try:
        val = assemble(recorded_args(model_dir)).val
    except (OSError, ValueError, KeyError, TypeError, NotecheckError):
        return []
    return _draw([model_text(x.note) for x in val], n, seed)


def sample_texts(files: Sequence[Path], n: int, seed: int = 0) -> list[str]:
    """``n`` model texts drawn at random (fixed seed) from labelled files."""
    from training.data import load_labelled

    return _draw([model_text(x.note) for f in files for x in load_labelled(f)], n, seed)


def _draw(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` of ``texts`` in a random order fixed by ``seed``."""
    idx = np.random.default_rng(seed).permutation(len(texts))[:n]
    return [texts[i] for i in idx]


# -- cascade tuning -----------------------------------------------------------------------------------

def _split_metrics(model: Any, policy: Any, lexicon: Any, xs: Sequence[Any], proba: FloatArray) -> dict[str, float]:
    from training.tuning import evaluate_three_ways

    three = evaluate_three_ways(model, policy, lexicon, list(xs), proba=proba)
    return {"macro_f1_model": float(three["model"]["macro_f1"]),
            "macro_f1_combined": float(three["combined"]["macro_f1"]),
            "ad_f1_combined": float(three["combined"]["per_class"]["undisclosed_ad"]["f1"])}


def choose_tau(grid: Sequence[dict[str, float]], exact: dict[str, float], max_drop: float, *,
               also: tuple[Sequence[dict[str, float]], dict[str, float], float] | None = None) -> float:
    """The lowest-cost ``tau`` of ``grid`` (rows of :func:`tune_cascade` on validation, one per tau):
    the one settling the most notes with the first model whose macro-F1 (model alone and combined)
    stays within ``max_drop`` of ``exact``. ``also = (rows, exact, drop)``: rows of another set for
    the same taus, in the same order, whose combined macro-F1 must also stay within ``drop``."""
    keys = ("macro_f1_model", "macro_f1_combined")
    ok = [i for i, r in enumerate(grid) if all(r[k] >= exact[k] - max_drop for k in keys)]
    if not ok:
        raise ValueError(f"no tau keeps validation macro-F1 within {max_drop} of the exact path, not even "
                         f"tau=1 (int8 alone: {grid[-1] if grid else None}); export with --per-channel "
                         "or keep --exact")
    if also is not None:
        rows, ref, drop = also
        if len(rows) != len(grid) or any(a["tau"] != b["tau"] for a, b in zip(rows, grid, strict=True)):
            raise ValueError("choose_tau: the second set's rows must follow the validation grid's taus")
        ok = [i for i in ok if rows[i]["macro_f1_combined"] >= ref["macro_f1_combined"] - drop]
        if not ok:
            raise ValueError(f"no tau keeps macro-F1 within {max_drop} of the exact path on validation "
                             f"and within {drop} on the other set")
    best = min(ok, key=lambda i: (-grid[i]["share_first"], grid[i]["tau"]))
    return float(grid[best]["tau"])


def tune_cascade(model_dir: Path, first: str, *, max_drop: float = 0.005, tau: float | None = None,
                 tau_why: str = "", choose_on: str | None = None, eval_max_drop: float = 0.01,
                 log: Any = print) -> dict[str, Any]:
    """Tune the cascade of the fast path on the validation split the model was trained with.

    The reference is the exact path (torch fp32, no cascade); the candidate is the fast path (every
    encoder on its int8 graph) behind ``first`` (an ensemble member name, or a model folder relative
    to ``model_dir``). The chosen ``tau`` is the lowest (most notes settled by ``first``) whose
    validation macro-F1, of the model alone and of the combined pipeline (model + rules), stays
    within ``max_drop`` of the exact path. The test split is only reported, never used to choose.
    A given ``tau`` is used as it is (``tau_why`` says where it was chosen, for the card).

    ``choose_on`` names one of the model's evaluation sets (``--eval-data``, e.g. ``dev``): the
    chosen ``tau`` must then also keep that set's combined macro-F1 within ``eval_max_drop`` of the
    exact path. The validation split is authored like the training notes, so the first (lexical)
    model is rarely wrong there and validation alone lets it settle notes it is wrong about on a
    real feed. The card then says the set was used to choose, and what validation alone would
    have chosen and cost there.
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
    val_choice = choose_tau(grid, base_val, max_drop) if tau is None else None
    sets = eval_sets(recorded)
    chooser: dict[str, Any] = {}
    if choose_on is not None and tau is None:
        if choose_on not in sets:
            raise ValueError(f"--choose-on {choose_on!r}: the model's evaluation sets are {sorted(sets)}")
        xs = sets[choose_on]
        e1, e_fast, e_exact = probas(xs)
        base_eval = _split_metrics(exact.model, exact.policy, exact.lexicon, xs, e_exact)
        eval_grid = [row(xs, e1, e_fast, r["tau"]) for r in grid]
        chosen_tau = choose_tau(grid, base_val, max_drop, also=(eval_grid, base_eval, eval_max_drop))
        chooser = {"set": choose_on, "eval_max_drop": eval_max_drop, "exact": base_eval, "grid": eval_grid,
                   "validation_choice": next(r for r in eval_grid if r["tau"] == val_choice)}
    else:
        chosen_tau = float(tau) if tau is not None else choose_tau(grid, base_val, max_drop)
    chosen = next((r for r in grid if r["tau"] == chosen_tau), None) or row(splits.val, val[0], val[1], chosen_tau)
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
    for name, xs in sets.items():  # evaluation only (unless it is --choose-on): reported
        test[f"eval:{name}"] = three_paths(xs, *probas(xs))
    graphs = {str(f.relative_to(model_dir)): {k: (read_onnx_meta(f) or {}).get(k) for k in ("int8", "check")}
              for f in encoder_folders(model_dir)}
    result = {"first": first, "first_version": first_model.version, "second_version": fast.version,
              "graphs": graphs,
              "tau": tau, "max_drop": max_drop, "tau_why": tau_why, "validation_choice": val_choice,
              "chosen_on": chooser or None, "val": {"exact": base_val, "fast": chosen},
              "grid_val": grid, **test}
    how = tau_why or (f"chosen on validation and {choose_on}" if chooser else "chosen on validation")
    log(f"  tau {tau} ({how}): {chosen['share_first']:.1%} of validation notes settled by {first}; "
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
    if result.get("chosen_on"):  # the card says where tau was chosen
        cfg[CONFIG_KEY]["chosen_on"] = result["chosen_on"]["set"]
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n", "utf-8")
    card = Path(model_dir) / "MODEL_CARD.md"
    if card.is_file():
        card.write_text(card_with_fast_path(card.read_text("utf-8"), result), "utf-8")




def _chosen_on_text(result: dict[str, Any]) -> str:
    c = result["chosen_on"]
    alone = c.get("validation_choice")
    cost = (f" Validation alone would choose tau = {alone['tau']:g}, which settles {alone['share_first']:.1%} "
            f"of `{c['set']}` with the first model and scores macro-F1 {alone['macro_f1_combined']:.4f} there "
            f"against {c['exact']['macro_f1_combined']:.4f} for the exact path." if alone else "")
    return (f"tau was chosen on the validation split **and on the evaluation set `{c['set']}`** (so the "
            f"`eval:{c['set']}` / fast row below is not a held-out figure): the lowest tau keeping macro-F1 "
            f"within {result['max_drop']:g} of the exact path on validation and within "
            f"{c['eval_max_drop']:g} on `{c['set']}`.{cost} ")


def graph_lines(graphs: dict[str, Any]) -> list[str]:
    """One line per encoder of the card's fast-path section: what its int8 graph quantises and how
    far it moved from torch fp32 in the export's check (``onnx.json``)."""
    lines = []
    for folder, g in sorted(graphs.items()):
        q, c = g.get("int8") or {}, g.get("check") or {}
        if not q:
            continue
        scope = ("the attention blocks (the feed-forward layers stay fp32)" if q.get("scope") == "attention"
                 else "every MatMul")
        check = (f"; against torch fp32 on {c['n']} notes ({c.get('texts', 'sampled from the data files')}): "
                 f"label agreement {c['label_agreement']:.4f}, max |probability change| "
                 f"{c['max_abs_prob_diff']:.4f}, mean {c['mean_abs_prob_diff']:.5f}" if c.get("n") else "")
        lines.append(f"- `{folder}`: int8 graph quantises {scope}, per "
                     f"{'channel' if q.get('per_channel') else 'tensor'}{check}.")
    return [*lines, ""] if lines else []


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
           _chosen_on_text(result) if result.get("chosen_on") else
           f"tau was chosen on the validation split only (the lowest tau keeping validation macro-F1 "
           f"within {result['max_drop']:g} of the exact path). ")
        + "The test rows are reported, never used. `--exact` runs the full model (torch fp32, "
        "no cascade), whose figures are the Evaluation table above."), "", *rows, "",
        *graph_lines(result.get("graphs") or {}), ""])
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
    p.add_argument("--int8-scope", choices=INT8_SCOPES, default="attention",
                   help="which weights become int8: the attention blocks (default; feed-forward layers "
                   "stay fp32) or every MatMul")
    p.add_argument("--force", action="store_true", help="rebuild even if the graphs are up to date")
    p.add_argument("--skip-export", action="store_true", help="only tune the cascade")
    p.add_argument("--cascade", metavar="FIRST", help="tune the fast path's cascade with this first model: "
                   "an ensemble member name (e.g. lexical) or a folder relative to MODEL_DIR; splits as "
                   "recorded in MODEL_DIR/meta.json")
    p.add_argument("--max-drop", type=float, default=0.005, help="macro-F1 the cascade may lose (0.005 = 0.5 pt)")
    p.add_argument("--tau", type=float, help="use this tau instead of choosing it on validation")
    p.add_argument("--tau-why", default="", help="with --tau: where it was chosen (written into the card)")
    p.add_argument("--choose-on", metavar="SET", help="also keep the fast path within --eval-max-drop of "
                   "the exact path on this evaluation set of the model (e.g. dev); the card says so")
    p.add_argument("--eval-max-drop", type=float, default=0.01,
                   help="macro-F1 the cascade may lose on --choose-on (0.01 = 1 pt)")
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
                                 reduce_range=args.reduce_range, int8_scope=args.int8_scope,
                                 check=args.check, force=args.force)
            n = max(args.check, 64)  # without --data: validation notes, when the model records them
            texts = [] if args.data else validation_texts(args.model, n)
            opts = dataclasses.replace(opts, check_texts="the validation split" if texts
                                       else "sampled from the data files")
            texts = texts or (sample_texts(files, n) if files else [])
            report["export"] = export_model(args.model, opts, texts)
        if args.cascade is not None:
            report["cascade"] = tune_cascade(args.model, args.cascade, max_drop=args.max_drop, tau=args.tau,
                                             tau_why=args.tau_why, choose_on=args.choose_on,
                                             eval_max_drop=args.eval_max_drop)
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
