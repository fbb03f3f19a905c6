"""Leave-one-writer-out: how much the authored figures depend on which writer is held out.

For every writer of the authored seed files, train on all the others (plus the proxies, as the
shipped recipe does), and evaluate the combined pipeline on the held-out writer's notes. One
held-out writer is too few: writers differ by several points of macro-F1.

Only the lexical model is retrained per fold (seconds each); fine-tuning the encoder eleven times
does not fit on two CPU cores, so the figures measure the rules + lexical pipeline, the fast path's
first stage, not the shipped ensemble. The result file is what the model card and the README quote::

    python -m training.lowo --proxies ../shared/data/corpora --out training/results/lowo.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.data import load_labelled
from training.evaluate import genuine_flagged
from training.trainer import TrainArgs, train

SEED_GLOB = "seed_w*.jsonl"


def seed_files(given: Sequence[Path] | None) -> list[Path]:
    """The files given, or every ``training/data/seed_w*.jsonl`` in writer order (w2 before w10)."""
    return list(given or sorted(Path("training/data").glob(SEED_GLOB), key=lambda f: (len(f.name), f.name)))


def writers_of(files: Sequence[Path]) -> list[str]:
    found = {x.writer for f in files for x in load_labelled(f) if x.writer}
    return sorted(found, key=lambda w: (len(w), w))


def leave_one_writer_out(files: Sequence[Path], proxies: Path | None, *, log: Any = print) -> dict[str, Any]:
    folds: dict[str, Any] = {}
    for writer in writers_of(files):
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainArgs(data=list(files), out=Path(tmp) / "m", kind="lexical", proxies=proxies,
                             test_writers=[writer], name=f"lowo-{writer}", version="lowo")
            train(args, log=lambda _msg: None)
            report = json.loads((args.out / "metrics.json").read_text("utf-8"))
        m = report["test_authored"]["combined"]
        pc = m["per_class"]
        folds[writer] = {"n": m["n"], "macro_f1": round(m["macro_f1"], 4),
                         "undisclosed_ad_f1": round(pc["undisclosed_ad"]["f1"], 4),
                         "declared_f1": round(pc["declared"]["f1"], 4),
                         "sharing_f1": round(pc["sharing"]["f1"], 4),
                         "genuine_flagged_ad": round(genuine_flagged(m), 4)}
        log(f"{writer}: n={m['n']} macro-F1 {m['macro_f1']:.3f} ad-F1 {pc['undisclosed_ad']['f1']:.3f}")
    values = [f["macro_f1"] for f in folds.values()]
    return {"model": "lexical (TF-IDF + LR) + rules, retrained per fold",
            "data": [str(f) for f in files], "proxies": str(proxies) if proxies else None,
            "folds": folds,
            "macro_f1_mean": round(sum(values) / len(values), 4) if values else None,
            "macro_f1_min": min(values, default=None), "macro_f1_max": max(values, default=None)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.lowo", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, nargs="+",
                   help=f"authored files (default: training/data/{SEED_GLOB})")
    p.add_argument("--proxies", type=Path, help="proxy corpora folder (e.g. ../shared/data/corpora)")
    p.add_argument("--out", type=Path, required=True, help="result JSON, e.g. training/results/lowo.json")
    args = p.parse_args(argv)
    files = seed_files(args.data)
    if not files:
        print("lowo: error: no authored files (give --data)", file=sys.stderr)
        return 2
    result = leave_one_writer_out(files, args.proxies)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"mean macro-F1 {result['macro_f1_mean']} (min {result['macro_f1_min']}, max {result['macro_f1_max']})"
          f" -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
