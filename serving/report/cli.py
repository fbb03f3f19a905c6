"""``notecheck report``: the argparse subcommand (wired into :mod:`serving.cli` by
:func:`add_report_command`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from classifier.errors import InputError
from serving.report.dates import PERIODS

__all__ = ["add_report_command", "run_report"]

EXIT_OK, EXIT_FAILED = 0, 1


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def add_report_command(sub: Any) -> argparse.ArgumentParser:
    """Add ``report`` to an argparse subparsers object (``parser.add_subparsers()``)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report", help="compliance report per creator and per brand, with template detection",
        description="Write one self-contained HTML report (and a CSV per table beside it) from "
                    "the verdicts of `notecheck score`; with --notes, the original dump is "
                    "joined on id for the per-creator, per-brand and template sections.")
    p.add_argument("scored", type=Path, help="verdicts written by `notecheck score` "
                                             "(JSONL, CSV or Parquet)")
    p.add_argument("--notes", type=Path, help="the dump that was scored (JSONL/JSON/CSV/Parquet, "
                                              "crawler exports)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="the report, e.g. report.html; CSVs go beside it (report.creators.csv ...)")
    p.add_argument("--notes-format", choices=["jsonl", "json", "csv", "parquet"],
                   help="format of --notes (default: detected)")
    p.add_argument("--title", default="notecheck compliance report", help="page title")
    p.add_argument("--period", choices=PERIODS, default="auto",
                   help="timeline buckets (auto: weeks up to half a year of data, else months)")
    p.add_argument("--as-of", type=_day, help="end of the 30-day partner window, YYYY-MM-DD "
                                              "(default: the newest date in the notes)")
    p.add_argument("--top", type=int, default=100,
                   help="rows (clusters) shown per table on the page; the CSVs hold all")
    p.add_argument("--brands", type=Path, help="extra brand names to look for in text, one per "
                                               "line (# starts a comment)")
    p.add_argument("--no-templates", action="store_true", help="skip template detection")
    p.add_argument("--template-threshold", type=float, default=0.5,
                   help="estimated Jaccard similarity for two notes to share a template")
    p.add_argument("--min-accounts", type=int, default=2,
                   help="distinct accounts a template cluster needs")
    p.add_argument("--min-tokens", type=int, default=12,
                   help="shorter notes (in jieba tokens) are not compared")
    p.add_argument("--shingle", type=int, default=3, help="tokens per shingle")
    p.add_argument("--num-perm", type=int, default=128,
                   help="MinHash values per note (2 bytes each); a multiple of 4")
    p.add_argument("--workers", type=int, default=1,
                   help="processes segmenting notes for template detection (default 1)")
    p.add_argument("--max-chars", type=int, default=100_000, help="longest note text accepted")
    p.set_defaults(run=run_report)
    return p


def _brand_names(path: Path | None) -> tuple[str, ...]:
    if path is None:
        return ()
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the brands file {str(path)!r} ({e}); give a UTF-8 text "
                         "file with one brand name per line", field="--brands") from e
    return tuple(n for n in (line.split("#", 1)[0].strip() for line in lines) if n)


def run_report(args: argparse.Namespace) -> int:
    """The ``report`` subcommand: build the report and print where it went."""
    from serving.report.build import ReportOptions, build_report
    from serving.report.templates import TemplateParams

    try:
        params = None if args.no_templates else TemplateParams(
            num_perm=args.num_perm, shingle=args.shingle, min_tokens=args.min_tokens,
            threshold=args.template_threshold, min_accounts=args.min_accounts)
        options = ReportOptions(title=args.title, period=args.period, as_of=args.as_of,
                                top=args.top, brands=_brand_names(args.brands), templates=params,
                                notes_format=args.notes_format, max_chars=args.max_chars,
                                workers=args.workers)
        result = build_report(args.scored, args.output, notes=args.notes, options=options)
    except ValueError as exc:  # InputError/FormatError included
        print(f"notecheck: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"report -> {result.html}")
    for path in result.csv_files:
        print(f"table  -> {path}")
    print(f"verdicts {result.verdicts:,} (bad {result.bad_verdicts:,}); notes {result.notes_read:,}"
          f" read, {result.joined:,} joined, {result.unscored:,} without verdict, "
          f"{result.bad_notes:,} invalid; {result.creators:,} creators, {result.brands:,} brands, "
          f"{result.clusters:,} template clusters; {result.elapsed_s:.1f}s")
    return EXIT_OK
