"""Style shortcuts in the authored data: how far a note's form alone tells its label.

Two deliberately blind models are trained on the authored notes of the training writers (every
writer but the held-out ones; no proxies) and scored on the held-out writers and on the real notes:

- **style**: character 1-3-grams of the note with every CJK character, letter and digit removed
  (punctuation, emoji, emoji codes' brackets, whitespace, markup) plus its log length;
- **length**: the log length alone.

High figures on the held-out writers mean the authored labels differ in form, so a model trained on
them can learn form instead of content; low figures on the real notes mean that form does not carry
to a real feed. ``length_auc`` is the chance that an undisclosed ad is longer than a genuine note
(0.5: no difference; below 0.5: ads are shorter). Results are kept per data set, so that a data change
can be compared with the data before it::

    python -m training.shortcuts --key w1-w19 --eval-data ../shared/data/real_notes/dev.jsonl \\
        --out training/results/shortcuts.json
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier.types import LABELS
from training.data import Example, load_labelled
from training.lowo import SEED_GLOB, seed_files

CONTENT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def form_of(x: Example) -> str:
    """The note with its content removed: what is left is its form."""
    return CONTENT.sub("", f"{x.note.title}\n{x.note.text}")


def length_of(x: Example) -> int:
    return len(x.note.title) + len(x.note.text)


def _features(examples: Sequence[Example], vectorizer: Any, *, style: bool, fit: bool = False) -> Any:
    import numpy as np
    from scipy import sparse

    lengths = sparse.csr_matrix(np.array([[math.log1p(length_of(x))] for x in examples]))
    if not style:
        return lengths
    forms = [form_of(x) for x in examples]
    grams = vectorizer.fit_transform(forms) if fit else vectorizer.transform(forms)
    return sparse.hstack([grams, lengths]).tocsr()


def _scores(truth: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    return {"macro_f1": round(float(f1_score(truth, pred, labels=list(LABELS), average="macro",
                                             zero_division=0.0)), 4),
            "undisclosed_ad_f1": round(float(f1_score(truth, pred, labels=["undisclosed_ad"],
                                                      average="macro", zero_division=0.0)), 4)}


def length_auc(examples: Sequence[Example]) -> float | None:
    """P(an undisclosed ad is longer than a genuine note), ties counting half."""
    from sklearn.metrics import roc_auc_score

    pairs = [(x.label == "undisclosed_ad", length_of(x)) for x in examples
             if x.label in ("undisclosed_ad", "sharing")]
    if len({is_ad for is_ad, _ in pairs}) < 2:
        return None
    return round(float(roc_auc_score([a for a, _ in pairs], [n for _, n in pairs])), 4)


def median_chars(examples: Sequence[Example]) -> dict[str, int]:
    out = {}
    for label in LABELS:
        lengths = sorted(length_of(x) for x in examples if x.label == label)
        if lengths:
            out[label] = lengths[len(lengths) // 2]
    return out


def measure(files: Sequence[Path], test_writers: Sequence[str],
            eval_sets: dict[str, Path]) -> dict[str, Any]:
    """Train both blind models on the training writers and score them on every evaluation set."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    examples = [x for f in files for x in load_labelled(f)]
    train = [x for x in examples if x.writer not in test_writers]
    sets = {"held_out_writers": [x for x in examples if x.writer in test_writers]}
    sets |= {name: load_labelled(path) for name, path in eval_sets.items()}
    if not train or not sets["held_out_writers"]:
        raise ValueError(f"need notes of the training writers and of the held-out writers {list(test_writers)}")
    out: dict[str, Any] = {"data": [str(f) for f in files], "test_writers": list(test_writers),
                           "train_n": len(train), "models": {}}
    for kind in ("style", "length"):
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
        style = kind == "style"
        clf = LogisticRegression(max_iter=3000, class_weight="balanced", C=1.0)
        clf.fit(_features(train, vectorizer, style=style, fit=True), [x.label for x in train])
        out["models"][kind] = {
            name: {"n": len(xs), **_scores([x.label for x in xs],
                                           list(clf.predict(_features(xs, vectorizer, style=style))))}
            for name, xs in sets.items()}
    out["length"] = {name: {"length_auc": length_auc(xs), "median_chars": median_chars(xs)}
                     for name, xs in {"train": train, **sets}.items()}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.shortcuts", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, nargs="+", help=f"authored files (default: training/data/{SEED_GLOB})")
    p.add_argument("--test-writers", nargs="+", default=["w5", "w7"], help="held-out writers (default: w5 w7)")
    p.add_argument("--eval-data", type=Path, nargs="*", default=[],
                   help="labelled files scored too, e.g. ../shared/data/real_notes/dev.jsonl")
    p.add_argument("--key", required=True, help="name of this data set in the result file, e.g. w1-w19")
    p.add_argument("--out", type=Path, required=True, help="result JSON, e.g. training/results/shortcuts.json")
    args = p.parse_args(argv)
    files = seed_files(args.data)
    if not files:
        print("shortcuts: error: no authored files (give --data)", file=sys.stderr)
        return 2
    missing = [f for f in [*files, *args.eval_data] if not f.is_file()]
    if missing:
        print(f"shortcuts: error: no such file: {missing[0]}", file=sys.stderr)
        return 2
    try:
        result = measure(files, args.test_writers, {f"eval:{f.stem}": f for f in args.eval_data})
    except ValueError as exc:
        print(f"shortcuts: error: {exc}", file=sys.stderr)
        return 2
    kept = json.loads(args.out.read_text("utf-8")) if args.out.is_file() else {}
    kept[args.key] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(kept, ensure_ascii=False, indent=2) + "\n", "utf-8")
    for kind, sets in result["models"].items():
        print(kind, {name: s["macro_f1"] for name, s in sets.items()})
    print("length_auc", {name: s["length_auc"] for name, s in result["length"].items()}, "->", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
