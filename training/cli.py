"""``notecheck train``, ``eval``, ``retune``, ``mix`` and ``reevaluate``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any


def add_training_commands(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model folder from labelled files")
    p.add_argument("--data", type=Path, nargs="+", required=True,
                   help="labelled JSONL/CSV/Parquet files (a 'label' column; CHASM 0/1 accepted)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write, e.g. models/mine")
    p.add_argument("--kind", choices=["ensemble", "encoder", "lexical"], default="ensemble",
                   help="ensemble (default): the encoder and the lexical model blended; or either alone")
    p.add_argument("--base", help="encoder base: a local transformers folder or a hub id "
                                  "(default: the offline multilingual-e5-small built at set-up)")
    p.add_argument("--proxies", type=Path, help="proxy corpora folder (e.g. ../shared/data/corpora)")
    p.add_argument("--test-writers", nargs="*", default=[], help="writers held out as the test split")
    p.add_argument("--policy", type=Path, help="policy to tune thresholds into (default: packaged)")
    p.add_argument("--name", default="")
    p.add_argument("--version", default="")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=192)
    p.add_argument("--layers", type=int, help="keep only the first N encoder layers of the base")
    p.add_argument("--patience", type=int, default=2, help="early stopping: evaluations without gain")
    p.add_argument("--max-train", type=int, help="cap the training examples (quick runs)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--no-fit-rules", dest="fit_rules", action="store_false",
                   help="keep the policy's hand-set rule weights (default: refit them on validation)")
    p.add_argument("--eval-data", type=Path, nargs="*", default=[],
                   help="labelled files only evaluated (never trained or tuned on) and shown in the "
                        "card, e.g. ../shared/data/real_notes/dev.jsonl")
    p.add_argument("--augment", nargs="*", default=[], choices=["topics-dropped"],
                   help="add rewritten copies of the authored training notes: topics-dropped (each note "
                        "with topics also without them, as an export that drops them gives it)")
    p.set_defaults(run=_run_train)

    p = sub.add_parser("eval", help="evaluate a model folder on a labelled file")
    p.add_argument("--data", type=Path, nargs="+", required=True)
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--policy", type=Path)
    p.add_argument("--report", type=Path, help="write an HTML report here")
    p.add_argument("--json", type=Path, help="write the metrics as JSON here")
    p.add_argument("--exact", action="store_true",
                   help="the full unoptimised model (torch fp32, no cascade), as `score --exact`")
    p.set_defaults(run=_run_eval)

    p = sub.add_parser("retune", help="re-fit a model's policy (priors, rule weights, thresholds) on its "
                                      "recorded validation split, without retraining")
    p.add_argument("model", type=Path)
    p.add_argument("--policy", type=Path, help="base policy (default: the packaged one)")
    p.add_argument("--deployment-prior", type=_prior,
                   help="label mix of the feed, e.g. sharing=0.84,undisclosed_ad=0.12,declared=0.04 "
                        "(default: the base policy's)")
    p.add_argument("--no-fit-rules", dest="fit_rules", action="store_false",
                   help="keep the base policy's rule weights")
    p.set_defaults(run=_run_retune)

    p = sub.add_parser("mix", help="estimate a feed's label mix from scored verdicts (no labels) and print "
                                   "the retune command that sets it as the deployment prior")
    p.add_argument("verdicts", type=Path, nargs="+", help="`notecheck score` output files (JSONL, CSV or Parquet verdicts)")
    p.add_argument("--model", type=Path, help="the model folder that scored them (default: the shipped model)")
    p.add_argument("--json", type=Path, help="also write the estimate as JSON here")
    p.set_defaults(run=_run_mix)

    p = sub.add_parser("reevaluate", help="recompute a model folder's metrics and card on its recorded "
                                          "splits, from the current data files")
    p.add_argument("model", type=Path)
    p.set_defaults(run=_run_reevaluate)


def _run_train(args: argparse.Namespace) -> int:
    from training.trainer import TrainArgs, train

    try:
        targs = TrainArgs(
            data=args.data, out=args.out, kind=args.kind, proxies=args.proxies,
            test_writers=args.test_writers, base=args.base, policy=args.policy, name=args.name,
            version=args.version, seed=args.seed, epochs=args.epochs, lr=args.lr,
            batch_size=args.batch_size, max_length=args.max_length, layers=args.layers,
            patience=args.patience, max_train=args.max_train, resume=args.resume,
            fit_rules=args.fit_rules, eval_data=args.eval_data, augment=args.augment,
            command=shlex.join(["notecheck", *args.argv]),
        )
    except ValueError as exc:
        print(f"notecheck train: error: {exc}", file=sys.stderr)
        return 2
    train(targs, log=lambda msg: print(msg, file=sys.stderr))
    return 0


def _prior(text: str) -> dict[str, float]:
    """``sharing=0.84,undisclosed_ad=0.12,declared=0.04`` -> a dict (argparse type)."""
    try:
        out = {k.strip(): float(v) for k, v in (part.split("=", 1) for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LABEL=SHARE,... (e.g. sharing=0.84,undisclosed_ad=0.12,declared=0.04), got {text!r}"
        ) from None
    return out


def _run_retune(args: argparse.Namespace) -> int:
    from training.trainer import retune

    try:
        retune(args.model, fit_rules=args.fit_rules, deployment=args.deployment_prior,
               base_policy=args.policy, log=print)
    except ValueError as exc:
        print(f"notecheck retune: error: {exc}", file=sys.stderr)
        return 2
    print(f"now run: notecheck reevaluate {args.model}")
    return 0


def _run_mix(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from classifier.mix import estimate_mix
    from classifier.model import default_model_dir
    from training.mix import model_priors, prior_argument, read_model_scores

    model_dir = args.model or default_model_dir()
    priors, model = model_priors(model_dir)
    scores = read_model_scores(args.verdicts, model)
    est = estimate_mix(scores, priors.model)
    print(f"model {model} | {est.n:,} verdicts from " + ", ".join(map(str, args.verdicts)))
    print("estimated label mix (EM over the model's scores, no labels; 90% bootstrap interval):")
    for lab in est.mix:
        print(f"  {lab:<15} {est.mix[lab]:.3f}  [{est.low[lab]:.3f}, {est.high[lab]:.3f}]")
    print("the policy scores for: " + ", ".join(f"{k} {v:g}" for k, v in priors.deployment.items())
          + (f" ({priors.source})" if priors.source else ""))
    print(f"to score for this mix: notecheck retune {model_dir} --deployment-prior {prior_argument(est.mix)}")
    print("(a larger undisclosed_ad share finds more ads and flags more genuine notes: check "
          "`notecheck eval` on a labelled sample of the feed first)")
    if not est.converged:
        print(f"warning: EM stopped after {est.iterations} iterations without converging", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"model": model, **asdict(est)}, ensure_ascii=False, indent=2), "utf-8")
    return 0


def _run_reevaluate(args: argparse.Namespace) -> int:
    from training.trainer import reevaluate

    reevaluate(args.model, log=print)
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from classifier.pipeline import Pipeline
    from training.data import load_labelled
    from training.evaluate import format_errors, format_metrics
    from training.tuning import evaluate_three_ways

    pipeline = Pipeline.load(args.model, args.policy, exact=args.exact)
    print(f"model {pipeline.model_version} | policy {pipeline.policy.version}\n")
    examples = [x for path in args.data for x in load_labelled(path)]
    report = evaluate_three_ways(pipeline.model, pipeline.policy, pipeline.lexicon, examples)
    for mode in ("model", "rules", "combined"):
        print(format_metrics(mode, report[mode]))
        print()
    print(format_errors(report["combined"]))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    if args.report:
        from training.report import write_report

        write_report(args.report, examples, pipeline, report)
        print(f"report -> {args.report}")
    return 0
