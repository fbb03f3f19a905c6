"""From labelled files to a versioned model folder with an evaluation.

``train(TrainArgs(...))``: load data -> split -> fit (lexical or encoder) -> calibrate (temperature
on validation) -> fit the rules' weights and tune per-label thresholds into the policy (validation)
-> evaluate model / rules / combined on
the held-out test split and the held-out real reviews -> write the folder (model files,
``policy.json``, ``meta.json``, ``metrics.json``, ``MODEL_CARD.md``).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from classifier.model import MODEL_FILE, file_sha256
from classifier.rules import Policy
from classifier.signals import Lexicon
from classifier.types import LABELS, Note
from training.data import Example, Splits, load_labelled, load_proxies, make_splits
from training.evaluate import format_metrics
from training.forms import drop_topics
from training.tuning import (
    evaluate_three_ways,
    fit_rule_weights,
    fit_temperature,
    texts_of,
    tune_thresholds,
)


@dataclass
class TrainArgs:
    """Everything a training run depends on; validated on construction."""

    data: list[Path]
    out: Path
    kind: Literal["ensemble", "encoder", "lexical"] = "ensemble"
    proxies: Path | None = None
    test_writers: list[str] = field(default_factory=list)
    base: str | None = None
    policy: Path | None = None
    name: str = ""
    version: str = ""
    seed: int = 13
    # encoder fine-tuning
    epochs: float = 3.0
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 192
    layers: int | None = None
    patience: int = 2
    max_train: int | None = None
    resume: bool = False
    # lexical model
    ngram_max: int = 2
    C: float = 4.0
    # rules layer
    fit_rules: bool = True
    # labelled files evaluated and shown in the card, never trained on (e.g. real notes)
    eval_data: list[Path] = field(default_factory=list)
    # rewritten copies of the authored training notes added to the training split (see AUGMENTS)
    augment: list[str] = field(default_factory=list)
    command: str = ""

    def __post_init__(self) -> None:
        self.data = [Path(p) for p in self.data]
        self.out = Path(self.out)
        if not self.data:
            raise ValueError("--data: give at least one labelled file")
        self.eval_data = [Path(p) for p in self.eval_data]
        missing = [str(p) for p in [*self.data, *self.eval_data] if not p.is_file()]
        if missing:
            raise ValueError(f"--data: file(s) not found: {missing}")
        if self.kind not in ("ensemble", "encoder", "lexical"):
            raise ValueError(f"--kind must be 'ensemble', 'encoder' or 'lexical', got {self.kind!r}")
        if self.proxies is not None and not Path(self.proxies).is_dir():
            raise ValueError(f"--proxies {self.proxies}: not a folder (expected ../shared/data/corpora)")
        if self.epochs <= 0 or self.lr <= 0 or self.batch_size < 1 or self.max_length < 16:
            raise ValueError("epochs and lr must be > 0, batch_size >= 1, max_length >= 16")
        unknown = [a for a in self.augment if a not in AUGMENTS]
        if unknown:
            raise ValueError(f"--augment: unknown {unknown}; expected some of {list(AUGMENTS)}")
        self.name = self.name or self.out.name
        self.version = self.version or datetime.now(UTC).strftime("%Y.%m.%d")


def without_topics(note: Note) -> Note | None:
    """A topic-free copy of a note with topics (:func:`training.forms.drop_topics`, under its own
    id); none when the note has no topic."""
    return replace(drop_topics(note), id=f"{note.id}~no-topics") if note.topics else None


AUGMENTS = {"topics-dropped": without_topics}
"""Rewrites whose copies ``--augment`` adds to the training split: a model must not need the topics an
export may drop (on the real dev notes, dropping them cost model 2026.12.04, trained without the copies,
7 points of macro-F1; ``training.forms`` measures it for the shipped model)."""


def assemble(args: TrainArgs) -> Splits:
    """The splits of the labelled files and proxies; with ``args.augment``, the training split also
    holds the rewritten copies of its authored notes (validation and test never do)."""
    labelled: list[Example] = []
    for path in args.data:
        labelled.extend(load_labelled(path))
    proxies = load_proxies(args.proxies, seed=args.seed) if args.proxies else None
    splits = make_splits(labelled, proxies, test_writers=args.test_writers, seed=args.seed)
    copies = [replace(x, note=new) for kind in args.augment for x in splits.train
              if not x.source.startswith("proxy:") and (new := AUGMENTS[kind](x.note)) is not None]
    return replace(splits, train=[*splits.train, *copies]) if copies else splits


def fit_model(args: TrainArgs, splits: Splits, log: Any = print) -> Any:
    """Fit the requested kind on ``splits.train`` (validation for early stopping) and calibrate it."""
    model: Any
    if args.kind == "lexical":
        from classifier.lexical import LexicalModel

        model = LexicalModel(ngram_max=args.ngram_max, C=args.C, name=args.name, model_version=args.version)
        model.fit(texts_of(splits.train), [x.text_label for x in splits.train])
    elif args.kind == "encoder":
        from training.finetune import fit_encoder

        model = fit_encoder(args, splits, log=log)
    else:
        from classifier.ensemble import EnsembleModel

        members = [fit_model(replace(args, kind=kind, name=f"{args.name}-{kind}", out=args.out / kind), splits, log)
                   for kind in ("encoder", "lexical")]
        model = EnsembleModel(members, [0.5, 0.5], names=["encoder", "lexical"], name=args.name,
                              model_version=args.version)
    if splits.val:
        model.temperature_ = fit_temperature(model.logits(texts_of(splits.val)), [x.text_label for x in splits.val])
    return model


def train(args: TrainArgs, log: Any = print) -> Path:
    started = time.perf_counter()
    splits = assemble(args)
    log(f"data: {json.dumps(splits.describe(), ensure_ascii=False)}")
    model = fit_model(args, splits, log=log)
    lexicon = Lexicon.load()
    base_policy = Policy.load(args.policy)
    policy = base_policy
    if splits.val:
        val_proba = model.predict_proba([x.note for x in splits.val])
        policy = tune_policy(val_proba, splits.val, policy, lexicon, fit_rules=args.fit_rules, log=log)
        policy = policy.with_updates(version=f"{base_policy.version}+{args.name}")
    report = evaluate(model, policy, lexicon, splits, eval_sets(args))
    for split in ("val", "test", "test_authored", *(k for k in report if k.startswith("eval:"))):
        for mode in ("model:encoder", "model:lexical", "model", "rules", "combined"):
            if split in report and mode in report[split]:
                log(format_metrics(f"{split} / {mode}", report[split][mode]))
    if "heldout_reviews" in report:
        log(f"held-out real reviews flagged undisclosed_ad: {report['heldout_reviews']['flagged_undisclosed_rate']:.4f}")
    save_folder(args, model, policy, splits, report, time.perf_counter() - started)
    log(f"model written to {args.out}")
    return args.out


def tune_policy(val_proba: Any, val: list[Example], policy: Policy, lexicon: Lexicon, *,
                fit_rules: bool, log: Any = print) -> Policy:
    """Fit a policy to a model on its validation split: the model's own label prior (the text
    labels it was calibrated on) beside the deployment prior, then (optionally) the rule weights,
    then the thresholds, all under the deployment prior."""
    if policy.spec.priors is not None:
        texts = [x.text_label for x in val]
        model_prior = {lab: round(texts.count(lab) / len(texts), 4) for lab in LABELS}
        model_prior["sharing"] = round(1.0 - model_prior["undisclosed_ad"] - model_prior["declared"], 4)
        deployment = dict(policy.spec.priors.deployment)
        policy = policy.with_updates(priors={**policy.spec.priors.model_dump(), "model": model_prior})
        log(f"priors: model {model_prior} -> deployment {deployment}")
    if fit_rules:
        policy = fit_rule_weights(val_proba, val, policy, lexicon)
        log(f"rule weights fitted on validation: model_weight {policy.spec.model_weight}")
    return policy.with_updates(thresholds=tune_thresholds(val_proba, val, policy, lexicon))


def retune(model_dir: Path, *, fit_rules: bool, deployment: dict[str, float] | None = None,
           base_policy: Path | None = None, log: Any = print) -> Policy:
    """Re-fit a trained model's policy on its recorded validation split (the full ``--exact``
    model's scores): after a change of rules, lexicon or deployment prior, without retraining.
    Writes ``policy.json``; run ``notecheck reevaluate`` after it for the metrics and card."""
    from classifier.pipeline import Pipeline

    model_dir = Path(model_dir)
    splits = assemble(recorded_args(model_dir))
    pipeline = Pipeline.load(model_dir, exact=True)
    policy = Policy.load(base_policy)
    if deployment is not None:
        if policy.spec.priors is None:
            raise ValueError("the base policy has no priors to set a deployment prior on")
        policy = policy.with_updates(priors={**policy.spec.priors.model_dump(), "deployment": deployment,
                                             "source": "set with notecheck retune --deployment-prior"})
    val_proba = pipeline.model.predict_proba([x.note for x in splits.val])
    policy = tune_policy(val_proba, splits.val, policy, pipeline.lexicon, fit_rules=fit_rules, log=log)
    name = json.loads((model_dir / MODEL_FILE).read_text("utf-8")).get("name", model_dir.name)
    policy = policy.with_updates(version=f"{Policy.load(base_policy).version}+{name}")
    policy.save(model_dir / "policy.json")
    meta_path = model_dir / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text("utf-8"))
        meta["retuned"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "fit_rules": fit_rules,
                           "base_policy": Policy.load(base_policy).version}
        meta["policy_version"] = policy.version
        meta["priors"] = policy.spec.priors.model_dump() if policy.spec.priors is not None else None
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    log(f"policy {policy.version} -> {model_dir / 'policy.json'}: thresholds {policy.spec.thresholds}")
    return policy


def eval_sets(args: TrainArgs) -> dict[str, list[Example]]:
    """The evaluation-only files by name (file stem): never split or trained on (where one chose a
    number, e.g. ``training.export --choose-on``, the card says so)."""
    return {p.stem: load_labelled(p) for p in args.eval_data}


def evaluate(model: Any, policy: Policy, lexicon: Lexicon, splits: Splits,
             extra: dict[str, list[Example]] | None = None) -> dict[str, Any]:
    """Three-way metrics (model, rules, combined) on every set; each note is scored once. For the
    held-out and evaluation-only sets also ``combined_without_prior``: the same policy without its
    deployment prior, to show the prior's effect."""
    authored = [x for x in splits.test if not x.source.startswith("proxy:")]
    writers = sorted({x.writer for x in authored}, key=lambda w: (len(w), w))
    sets: dict[str, list[Example]] = {f"eval:{name}": xs for name, xs in (extra or {}).items()}
    if len(writers) > 1:
        sets.update({f"test_writer:{w}": [x for x in authored if x.writer == w] for w in writers})
    sets.update({"val": splits.val, "test": splits.test, "test_authored": authored})
    sets = {name: xs for name, xs in sets.items() if xs}
    rows = _probas(model, [x for xs in sets.values() for x in xs])
    members = list(zip(getattr(model, "names", []), getattr(model, "members", []), strict=True))
    member_rows = {name: _probas(member, [*splits.val, *splits.test]) for name, member in members}
    no_prior = policy.with_updates(priors=None) if policy.spec.priors is not None else None
    report: dict[str, Any] = {}
    for name, xs in sets.items():
        proba = np.array([rows[id(x.note)] for x in xs])
        report[name] = evaluate_three_ways(model, policy, lexicon, xs, proba)
        if no_prior is not None and name not in ("val", "test"):
            report[name]["combined_without_prior"] = evaluate_three_ways(model, no_prior, lexicon, xs, proba)["combined"]
        if name in ("val", "test", "test_authored"):
            for member_name, member in members:
                mproba = np.array([member_rows[member_name][id(x.note)] for x in xs])
                report[name][f"model:{member_name}"] = evaluate_three_ways(member, policy, lexicon, xs, mproba)["model"]
    if splits.heldout_reviews:
        combined = evaluate_three_ways(model, policy, lexicon, splits.heldout_reviews)["combined"]
        report["heldout_reviews"] = {"n": combined["n"], "flagged_undisclosed_rate": combined["flagged_undisclosed_rate"],
                                     "labelled_sharing_rate": combined["per_class"]["sharing"]["recall"]}
    return report


