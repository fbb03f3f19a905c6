"""The promotion gate: a new model replaces the default only when it is not worse on any frozen set.

``promote(new_dir, ...)`` scores the current default model (``models/DEFAULT``) and NEW on the same
frozen evaluation sets, on the default path (fast path, as ``notecheck score`` and the API serve):

- ``test_authored``: the authored notes of the held-out test split recorded in the current default's
  ``meta.json`` (:func:`training.trainer.recorded_split`; rebuilt without the proxies, which never
  enter the authored split); when NEW records a different split, NEW's authored test split too
  (``test_authored:new``);
- ``real_dev``: ``../shared/data/real_notes/dev.jsonl`` (evaluation only, never trained on);
- ``reviewed``: the reviewers' decisions exported from the store (``--db``), when given.

Per set it compares macro-F1, ``undisclosed_ad`` F1 and recall (higher is better) and the share of
genuine notes labelled ``undisclosed_ad`` (lower is better). NEW passes when no figure is worse than
the current one by more than ``tolerance`` (absolute, 0.01 = one point) on any set; then
``models/DEFAULT`` is rewritten (atomically) to name NEW. ``force=True`` switches whatever the
comparison says. Every decision -- promoted, refused, forced -- is recorded: in the store's audit log
when a database is given, otherwise as a line of ``models/promotions.jsonl``.

The comparison is only as wide as its sets: a set NEW was trained on (e.g. the reviewed items when
they were exported into its training data) flatters NEW; the output names the sets so a reader can
tell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.data import Example

__all__ = [
    "COMPARED",
    "LOWER_IS_BETTER",
    "Comparison",
    "Promotion",
    "SetFigures",
    "add_promote_command",
    "compare",
    "figures",
    "format_comparison",
    "frozen_sets",
    "promote",
    "switch_default",
]

ROOT = Path(__file__).resolve().parents[1]
REAL_DEV = ROOT.parent / "shared" / "data" / "real_notes" / "dev.jsonl"
PROMOTIONS_LOG = "promotions.jsonl"
COMPARED = ("macro_f1", "undisclosed_ad_f1", "undisclosed_ad_recall", "genuine_flagged_ad")
LOWER_IS_BETTER = frozenset({"genuine_flagged_ad"})


@dataclass(frozen=True)
class SetFigures:
    """One model's figures on one set (default path)."""

    n: int
    macro_f1: float
    undisclosed_ad_f1: float
    undisclosed_ad_recall: float
    genuine_flagged_ad: float

    def get(self, key: str) -> float:
        return float(getattr(self, key))


@dataclass(frozen=True)
class Comparison:
    """Both models on every set; ``worse`` lists each figure NEW lost beyond the tolerance."""

    current: str
    new: str
    tolerance: float
    sets: dict[str, tuple[SetFigures, SetFigures]]  # name -> (current, new)
    worse: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.worse

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "new": self.new, "tolerance": self.tolerance,
                "passed": self.passed, "worse": list(self.worse),
                "sets": {name: {"current": vars(c), "new": vars(n)} for name, (c, n) in self.sets.items()}}


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did: ``outcome`` is ``promoted``, ``forced``, ``refused`` or
    ``already_default``; ``recorded_in`` is where the decision was written."""

    outcome: str
    comparison: Comparison | None
    previous: str
    default: str
    recorded_in: str

    @property
    def switched(self) -> bool:
        return self.outcome in ("promoted", "forced")


# ----------------------------------------------------------------------------- evaluation sets


def _resolve(path: Path, base: Path) -> Path:
    """A path recorded in ``meta.json`` (relative to the checkout the model was trained in)."""
    if path.is_absolute() or path.exists():
        return path
    return base / path


def authored_test_split(model_dir: Path, root: Path = ROOT) -> list[Example]:
    """The authored notes of the test split a model recorded (no proxy is read: the authored split
    depends only on the labelled files, the held-out writers and the seed)."""
    from training.data import load_labelled, make_splits
    from training.trainer import recorded_split

    rec = recorded_split(model_dir)
    files = [_resolve(p, root) for p in rec["data"]]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise ValueError(f"{model_dir}/meta.json records training files that are not here: {missing}; "
                         "run promote from the checkout the model was trained in")
    labelled = [x for p in files for x in load_labelled(p)]
    splits = make_splits(labelled, None, test_writers=rec["test_writers"], seed=rec["seed"])
    return [x for x in splits.test if not x.source.startswith("proxy:")]


def frozen_sets(current_dir: Path, new_dir: Path, *, real_dev: Path | None = REAL_DEV,
                reviewed: Sequence[Example] = (), root: Path = ROOT) -> dict[str, list[Example]]:
    """The evaluation sets both models are scored on, by name (empty sets left out)."""
    from training.data import load_labelled

    sets: dict[str, list[Example]] = {}
    current_test = authored_test_split(current_dir, root) if (current_dir / "meta.json").is_file() else []
    sets["test_authored"] = current_test
    if (new_dir / "meta.json").is_file():
        new_test = authored_test_split(new_dir, root)
        if {x.note.id for x in new_test} != {x.note.id for x in current_test}:
            sets["test_authored:new"] = new_test
    if real_dev is not None:
        if not real_dev.is_file():
            raise ValueError(f"real_dev: {real_dev} does not exist; give --real-dev FILE (the real "
                             "notes' dev set, evaluation only)")
        sets["real_dev"] = load_labelled(real_dev)
    sets["reviewed"] = list(reviewed)
    return {name: xs for name, xs in sets.items() if xs}


def figures(model_dir: Path, sets: Mapping[str, Sequence[Example]]) -> dict[str, SetFigures]:
    """A model's figures on every set, on the default (fast) path that is served."""
    import numpy as np

    from classifier.pipeline import Pipeline
    from classifier.types import LABELS
    from training.evaluate import Scored, genuine_flagged, metrics

    pipeline = Pipeline.load(model_dir)
    out: dict[str, SetFigures] = {}
    for name, examples in sets.items():
        verdicts = list(pipeline.pipe([x.note for x in examples]))
        proba = np.array([[v.scores.get(lab, 0.0) for lab in LABELS] for v in verdicts], dtype=np.float64)
        m = metrics(Scored([x.label for x in examples], [v.label for v in verdicts], proba))
        ad = m["per_class"]["undisclosed_ad"]
        out[name] = SetFigures(n=m["n"], macro_f1=round(m["macro_f1"], 4), undisclosed_ad_f1=round(ad["f1"], 4),
                               undisclosed_ad_recall=round(ad["recall"], 4),
                               genuine_flagged_ad=round(genuine_flagged(m), 4))
    return out


