"""``build_report``: read a scored file (and the original dump), write the HTML page and its CSVs.

Passes, each streaming:

1. the verdicts: label/decision counts, and a compact id index for the join
   (:class:`~serving.report.verdicts.VerdictIndex`);
2. the notes, first time: the brand dictionary (every @mention and tag store), the date range
   (for the period and the partner window) and whether the dump records stores;
3. the notes, second time: join each note to its verdict, count it per period, creator and brand,
   and keep its MinHash signature;
4. LSH over the signatures: template clusters;
5. the notes, third time (only when there are clusters): the clustered notes' ids, authors,
   brands and snippets.

Memory grows with the number of creators and brands (dicts of small counters), about 9 bytes per
verdict and ``2 * num_perm`` bytes per signed note; never with the notes' text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from classifier.errors import FormatError
from classifier.formats import read_records
from classifier.notes import DEFAULT_MAX_CHARS
from classifier.types import Note
from serving.report.aggregate import Aggregator, Counts
from serving.report.brands import BrandDictionary, note_brands
from serving.report.dates import PERIODS, choose_period, parse_date
from serving.report.evidence import EvidenceCounts
from serving.report.html import ReportData, render
from serving.report.rank import (
    Member,
    brand_table,
    creator_table,
    label_table,
    template_table,
    timeline_table,
)
from serving.report.signing import Signer
from serving.report.tables import Table, write_csv
from serving.report.templates import Cluster, SignatureStore, TemplateParams, find_clusters
from serving.report.verdicts import VerdictIndex, VerdictRow, read_verdicts

__all__ = ["ReportOptions", "ReportResult", "build_report"]

MAX_PROBLEMS = 5
SNIPPET_CHARS = 90


@dataclass(frozen=True)
class ReportOptions:
    """How the report is built. ``period``: ``auto``, ``week`` or ``month``; ``as_of``: the end of
    the partner window (default: the newest date in the dump); ``top``: rows (clusters) shown per
    table on the page, the CSVs hold all; ``brands``: extra brand names to look for in text;
    ``templates``: ``None`` switches template detection off; ``workers``: processes that segment
    and sign the notes for template detection (jieba is most of the cost)."""

    title: str = "notecheck compliance report"
    period: str = "auto"
    as_of: date | None = None
    top: int = 100
    brands: tuple[str, ...] = ()
    templates: TemplateParams | None = field(default_factory=TemplateParams)
    notes_format: str | None = None
    max_chars: int = DEFAULT_MAX_CHARS
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1 process, got {self.workers}")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {self.period!r}")
        if self.top < 1:
            raise ValueError(f"top must be at least 1 row, got {self.top}")


@dataclass(frozen=True)
class ReportResult:
    """What was written and what was counted."""

    html: Path
    csv_files: tuple[Path, ...]
    verdicts: int
    bad_verdicts: int
    notes_read: int
    joined: int
    unscored: int
    bad_notes: int
    creators: int
    brands: int
    clusters: int
    elapsed_s: float


@dataclass
class _Scan:
    dictionary: BrandDictionary
    first: date | None = None
    last: date | None = None
    stores_known: bool = False
    notes: int = 0
    bad: int = 0
    problems: list[str] = field(default_factory=list)


def build_report(scored: Path, output: Path, *, notes: Path | None = None,
                 options: ReportOptions | None = None) -> ReportResult:
    """Write ``output`` (HTML) and ``<stem>.<table>.csv`` beside it; see the module docstring.

    Raises :class:`~classifier.errors.FormatError` when an input cannot be read at all; bad rows
    are skipped, counted and named in the page.
    """
    started = time.perf_counter()
    options = options or ReportOptions()
    scored, output = Path(scored), Path(output)
    if not scored.is_file():
        raise FormatError(f"no such scored file: {str(scored)!r}; give the output of "
                          "`notecheck score`")
    if notes is not None and not Path(notes).is_file():
        raise FormatError(f"no such notes file: {str(notes)!r}; give the dump that was scored")
    if output.suffix.lower() not in (".html", ".htm"):
        raise FormatError(f"the report is HTML: give an output ending in .html, got {str(output)!r}")
    output.parent.mkdir(parents=True, exist_ok=True)

    index, counts, evidence, bad_verdicts, problems = _read_verdicts(scored)
    tables: dict[str, Table] = {"labels": label_table(counts), "evidence": evidence.table()}
    part = _from_notes(Path(notes), options, index) if notes is not None else None
    if part is not None:
        problems += part.scan.problems
        tables.update(part.tables)
    csv_files = {name: t.csv_path(output).name for name, t in tables.items()}
    written = tuple(write_csv(t, t.csv_path(output)) for t in tables.values())
    page = _page(scored, notes, options, tables, csv_files, counts.total,
                 bad_verdicts, index.duplicates, problems, part)
    output.write_text(render(page), encoding="utf-8")
    return ReportResult(
        html=output, csv_files=written, verdicts=counts.total, bad_verdicts=bad_verdicts,
        notes_read=page.notes_read, joined=page.joined, unscored=page.unscored,
        bad_notes=page.bad_notes, creators=len(part.agg.creator_list) if part else 0,
        brands=len(part.agg.brands) if part else 0, clusters=page.clusters,
        elapsed_s=time.perf_counter() - started)


@dataclass(frozen=True)
class _NotesPart:
    scan: _Scan
    agg: Aggregator
    store: SignatureStore | None
    clusters: list[Cluster]
    tables: dict[str, Table]


def _from_notes(notes: Path, options: ReportOptions, index: VerdictIndex) -> _NotesPart:
    scan = _scan(notes, options)
    period = choose_period(scan.first, scan.last, options.period)
    agg = Aggregator(scan.dictionary, period, options.as_of or scan.last, scan.stores_known)
    store = _join(notes, options, index, agg)
    clusters = (find_clusters(store, options.templates)
                if options.templates is not None and store is not None else [])
    members = _members(notes, options, clusters, index, agg) if clusters else {}
    tables = {"timeline": timeline_table(agg), "creators": creator_table(agg),
              "brands": brand_table(agg), "templates": template_table(clusters, members)}
    return _NotesPart(scan, agg, store, clusters, tables)


def _page(scored: Path, notes: Path | None, options: ReportOptions, tables: dict[str, Table],
          csv_files: dict[str, str], verdicts: int, bad_verdicts: int, duplicates: int,
          problems: list[str], part: _NotesPart | None) -> ReportData:
    base = ReportData(title=options.title, scored_path=str(scored), notes_path=None,
                      generated=_now(), labels=tables["labels"], verdicts=verdicts,
                      bad_verdicts=bad_verdicts, duplicate_verdicts=duplicates,
                      problems=tuple(problems[:MAX_PROBLEMS]), top=options.top,
                      csv_files=csv_files, evidence=tables["evidence"])
    if part is None or notes is None:
        return base
    scan, agg = part.scan, part.agg
    return replace(
        base, notes_path=str(notes), notes_read=scan.notes + scan.bad, bad_notes=scan.bad,
        joined=agg.counts.total, unscored=scan.notes - agg.counts.total, period=agg.period,
        undated=agg.undated, as_of=agg.as_of, has_views=agg.with_views > 0,
        has_followers=agg.with_followers > 0, stores_known=scan.stores_known,
        no_author=agg.no_author, brand_names=len(scan.dictionary),
        signed=part.store.n if part.store is not None else 0, params=options.templates,
        clusters=len(part.clusters), timeline=tables["timeline"], creators=tables["creators"],
        brands=tables["brands"], templates=tables["templates"])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read_verdicts(path: Path) -> tuple[VerdictIndex, Counts, EvidenceCounts, int, list[str]]:
    index, counts, evidence, bad = VerdictIndex(), Counts(), EvidenceCounts(), 0
    problems: list[str] = []
    for item in read_verdicts(path):
        if isinstance(item, VerdictRow):
            index.add(item.id, item.label, item.decision)
            counts.add(item.label, item.decision)
            evidence.add(item.label, item.places)
        else:
            bad += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"scored file {item}")
    index.freeze()
    return index, counts, evidence, bad, problems


def _notes(path: Path, options: ReportOptions, scan: _Scan | None = None) -> Iterator[tuple[int, Note]]:
    for record in read_records(path, options.notes_format, max_chars=options.max_chars):
        if record.note is not None:
            yield record.row, record.note
        elif scan is not None and record.error is not None:
            scan.bad += 1
            if len(scan.problems) < MAX_PROBLEMS:
                scan.problems.append(f"notes {record.error}")


def _scan(path: Path, options: ReportOptions) -> _Scan:
    scan = _Scan(BrandDictionary())
    for name in options.brands:
        scan.dictionary.add(name)
    for _, note in _notes(path, options, scan):
        scan.notes += 1
        scan.dictionary.learn(note)
        scan.stores_known = scan.stores_known or note.author.has_store
        day = parse_date(note.published_at)
        if day is not None:
            scan.first = day if scan.first is None else min(scan.first, day)
            scan.last = day if scan.last is None else max(scan.last, day)
    return scan


def _template_text(note: Note) -> str:
    return f"{note.title}\n{note.text}"


def _join(path: Path, options: ReportOptions, index: VerdictIndex,
          agg: Aggregator) -> SignatureStore | None:
    params = options.templates
    if params is None:
        for _, note in _notes(path, options):
            verdict = index.get(note.id)
            if verdict is not None:
                agg.add(note, *verdict, note_brands(note, agg.dictionary))
        return None
    store = SignatureStore(params.num_perm)
    with Signer[tuple[int, int]](params, options.workers) as signer:
        for row, note in _notes(path, options):
            verdict = index.get(note.id)
            if verdict is None:
                continue
            creator = agg.add(note, *verdict, note_brands(note, agg.dictionary))
            for (r, c), signature in signer.add((row, creator), _template_text(note)):
                store.add(signature, r, c)
        for (r, c), signature in signer.close():
            store.add(signature, r, c)
    return store


def _snippet(note: Note) -> str:
    text = " ".join(f"{note.title} {note.text}".split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _members(path: Path, options: ReportOptions, clusters: list[Cluster], index: VerdictIndex,
             agg: Aggregator) -> dict[int, Member]:
    """Fetch the clustered notes (by row) and credit each cluster to its creators and brands."""
    wanted = {row for c in clusters for row in c.rows}
    last = max(wanted)
    found: dict[int, tuple[Member, int, frozenset[str]]] = {}
    for row, note in _notes(path, options):
        if row > last:
            break
        if row not in wanted:
            continue
        label, decision = index.get(note.id) or ("", "")
        keys = note_brands(note, agg.dictionary).all
        author = note.author
        found[row] = (Member(note.id, author.id or "", author.name or "", label, decision,
                             "; ".join(sorted(agg.dictionary.display(k) for k in keys)),
                             _snippet(note)),
                      agg.creator_index.get(author.id or author.name or "", -1), keys)
    for cluster in clusters:
        hits = [found[r] for r in cluster.rows if r in found]
        agg.add_cluster((h[1] for h in hits), (k for h in hits for k in h[2]))
    return {row: hit[0] for row, hit in found.items()}