def _probas(model: Any, examples: list[Example]) -> dict[int, Any]:
    """The model's probabilities for each distinct note (keyed by ``id(note)``), computed once."""
    unique = list({id(x.note): x.note for x in examples}.values())
    proba = model.predict_proba(unique) if unique else np.zeros((0, 3))
    return {id(n): row for n, row in zip(unique, proba, strict=True)}


def recorded_split(model_dir: Path) -> dict[str, Any]:
    """The one reader of what a model's ``meta.json`` records of its split: ``data``, ``kind``,
    ``proxies``, ``test_writers``, ``seed``, ``eval_data`` and ``augment``, as written (paths not checked).
    :func:`recorded_args` validates them into :class:`TrainArgs`; ``training.export`` samples
    texts from the ``data`` files."""
    a = json.loads((Path(model_dir) / "meta.json").read_text("utf-8"))["args"]
    return {"data": [Path(p) for p in a["data"]], "kind": a["kind"],
            "proxies": Path(a["proxies"]) if a.get("proxies") else None,
            "test_writers": a.get("test_writers", []), "seed": a.get("seed", 13),
            "eval_data": [Path(p) for p in a.get("eval_data", [])], "augment": a.get("augment", [])}


def recorded_args(model_dir: Path) -> TrainArgs:
    """The data files, proxies, held-out writers and seed recorded in a model's ``meta.json``
    (``assemble(recorded_args(dir))`` rebuilds the splits it was trained and evaluated on)."""
    return TrainArgs(out=Path(model_dir), **recorded_split(model_dir))