def compare(current: Mapping[str, SetFigures], new: Mapping[str, SetFigures], *, tolerance: float,
            current_name: str = "current", new_name: str = "new") -> Comparison:
    """Every figure of NEW against the current one; a loss beyond ``tolerance`` is listed."""
    if tolerance < 0:
        raise ValueError(f"--tolerance must be >= 0 (absolute, 0.01 = one point), got {tolerance}")
    worse = []
    for name in current:
        c, n = current[name], new[name]
        for key in COMPARED:
            loss = n.get(key) - c.get(key) if key in LOWER_IS_BETTER else c.get(key) - n.get(key)
            if loss > tolerance + 1e-9:
                worse.append(f"{name} {key}: {n.get(key):.4f} vs {c.get(key):.4f} "
                             f"({'+' if key in LOWER_IS_BETTER else '-'}{loss:.4f} > {tolerance})")
    return Comparison(current_name, new_name, tolerance,
                      {name: (current[name], new[name]) for name in current}, worse)


def format_comparison(comp: Comparison) -> str:
    """Side by side, one row per set and figure."""
    head = f"{'set':<20}{'n':>6}  {'figure':<36}{'current':>9}{'new':>9}{'change':>9}"
    lines = [f"current: {comp.current}", f"new:     {comp.new}",
             f"tolerance: {comp.tolerance} (absolute) on every set and figure", "", head, "-" * len(head)]
    for name, (c, n) in comp.sets.items():
        for i, key in enumerate(COMPARED):
            delta = n.get(key) - c.get(key)
            bad = (delta > comp.tolerance + 1e-9) if key in LOWER_IS_BETTER else (-delta > comp.tolerance + 1e-9)
            label = key + (" (lower better)" if key in LOWER_IS_BETTER else "")
            lines.append(f"{name if i == 0 else '':<20}{c.n if i == 0 else '':>6}  {label:<36}"
                         f"{c.get(key):>9.4f}{n.get(key):>9.4f}{delta:>+9.4f}{'  WORSE' if bad else ''}")
    lines.append("")
    lines.append("gate: passed" if comp.passed else
                 f"gate: refused ({len(comp.worse)} figure(s) worse beyond the tolerance, marked WORSE)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- switching


def switch_default(models_root: Path, new_dir: Path) -> str:
    """Rewrite ``models_root/DEFAULT`` to name ``new_dir`` (a folder directly inside
    ``models_root``), atomically; returns the name written."""
    new_dir = Path(os.path.abspath(new_dir))  # not resolve(): a model folder may be a symlink
    if new_dir.parent != Path(os.path.abspath(models_root)):
        raise ValueError(f"model {str(new_dir)!r} is not a folder of {str(models_root)!r}: DEFAULT names a "
                         f"folder there; copy or move the model into {models_root} first")
    tmp = models_root / ".DEFAULT.tmp"
    tmp.write_text(new_dir.name + "\n", "utf-8")
    os.replace(tmp, models_root / "DEFAULT")
    return new_dir.name


Recorder = Callable[[dict[str, Any]], str]
"""Writes one promotion event; returns where it went (for the message)."""


def file_recorder(path: Path) -> Recorder:
    """Appends each event as a JSON line to ``path`` (the local promotions log, no database)."""

    def record(event: dict[str, Any]) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return str(path)

    return record


def promote(new_dir: Path, *, models_root: Path, tolerance: float = 0.01, force: bool = False,
            reviewed: Sequence[Example] = (), real_dev: Path | None = REAL_DEV,
            recorder: Recorder | None = None, actor: str = "", root: Path = ROOT,
            log: Callable[[str], None] = print) -> Promotion:
    """Run the gate and switch ``models_root/DEFAULT`` when NEW passes (or ``force``)."""
    new_dir = Path(new_dir)
    models_root = Path(models_root)
    from classifier.model import read_model_config

    read_model_config(new_dir)  # a clear error on an incomplete folder, before anything is scored
    default_file = models_root / "DEFAULT"
    if not default_file.is_file():
        raise ValueError(f"{default_file} is missing: there is no current default to compare with")
    previous = default_file.read_text("utf-8").strip()
    current_dir = models_root / previous
    record = recorder or file_recorder(models_root / PROMOTIONS_LOG)
    if os.path.abspath(current_dir) == os.path.abspath(new_dir):
        log(f"{new_dir} is already the default model; nothing to do")
        return Promotion("already_default", None, previous, previous, "")
    sets = frozen_sets(current_dir, new_dir, real_dev=real_dev, reviewed=reviewed, root=root)
    if not sets:
        raise ValueError("no evaluation set: the current model records no test split, and no real_dev "
                         "or reviewed items were given")
    log("sets: " + ", ".join(f"{name} (n={len(xs)})" for name, xs in sets.items()))
    comp = compare(figures(current_dir, sets), figures(new_dir, sets), tolerance=tolerance,
                   current_name=f"{previous} ({current_dir})", new_name=str(new_dir))
    log(format_comparison(comp))
    if comp.passed:
        outcome = "promoted"
    elif force:
        outcome = "forced"
    else:
        outcome = "refused"
    default = switch_default(models_root, new_dir) if outcome != "refused" else previous
    event = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "action": "promote",
             "outcome": outcome, "forced": force and not comp.passed, "actor": actor or os.environ.get("USER", ""),
             "previous": previous, "new": new_dir.name, "new_path": str(new_dir), "default": default,
             "comparison": comp.to_dict()}
    where = record(event)
    log({"promoted": f"promoted: {default_file} now names {default}",
         "forced": f"FORCED past the gate: {default_file} now names {default} (recorded)",
         "refused": f"refused: {default_file} still names {previous}; pass --force to override "
                    "(it is recorded)"}[outcome] + f"; decision recorded in {where}")
    return Promotion(outcome, comp, previous, default, where)


# ----------------------------------------------------------------------------- the command


def add_promote_command(sub: Any) -> argparse.ArgumentParser:
    """``notecheck promote MODEL``: added to the CLI by :mod:`serving.cli`."""
    p: argparse.ArgumentParser = sub.add_parser(
        "promote", help="make a model the default only if it is not worse on the frozen evaluation sets",
        description="Score the current default model (models/DEFAULT) and MODEL on the frozen sets "
                    "(authored test split, real dev notes, reviewed items with --db), print them side "
                    "by side and switch models/DEFAULT to MODEL only when no figure is worse beyond "
                    "--tolerance on any set. Exit 0 when switched (or already the default), 1 when "
                    "refused.")
    p.add_argument("model", type=Path, help="the candidate model folder, inside the models folder "
                                            "(e.g. models/notecheck-2026.12.06)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="largest loss allowed on any figure of any set, absolute (default 0.01 = one point)")
    p.add_argument("--force", action="store_true",
                   help="switch even when the gate refuses; recorded in the audit log (or the local "
                        "promotions log without --db)")
    p.add_argument("--db", metavar="URL",
                   help="the review store: its reviewed items become a set, and the decision goes to "
                        "its audit log (default: none; the decision goes to MODELS/promotions.jsonl)")
    p.add_argument("--real-dev", type=Path, default=REAL_DEV,
                   help=f"the real notes' dev set, evaluation only (default: {REAL_DEV})")
    p.add_argument("--models-root", type=Path,
                   help="the folder holding DEFAULT (default: the checkout's models/)")
    p.add_argument("--actor", default="", help="who promotes (default: $USER), for the record")
    p.set_defaults(run=_run_promote)
    return p


def _run_promote(args: argparse.Namespace) -> int:
    from classifier.model import models_root

    root = args.models_root or models_root()
    reviewed: list[Example] = []
    recorder: Recorder | None = None
    if args.db:
        from training.promote_store import reviewed_examples, store_recorder

        reviewed = reviewed_examples(args.db)
        recorder = store_recorder(args.db)
    try:
        result = promote(args.model, models_root=root, tolerance=args.tolerance, force=args.force,
                         reviewed=reviewed, real_dev=args.real_dev, recorder=recorder, actor=args.actor)
    except ValueError as exc:
        print(f"notecheck promote: error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.outcome == "refused" else 0
