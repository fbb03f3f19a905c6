"""The README's quality and speed figures, written by code from committed result files.

The block between ``<!-- quality:begin -->`` and ``<!-- quality:end -->`` in README.md is rendered
from the shipped model's ``metrics.json`` (exact path), ``tests/data/quality_pins.json`` (default
path) and ``training/results/lowo.json``; the block between ``<!-- speed:begin -->`` and
``<!-- speed:end -->`` from the newest bench run kept in ``bench/results/``; the block between
``<!-- pictures:begin -->`` and ``<!-- pictures:end -->`` from the newest picture bench run kept in
``bench/results/pictures/`` (``python -m bench.pictures --write``). Nothing in them is typed by hand::

    python -m training.readme            # rewrite the block
    python -m training.readme --check    # exit 1 if the README is out of date (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.candidates import chosen_over
from training.quality import UNSEEN, render_mix, render_unseen, with_interval

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
SPEED = ("<!-- speed:begin -->", "<!-- speed:end -->")
PICTURES = ("<!-- pictures:begin -->", "<!-- pictures:end -->")


def _load(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def newest_run(folder: Path) -> Path | None:
    """The newest run kept in ``folder`` (a ``bench/results`` folder): the last JSON file in name
    order (the benches name their runs by UTC time); ``None`` when none is kept."""
    runs = sorted(folder.glob("*.json"))
    return runs[-1] if runs else None


def keep_run(folder: Path, result: Any) -> Path:
    """Keep a bench run: ``result`` as indented JSON in ``folder``, named by the UTC time."""
    from datetime import UTC, datetime

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{datetime.now(UTC):%Y-%m-%d-%H%M}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return path


def print_run(folder: Path, result: Any, *, keep: bool) -> Path | None:
    """A bench's result as one JSON line on stdout and, with ``keep``, kept in ``folder``
    (:func:`keep_run`), its path printed too."""
    print(json.dumps(result, ensure_ascii=False))
    if not keep:
        return None
    path = keep_run(folder, result)
    print(f"kept in {path.relative_to(ROOT)}")
    return path


def _row(name: str, m: dict[str, Any]) -> str:
    from training.evaluate import genuine_flagged

    pc = m["per_class"]
    flagged = genuine_flagged(m)
    return (f"| {name} | {m['n']} | {m['macro_f1']:.3f} | {pc['undisclosed_ad']['f1']:.3f} | "
            f"{pc['undisclosed_ad']['recall']:.3f} | {pc['declared']['f1']:.3f} | {100 * flagged:.1f}% |")


def render(root: Path = ROOT) -> str:
    model_dir = root / "models" / (root / "models" / "DEFAULT").read_text("utf-8").strip()
    metrics = _load(model_dir / "metrics.json")
    meta = _load(model_dir / "meta.json")
    pins = _load(root / "tests" / "data" / "quality_pins.json")
    lines = [
        (f"Figures of the shipped model `{meta['name']}` (version {meta['version']}), written by "
        "`python -m training.readme` from committed result files."),
        "",
        (f"Full model (`--exact`), from `{model_dir.relative_to(root)}/metrics.json`; held-out writers "
        f"({', '.join(meta['args']['test_writers'])}): no weight, calibration or threshold was fitted on "
        "them; the real notes were never trained on (the model card lists the choices made after "
        "measuring on them):"),
        "",
        "| set | n | macro-F1 | undisclosed_ad F1 | undisclosed_ad recall | declared F1 | genuine flagged ad |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = ["test_authored", *(k for k in metrics if k.startswith("test_writer:")),
            *(k for k in metrics if k.startswith("eval:"))]
    lines += [_row(k, metrics[k]["combined"]) for k in keys if k in metrics]
    if "heldout_reviews" in metrics:
        h = metrics["heldout_reviews"]
        lines += ["", (f"Held-out real hotel reviews (n={h['n']:,}) flagged `undisclosed_ad`: "
                      f"{100 * h['flagged_undisclosed_rate']:.2f}%.")]
    chosen_on = (_load(model_dir / "notecheck.json").get("cascade") or {}).get("chosen_on")
    lines += ["", (f"Default path (`notecheck score`), from `tests/data/quality_pins.json` "
                  f"(`python -m training.quality`; model {pins['model']})"
                  + (f"; its cascade threshold was chosen on `{chosen_on}` (the real dev notes: see the "
                     "model card's fast-path section), so the real_dev row of this table is not a "
                     "held-out figure" if chosen_on else "") + ". In brackets, 90% bootstrap intervals over "
                  "the set's notes (`training.quality.intervals`): how far a figure moves on another set "
                  "of that size from the same writers (writers differ more: see the per-writer table):"), "",
              "| set | n | macro-F1 | undisclosed_ad F1 | undisclosed_ad recall | genuine flagged ad |",
              "|---|---|---|---|---|---|"]
    for name, f in pins["sets"].items():
        lines.append(f"| {name} | {f['n']} | {with_interval(f, 'macro_f1')} | "
                     f"{with_interval(f, 'undisclosed_ad_f1')} | {with_interval(f, 'undisclosed_ad_recall')} | "
                     f"{100 * f['genuine_flagged_ad']:.1f}% |")
    if UNSEEN in pins["sets"]:
        lines += ["", render_unseen(pins["sets"][UNSEEN], meta, chosen=chosen_over(meta) is not None)]
    priors = _load(model_dir / "policy.json").get("priors")
    if priors and any("mix" in f for f in pins["sets"].values()):
        lines += ["", render_mix(pins["sets"], priors["deployment"])]
    lowo_path = root / "training" / "results" / "lowo.json"
    if lowo_path.is_file():
        lowo = _load(lowo_path)
        lines += ["", (f"Leave one writer out (`python -m training.lowo`, {lowo['model']}): macro-F1 mean "
                      f"{lowo['macro_f1_mean']:.3f}, min {lowo['macro_f1_min']:.3f}, max "
                      f"{lowo['macro_f1_max']:.3f} over {len(lowo['folds'])} writers "
                      "(per writer in the model card).")]
    shortcuts_path = root / "training" / "results" / "shortcuts.json"
    if shortcuts_path.is_file():
        lines += ["", render_shortcuts(_load(shortcuts_path))]
    forms_path = root / "training" / "results" / "forms.json"
    if forms_path.is_file():
        from training.forms import render as render_forms

        lines += ["", render_forms(_load(forms_path))]
    candidates_path = root / "training" / "results" / "candidates.json"
    if candidates_path.is_file():
        lines += ["", render_candidates(_load(candidates_path))]
    return "\n".join(lines)


def render_candidates(result: dict[str, Any]) -> str:
    """The retrained candidates compared before the shipped model was chosen (``training.candidates``)."""
    lines = [("Candidates compared when the shipped model was last chosen (`python -m training.candidates "
              "MODEL... --label NAME... --out training/results/candidates.json`; default path on w5 and the real dev notes, full "
              "model on its own validation split, w7 and the hotel reviews; thresholds as its policy was tuned on that "
              "validation split):"), "",
             ("| candidate | version | authored writers | held out | training notes | thresholds (ad / declared) | "
              "validation macro-F1 (exact) | real dev macro-F1 | "
              "real dev ad F1 | real dev ad recall | real dev genuine flagged | w5 macro-F1 | w5 ad F1 | w7 macro-F1 (exact) | "
              "hotel flagged |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in result.items():
        sets = r["default_path"]["sets"]
        dev, w5 = sets["real_dev"], sets["held_out_writer_w5"]
        w7 = r["exact"].get("test_writer:w7", {})
        files = ", ".join(Path(d["path"]).stem.removeprefix("seed_") for d in r["data"]
                          if Path(d["path"]).name.startswith("seed_")) or "-"
        files += "".join(f" + {a} copies" for a in r.get("augment", []))
        hotel = r["exact"].get("heldout_reviews_flagged")
        val = r["exact"].get("val")
        thresholds = r.get("thresholds")
        lines.append(f"| {label} | {r['version']} | {files} | {', '.join(r['test_writers']) or '-'} | "
                     f"{r['train_n']:,} | "
                     + (f"{thresholds['undisclosed_ad']:g} / {thresholds['declared']:g}" if thresholds else "-") + " | "
                     + (f"{val['macro_f1']:.4f}" if val else "-") + f" | {dev['macro_f1']:.3f} | "
                     f"{dev['undisclosed_ad_f1']:.3f} | {dev['undisclosed_ad_recall']:.3f} | "
                     f"{100 * dev['genuine_flagged_ad']:.1f}% | "
                     f"{w5['macro_f1']:.3f} | {w5['undisclosed_ad_f1']:.3f} | "
                     + (f"{w7['macro_f1']:.3f}" if w7 else "-") + " | "
                     + (f"{100 * hotel:.2f}%" if hotel is not None else "-") + " |")
    return "\n".join(lines)


def render_shortcuts(result: dict[str, Any]) -> str:
    """One table row per authored data set in ``training/results/shortcuts.json``."""
    lines = [("Style shortcuts (`python -m training.shortcuts --key NAME --eval-data "
              "../shared/data/real_notes/dev.jsonl --out training/results/shortcuts.json`): models that see only a note's form "
              "(punctuation, emoji, markup and length, every CJK character, letter and digit removed) or "
              "only its length, trained on the authored training writers; macro-F1 on the held-out writers "
              "and on the real dev notes, and the chance that an undisclosed ad in "
              "the training notes is longer than a genuine one:"),
             "", ("| authored data | form-only: held-out writers | form-only: real dev | length-only: "
                  "held-out writers | length-only: real dev | P(ad longer), training notes |"),
             "|---|---|---|---|---|---|"]
    for key, r in result.items():
        style, length = r["models"]["style"], r["models"]["length"]
        dev = next((k for k in style if k.startswith("eval:")), None)

        def fig(m: dict[str, Any], name: str | None) -> str:
            return f"{m[name]['macro_f1']:.3f}" if name in m else "-"

        lines.append(f"| {key} ({r['train_n']:,} training notes) | {fig(style, 'held_out_writers')} | "
                     f"{fig(style, dev)} | {fig(length, 'held_out_writers')} | {fig(length, dev)} | "
                     f"{r['length']['train']['length_auc']:.3f} |")
    return "\n".join(lines)


def render_speed(root: Path = ROOT) -> str:
    path = newest_run(root / "bench" / "results")
    if path is None:
        return "No bench run is kept yet: run `make bench` and keep its JSON line in `bench/results/`."
    b = _load(path)["bench"]
    base = next((r["notes_per_s"] for r in b["rows"] if r["mode"] == "hf"), None)
    notes = ", ".join(f"`{Path(f).name}`" for f in b.get("notes_from", ["training/data/seed_w*.jsonl"]))
    lines = [(f"One run, kept in `{path.relative_to(root)}` (written by `python -m training.readme`): "
             f"{b['n']} notes drawn from {notes} (repeated to {b['n']}), {b['latency_calls']} single-note calls "
             f"per mode, {b['cpu_count']} CPUs; fp32 matmul peak measured in the same run "
             f"{b['matmul_peak_gflops']} GFLOP/s. Compare rows of one run, never runs of different days."), "",
             "| mode | notes/s | x (a) | p50 ms | p99 ms | RSS MiB | GFLOP/s | % peak |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def f(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, int | float) else "-"

    for r in b["rows"]:
        x = r["notes_per_s"] / base if base and r["notes_per_s"] else None
        lines.append(f"| {r['label']} | {f(r['notes_per_s'], '.1f')} | {f(x, '.2f')} | {f(r['p50_ms'], '.1f')} | "
                     f"{f(r['p99_ms'], '.1f')} | {f(r['peak_rss_mb'], '.0f')} | {f(r['encoder_gflops'], '.1f')} | "
                     f"{f(100 * r['peak_share'] if r['peak_share'] else None, '.0f')} |")
    t = b["targets"]
    lines += ["", (f"Targets from the same run: `notecheck score` {f(t.get('score_notes_per_s'), '.1f')} notes/s "
                  "(target >= 100); fast-path labels agree with `--exact` on "
                  f"{f(100 * t['fast_label_agreement_with_exact'] if t.get('fast_label_agreement_with_exact') else None, '.2f')}%"
                  " of the notes.")]
    return "\n".join(lines)


def render_pictures(root: Path = ROOT) -> str:
    """The picture bench (:mod:`bench.pictures`): its newest kept run, side by side."""
    path = newest_run(root / "bench" / "results" / "pictures")
    if path is None:
        return ("No picture bench run is kept yet: run `python -m bench.pictures --write` and "
                "commit its JSON.")
    b = _load(path)
    load = max(r["loadavg_start"] for r in b["rows"])
    lines = [(f"One run of `python -m bench.pictures` ({b['date']}), kept in "
              f"`{path.relative_to(root)}` (written by `python -m training.readme`): {b['n_notes']} "
              f"notes from `{b['notes_from']}`, each with {b['pictures_per_note']} pictures of its own "
              f"({b['pictures']} in all, {b['qr_pictures']} of them QR codes, the rest text drawn in "
              f"{b['font']}), default fast path, {b['cpu_count']} CPUs shared with other work (load "
              f"average up to {load:.1f}); each mode in its own process, cold picture cache, OCR "
              "engine and model loaded and warmed before the clock starts. The rates follow the load "
              "of other work on the machine; the CPU seconds (every thread of the process) much "
              "less."), "",
             "| mode | rate | elapsed s | CPU s | peak RSS MiB |", "|---|---:|---:|---:|---:|"]
    names = {"ocr": "OCR + QR alone (PictureReader)", "with-pictures": "`score --images` (notes with pictures)",
             "text-only": "`score`, the same notes without pictures"}
    for r in b["rows"]:
        rate = (f"{r['pictures_per_s']:.2f} pictures/s" if "pictures_per_s" in r
                else f"{r['notes_per_s']:.2f} notes/s")
        cpu = f"{r['cpu_s']:.1f}" if "cpu_s" in r else "-"
        lines.append(f"| {names.get(r['mode'], r['mode'])} | {rate} | {r['elapsed_s']:.1f} | {cpu} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def rewrite(text: str, block: str, markers: tuple[str, str] = (BEGIN, END)) -> str:
    begin, end = markers
    if begin not in text or end not in text:
        raise ValueError(f"README.md has no {begin} ... {end} block")
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{block}\n{end}{tail}"


def rewrite_all(text: str, root: Path = ROOT) -> str:
    text = rewrite(rewrite(text, render(root)), render_speed(root), SPEED)
    return rewrite(text, render_pictures(root), PICTURES)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = p.parse_args(argv)
    text = README.read_text("utf-8")
    new = rewrite_all(text)
    if args.check:
        if new != text:
            print("README.md quality figures are out of date: run python -m training.readme", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