def reevaluate(model_dir: Path, log: Any = print) -> dict[str, Any]:
    """Rebuild the splits recorded in ``meta.json`` from the current data files (e.g. after more
    test notes were labelled) and rewrite ``metrics.json`` and ``MODEL_CARD.md``. The model, its
    policy and its training are untouched; the data hashes in ``meta.json`` are updated and the
    card says the metrics were recomputed."""
    from classifier.pipeline import Pipeline
    from training.card import write_card

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "meta.json").read_text("utf-8"))
    args = recorded_args(model_dir)
    splits = assemble(args)
    pipeline = Pipeline.load(model_dir, exact=True)  # the recorded metrics are the full model's
    report = evaluate(pipeline.model, pipeline.policy, pipeline.lexicon, splits, eval_sets(args))
    meta["data"] = data_hashes(args)
    meta["policy_version"] = pipeline.policy.version
    priors = pipeline.policy.spec.priors
    meta["priors"] = priors.model_dump() if priors is not None else None
    meta["splits"] = splits.describe()
    meta["reevaluated"] = datetime.now(UTC).isoformat(timespec="seconds")
    (model_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    write_metrics(model_dir, report)
    write_card(model_dir, meta, report)
    for split in ("test_authored", "test"):
        if split in report:
            log(format_metrics(f"{split} / combined", report[split]["combined"]))
    if json.loads((model_dir / MODEL_FILE).read_text("utf-8")).get("cascade"):
        log(f"the card's fast-path figures were dropped with the old splits; refresh them with "
            f"`python -m training.export {model_dir} --skip-export --cascade lexical --write`")
    return report


def save_folder(args: TrainArgs, model: Any, policy: Policy, splits: Splits, report: dict[str, Any],
                seconds: float) -> None:
    from training.card import write_card

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out, args)
    policy.save(out / "policy.json")
    meta = {
        "name": args.name,
        "version": args.version,
        "kind": args.kind,
        "labels": list(LABELS),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": round(seconds, 1),
        "args": _jsonable(asdict(args)),
        "data": data_hashes(args),
        "proxies": str(args.proxies) if args.proxies else None,
        "splits": splits.describe(),
        "temperature": float(getattr(model, "temperature_", 1.0)),
        "policy_version": policy.version,
        "priors": policy.spec.priors.model_dump() if policy.spec.priors is not None else None,
        "libraries": _library_versions(),
        "command": args.command,
    }
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    write_metrics(out, report)
    write_card(out, meta, report)


