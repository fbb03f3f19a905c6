"""The ``notecheck`` command line: score, check, train, eval, serve, report.

The one place the command is composed: ``score`` and ``check`` are defined here (over the batch
engines of :mod:`serving.batch`), and the subcommands of the other packages are added here and
nowhere else (``training.cli``, ``serving.http.app``, ``serving.report``), so the HTTP, batch and
report packages never import :mod:`training` (``tests/unit/test_imports.py`` checks).

Heavy modules (torch, transformers, sklearn, fastapi) are imported inside the subcommand that
needs them, so ``notecheck --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from classifier.errors import NotecheckError
from classifier.types import LABELS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DECISIONS = ("pass", "review", "block")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except NotecheckError as exc:
        print(f"notecheck: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("notecheck: interrupted; rerun `score` with --resume to continue", file=sys.stderr)
        return 130
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notecheck",
        description="Find advertising in Xiaohongshu notes: sharing / undisclosed_ad / declared.",
    )
    sub = parser.add_subparsers(title="commands")

    p = sub.add_parser("score", help="score a dump of notes (JSONL/JSON/CSV/Parquet, crawler exports)")
    p.add_argument("input", help="the dump to score (with --engine ray also a URI: s3://, gs://, ...)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="verdicts file; .jsonl, .csv or .parquet by extension")
    p.add_argument("--errors", type=Path, help="bad records go here (default: OUTPUT.errors.jsonl)")
    p.add_argument("--comments", type=Path,
                   help="a comment export joined to the notes by note_id (MediaCrawler's "
                        "comments JSONL/JSON/CSV); bad comment rows go to the errors file")
    p.add_argument("--images", action="store_true",
                   help="read the notes' pictures (OCR text and QR codes; needs the 'images' "
                        "extra and --image-root or --fetch-images; on --engine ray the actors "
                        "read them); a picture that cannot be read makes its note an error row "
                        "naming images[i]")
    p.add_argument("--image-root", type=Path,
                   help="with --images: the folder picture paths are under; others are refused")
    p.add_argument("--image-cache", type=Path,
                   help="with --images: a folder caching each picture's text by its hash")
    p.add_argument("--fetch-images", action="store_true",
                   help="with --images: fetch picture URLs (public addresses only, never file://, "
                        "loopback or private ones; image/* only, size and time limits); a refused "
                        "or failed fetch goes to the errors file and the note is scored on the rest")
    p.add_argument("--format", dest="fmt", choices=["jsonl", "json", "csv", "parquet"],
                   help="input format (default: detected)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run (either engine) after its checkpoint")
    p.add_argument("--limit", type=int, help="stop after N records (resume later with --resume)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-chars", type=int, default=100_000, help="longest note text accepted")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--summary-json", type=Path, help="also write the run summary as JSON")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (default); ray: a Ray Data job over an actor pool "
                        "(JSONL/Parquet; see docs/ray.md); both resume with --resume")
    p.add_argument("--address", help="ray engine: join this Ray cluster (auto, HOST:6379, "
                                     "ray://HOST:10001); default: start a local instance")
    p.add_argument("--num-actors", type=int, default=1,
                   help="ray engine: actors in the pool, each loads the model once (default 1)")
    _model_args(p)
    from serving.store.cli import add_db_options, add_export_command

    add_db_options(p)
    p.set_defaults(run=_run_score)

    p = sub.add_parser("check", help="score one note given on the command line and print the verdict")
    p.add_argument("text", help="the note's text")
    p.add_argument("--title", default="")
    p.add_argument("--sponsor-flag", action="store_true")
    p.add_argument("--account-type", choices=["personal", "creator", "enterprise"], default="personal")
    p.add_argument("--bio", help="the author's profile bio (简介)")
    p.add_argument("--comment", action="append", default=[], help="a commenter's comment (repeatable)")
    p.add_argument("--author-reply", action="append", default=[],
                   help="a comment by the note's author (repeatable; after the --comment ones)")
    _model_args(p)
    p.set_defaults(run=_run_check)

    from serving.http.app import add_serve_command
    from serving.report import add_report_command
    from training.cli import add_training_commands
    from training.promote import add_promote_command

    add_training_commands(sub)
    add_promote_command(sub)
    add_serve_command(sub)
    add_export_command(sub)
    add_report_command(sub)
    return parser


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    p.add_argument("--policy", type=Path, help="policy file (default: the model's own policy.json)")
    p.add_argument("--lexicon", type=Path, help="lexicon file (default: the packaged lexicon)")
    p.add_argument("--exact", action="store_true",
                   help="full unoptimised model: torch fp32, no lexical cascade (default: the "
                        "fast path, ONNX int8 + cascade, within 0.5 pt macro-F1; README 'Speed')")


def _load_pipeline(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from classifier.pipeline import Pipeline

    return Pipeline.load(args.model, args.policy, args.lexicon, exact=args.exact)


def _run_score(args: argparse.Namespace) -> int:
    from serving.batch.local import score_file

    if args.fetch_images and not args.images:
        print("notecheck: error: --fetch-images needs --images (pictures are read only when asked)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.images and args.image_root is None and not args.fetch_images:
        print("notecheck: error: --images needs --image-root DIR (the folder the pictures' "
              "paths are under; others are refused) or --fetch-images (picture URLs)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.engine == "ray" and args.db is not None:
        print("notecheck: error: --db is not recorded on the ray engine yet; score with "
              "--engine local", file=sys.stderr)
        return EXIT_USAGE
    if args.engine == "ray":
        if args.comments is not None and not Path(args.comments).is_file():
            print(f"notecheck: error: comments {str(args.comments)!r} does not exist (the driver "
                  f"reads it and gives it to the actors)", file=sys.stderr)
            return EXIT_FAILED
        return _run_score_ray(args)
    if args.address is not None:
        print("notecheck: error: --address needs --engine ray", file=sys.stderr)
        return EXIT_USAGE
    pictures = None
    if args.images:
        try:
            pictures = _picture_options(args).reader()
        except ValueError as exc:
            print(f"notecheck: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    for name, path in (("input", args.input), ("comments", args.comments)):
        if path is not None and not Path(path).exists():
            print(f"notecheck: error: {name} {str(path)!r} does not exist", file=sys.stderr)
            return EXIT_FAILED
    pipeline = _load_pipeline(args)
    recording = _recording(args, pipeline)  # --db: verdicts into the review store too
    try:
        summary = score_file(
            recording or pipeline, Path(args.input), args.output, errors=args.errors, fmt=args.fmt,
            resume=args.resume,
            batch_size=args.batch_size, limit=args.limit, progress=not args.no_progress,
            max_chars=args.max_chars, comments=args.comments, pictures=pictures,
            on_batch=None if recording is None else recording.flush,
        )
    except ValueError as exc:
        print(f"notecheck: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if recording is not None:
            recording.store.close()
    print(format_summary(summary, pipeline.model_version, pipeline.policy.version))
    if recording is not None:
        print(f"review store: {recording.recorded} verdicts recorded, {recording.queued} newly "
              f"queued for review ({recording.store.engine.url.render_as_string()})")
    _write_summary_json(args, summary)
    return EXIT_OK


def _recording(args: argparse.Namespace, pipeline):  # type: ignore[no-untyped-def]
    """With ``--db``: the pipeline wrapped so that each batch is recorded in the store."""
    from serving.store.cli import RecordingPipeline, open_for_score

    store = open_for_score(args)
    return None if store is None else RecordingPipeline(pipeline, store)


def _picture_options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from classifier.pictures import PictureOptions

    return PictureOptions(root=str(args.image_root) if args.image_root is not None else None,
                          cache_dir=str(args.image_cache) if args.image_cache is not None else None,
                          fetch=args.fetch_images)


def _write_summary_json(args: argparse.Namespace, summary) -> None:  # type: ignore[no-untyped-def]
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2), "utf-8")


def _run_score_ray(args: argparse.Namespace) -> int:
    """``score --engine ray``: the same scoring on Ray Data, resumable; no --limit."""
    if args.limit is not None:
        print("notecheck: error: --limit belongs to the local engine; a Ray job writes its "
              "outputs only when complete (drop it or use --engine local)", file=sys.stderr)
        return EXIT_USAGE
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        print("notecheck: error: the ray engine needs Ray: pip install 'notecheck[ray]' "
              "(or 'ray[data]==2.60.0')", file=sys.stderr)
        return EXIT_FAILED
    from serving.batch.ray import score_with_ray

    pictures = None
    if args.images:
        pictures = _picture_options(args)
        try:
            pictures.reader()  # refuses a root that is not a folder here, not in the actors
        except ValueError as exc:
            print(f"notecheck: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        summary = score_with_ray(
            args.input, args.output, errors=args.errors, fmt=args.fmt, model=args.model,
            policy=args.policy, lexicon=args.lexicon, address=args.address,
            batch_size=args.batch_size, num_actors=args.num_actors, max_chars=args.max_chars,
            progress=not args.no_progress, exact=args.exact, resume=args.resume,
            pictures=pictures, comments=args.comments,
        )
    except ValueError as exc:
        print(f"notecheck: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    model_version, policy_version = summary.versions or ("-", "-")
    print(format_summary(summary, model_version, policy_version))
    _write_summary_json(args, summary)
    return EXIT_OK


def format_summary(summary, model_version: str, policy_version: str) -> str:  # type: ignore[no-untyped-def]
    """A readable table: labels by decision, totals and speed."""
    lines = [f"model {model_version} | policy {policy_version}", ""]
    header = f"{'label':<16}" + "".join(f"{d:>8}" for d in DECISIONS) + f"{'total':>8}{'share':>8}"
    lines += [header, "-" * len(header)]
    for label in LABELS:
        counts = [summary.decisions.get((label, d), 0) for d in DECISIONS]
        n = sum(counts)
        share = f"{100 * n / summary.scored:.1f}%" if summary.scored else "-"
        lines.append(f"{label:<16}" + "".join(f"{c:>8}" for c in counts) + f"{n:>8}{share:>8}")
    lines.append("-" * len(header))
    totals = [sum(summary.decisions.get((lab, d), 0) for lab in LABELS) for d in DECISIONS]
    lines.append(f"{'all':<16}" + "".join(f"{c:>8}" for c in totals) + f"{summary.scored:>8}")
    lines.append("")
    rate = (summary.total - summary.resumed_from_row) / summary.elapsed_s if summary.elapsed_s else 0.0
    resumed = f" (resumed after row {summary.resumed_from_row})" if summary.resumed_from_row else ""
    lines.append(
        f"records {summary.total}: scored {summary.scored}, failed {summary.failed}{resumed}; "
        f"{summary.elapsed_s:.1f}s, {rate:.0f} notes/s"
    )
    if summary.ignored_fields:
        lines.append(_ignored_line(summary.ignored_fields))
    c = getattr(summary, "comments", None)
    if c:
        lines.append(f"comment rows {c['rows']}: joined {c['joined']}, failed {c['failed']} (in the "
                     f"errors file), matching no note {c['unmatched']}")
    unfetched = getattr(summary, "picture_failures", 0)
    if unfetched:
        lines.append(f"pictures not fetched {unfetched} (in the errors file; their notes were "
                     f"scored on the rest)")
    lines.append(f"verdicts -> {summary.output}")
    failed = summary.failed + (c or {}).get("failed", 0) + unfetched
    lines.append(f"errors   -> {summary.errors}" + ("" if failed else " (none)"))
    return "\n".join(lines)


def _ignored_line(ignored: Counter[str], shown: int = 10) -> str:
    """``ignored fields (not read, records holding each): label x300, vertical x300, and 4 more
    (--summary-json lists all)``: the ``shown`` most common names."""
    common = ignored.most_common()
    names = ", ".join(f"{name} x{n}" for name, n in common[:shown])
    more = f", and {len(common) - shown} more (--summary-json lists all)" if len(common) > shown else ""
    return f"ignored fields (not read, records holding each): {names}{more}"


def _run_check(args: argparse.Namespace) -> int:
    from classifier.types import Author, Comment, Note

    pipeline = _load_pipeline(args)
    comments = [*((text, False) for text in args.comment), *((text, True) for text in args.author_reply)]
    note = Note(id="cli", title=args.title, text=args.text, sponsor_flag=args.sponsor_flag,
                author=Author(account_type=args.account_type, bio=args.bio),
                comments=tuple(Comment(f"c{i}", text, is_author=mine) for i, (text, mine) in enumerate(comments)))
    print(json.dumps(pipeline(note).to_dict(), ensure_ascii=False, indent=2))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
