"""Fine-tuning the encoder on CPU: progress bar, checkpoints, ``--resume``, fixed seed, early stopping.

The base is a transformers folder (default: multilingual-e5-small rebuilt offline at set-up by
``training.base_e5``), optionally compacted first (``--layers N``: the first N layers and the
vocabulary pieces the training texts use, see ``training.compact``). The loop evaluates macro-F1 on
the validation split after every epoch (and every ``eval_every`` steps), keeps the best weights, and
stops after ``patience`` evaluations without gain. A checkpoint (weights, optimiser, scheduler, step,
RNG state) is written to ``OUT/checkpoint`` at each evaluation; ``resume=True`` continues from it.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.encoder import EncoderModel, pad_batch, write_encoder_config
from classifier.errors import ModelError
from classifier.types import LABELS
from training.data import Splits
from training.tuning import texts_of

Log = Callable[[str], None]


def resolve_base(args: Any, splits: Splits, log: Log) -> Path:
    """The folder to start from: ``--base`` (local folder or hub id), else the converted e5,
    compacted to ``--layers`` with the training texts' vocabulary when asked."""
    if args.base and Path(args.base).is_dir():
        base = Path(args.base)
    elif args.base:
        from transformers import AutoModel, AutoTokenizer

        local = Path(".cache") / "hub" / args.base.replace("/", "--")
        if not local.is_dir():
            log(f"fetching {args.base} from the hub (needs network) into {local}")
            AutoTokenizer.from_pretrained(args.base).save_pretrained(local)
            AutoModel.from_pretrained(args.base).save_pretrained(local)
        base = local
    else:
        from training.base_e5 import convert, default_base_dir

        base = default_base_dir()
        if not (base / "config.json").is_file():
            log(f"converting the offline base into {base}")
            convert(base)
    if args.layers:
        from training.compact import compact

        out = Path(args.out) / "compact-base"
        if not (out / "config.json").is_file():
            log(f"compacting {base} to {args.layers} layers and the training vocabulary")
            compact(base, out, texts_of(splits.train), keep_layers=args.layers)
        base = out
    return base


def _set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths (sort inside random pools of 50 batches)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _macro_f1(model: EncoderModel, texts: list[str], labels: list[str]) -> float:
    from training.evaluate import Scored, metrics

    proba = model.predict_proba_texts(texts)
    preds = [LABELS[i] for i in proba.argmax(axis=1)]
    return float(metrics(Scored(labels, preds, proba))["macro_f1"])


def fit_encoder(args: Any, splits: Splits, log: Log = print) -> EncoderModel:
    import torch
    from tqdm import tqdm
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    torch.set_num_threads(max(1, torch.get_num_threads()))
    _set_seed(args.seed)
    base = resolve_base(args, splits, log)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={lab: i for i, lab in enumerate(LABELS)},
    )
    config = {"name": args.name, "version": args.version, "max_length": args.max_length,
              "head_fraction": 0.7, "temperature": 1.0, "base": str(args.base or "multilingual-e5-small"),
              "layers": args.layers}
    enc = EncoderModel(model, tokenizer, config, batch_size=32)

    train = list(splits.train)
    if args.max_train and len(train) > args.max_train:
        train = random.Random(args.seed).sample(train, args.max_train)
    texts = texts_of(train)
    y = torch.tensor([LABELS.index(x.text_label) for x in train])
    ids = enc.encode(texts)
    counts = np.bincount(y.numpy(), minlength=len(LABELS)).astype(float)
    weights = torch.tensor(counts.sum() / (len(LABELS) * np.maximum(counts, 1.0)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    val_texts, val_labels = texts_of(splits.val), [x.text_label for x in splits.val]

    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total_steps = max(1, int(steps_per_epoch * args.epochs))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]
        optimizer, int(0.06 * total_steps), total_steps
    )
    ckpt = Path(args.out) / "checkpoint"
    state: dict[str, Any] = {"step": 0, "best_f1": -1.0, "bad_evals": 0, "history": []}
    if args.resume and (ckpt / "state.json").is_file():
        state = json.loads((ckpt / "state.json").read_text("utf-8"))
        blob = load_train_state(ckpt / "train_state.pt")
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        log(f"resumed at step {state['step']} (best val macro-F1 {state['best_f1']:.4f})")
    best_path = Path(args.out) / "checkpoint" / "best.pt"

    rng = random.Random(args.seed)
    pad = tokenizer.pad_token_id
    eval_every = getattr(args, "eval_every", None) or steps_per_epoch
    step = 0
    started = time.perf_counter()
    bar = tqdm(total=total_steps, initial=state["step"], unit="step", desc="fine-tuning", dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30.0)  # logs get a line every 30 s
    stop = False
    epoch = 0
    while step < total_steps and not stop:
        for batch in _batches([len(i) for i in ids], args.batch_size, rng):
            if step >= total_steps:
                break
            step += 1
            if step <= state["step"]:
                continue  # replaying the RNG to the resumed step
            model.train()
            input_ids, mask = pad_batch([ids[i] for i in batch], pad)
            logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = loss_fn(logits, y[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch)
            if step % eval_every == 0 or step == total_steps:
                model.eval()
                f1 = _macro_f1(enc, val_texts, val_labels) if val_texts else 0.0
                state["history"].append({"step": step, "val_macro_f1": f1,
                                         "elapsed_s": round(time.perf_counter() - started, 1)})
                if f1 > state["best_f1"]:
                    state["best_f1"], state["bad_evals"] = f1, 0
                    best_path.parent.mkdir(parents=True, exist_ok=True)
                    torch.save(model.state_dict(), best_path)
                else:
                    state["bad_evals"] += 1
                state["step"] = step
                _save_checkpoint(ckpt, model, optimizer, scheduler, state)
                log(f"step {step}/{total_steps}: val macro-F1 {f1:.4f} (best {state['best_f1']:.4f})")
                if state["bad_evals"] >= args.patience:
                    log("early stopping")
                    stop = True
                    break
        epoch += 1
    bar.close()
    if best_path.is_file():
        model.load_state_dict(torch.load(best_path, weights_only=True))
    model.eval()
    enc.config["train_history"] = state["history"]
    return enc


def load_train_state(path: Path) -> dict[str, Any]:
    """The training state written by :func:`_save_checkpoint` (model, optimiser and scheduler
    state dicts), loaded with ``weights_only=True``: tensors and plain values only, never an
    arbitrary pickled object, so a tampered checkpoint cannot run code."""
    import pickle

    import torch

    try:
        blob = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as e:
        raise ModelError(f"{path} holds more than tensors and plain values, so it is not loaded "
                         f"({str(e).splitlines()[0]}); delete the checkpoint folder and train "
                         f"without --resume") from e
    if not isinstance(blob, dict) or not {"model", "optimizer", "scheduler"} <= blob.keys():
        raise ModelError(f"{path} is not a notecheck training checkpoint (expected model, "
                         f"optimizer and scheduler states); delete it and train without --resume")
    return blob


def _save_checkpoint(ckpt: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> None:
    import torch

    ckpt.mkdir(parents=True, exist_ok=True)
    tmp = ckpt / "train_state.pt.tmp"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, tmp)
    tmp.replace(ckpt / "train_state.pt")
    (ckpt / "state.json").write_text(json.dumps(state), "utf-8")


def save_encoder(enc: EncoderModel, out: Path, args: Any) -> None:
    """Write the fine-tuned encoder as a notecheck model folder (fp16 safetensors to stay small)
    and remove the training checkpoint and compacted base."""
    out = Path(out)
    model = enc.model
    model.half().save_pretrained(out, safe_serialization=True)
    model.float()
    enc.tokenizer.save_pretrained(out)
    history = enc.config.pop("train_history", [])
    write_encoder_config(out, **{**enc.config, "temperature": enc.temperature_})
    (out / "train_history.json").write_text(json.dumps(history, indent=2), "utf-8")
    for leftover in ("checkpoint", "compact-base"):
        shutil.rmtree(out / leftover, ignore_errors=True)