def write_metrics(model_dir: Path, report: dict[str, Any]) -> None:
    """``metrics.json``: the report, with the worst errors by id only (no note text is written into a
    model folder: evaluation sets may hold other people's real notes)."""
    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k != "text"}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    (model_dir / "metrics.json").write_text(json.dumps(_jsonable(strip(report)), ensure_ascii=False, indent=2),
                                            "utf-8")


def data_hashes(args: TrainArgs) -> list[dict[str, str]]:
    """SHA-256 of every data file a model depends on: labelled files, proxy corpora, evaluation sets."""
    files = [*args.data, *args.eval_data]
    if args.proxies is not None:
        files += sorted(p for p in Path(args.proxies).iterdir() if p.is_file())
    return [{"path": str(p), "sha256": file_sha256(p)} for p in files]


def save_model(model: Any, out: Path, args: TrainArgs) -> None:
    """Write the model files of any kind (an ensemble writes each member into its subfolder)."""
    if args.kind == "lexical":
        model.save(out)
    elif args.kind == "encoder":
        from training.finetune import save_encoder

        save_encoder(model, out, args)
    else:
        for name, member in zip(model.names, model.members, strict=True):
            save_model(member, out / name, replace(args, kind=name))
        model.write_config(out)


def _library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "scikit-learn", "jieba", "torch", "transformers", "tokenizers", "safetensors"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj
