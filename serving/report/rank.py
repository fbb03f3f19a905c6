"""The report's tables, ranked: labels, timeline, creators to review, brands by violation points,
template clusters. The rules and formulas are documented in :mod:`serving.report.aggregate`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from classifier.types import LABELS
from serving.report.aggregate import (
    PARTNER_MIN_AVG_VIEWS,
    PARTNER_MIN_FOLLOWERS,
    SCORE_WEIGHTS,
    TOP_CREATORS_PER_BRAND,
    Aggregator,
    BrandStats,
    Counts,
    CreatorStats,
    brand_tier,
    rule_4to1,
)
from serving.report.tables import Table, percent
from serving.report.templates import Cluster
from serving.report.verdicts import DECISIONS

__all__ = ["Member", "brand_table", "creator_score", "creator_table", "label_table",
           "template_table", "timeline_table"]

CREATOR_COLUMNS = (
    "rank", "creator_id", "name", "review_score", "notes", "undisclosed", "undisclosed_block",
    "declared", "sharing", "commercial_share", "rule_4to1", "template_notes", "tag_no_store",
    "followers", "partner_followers", "notes_30d", "avg_views_30d", "partner_views",
    "account_type",
)
BRAND_COLUMNS = (
    "rank", "brand", "points", "tier", "notes", "creators", "undisclosed", "undisclosed_share",
    "undisclosed_block", "undisclosed_review", "declared", "sharing", "template_clusters",
    "via_mention", "via_tag", "via_text", "key", "top_creators",
)
TEMPLATE_COLUMNS = (
    "cluster", "kind", "size", "accounts", "note_id", "author_id", "author_name", "label",
    "decision", "similarity", "brands", "snippet",
)


@dataclass(frozen=True)
class Member:
    """What the templates table shows of one clustered note."""

    note_id: str
    author_id: str
    author_name: str
    label: str
    decision: str
    brands: str
    snippet: str


def label_table(counts: Counts) -> Table:
    rows = [(label, *(str(counts.cell(label, d)) for d in DECISIONS), str(counts.label(label)),
             percent(counts.label(label), counts.total)) for label in LABELS]
    rows.append(("all", *(str(counts.decision(d)) for d in DECISIONS), str(counts.total),
                 percent(counts.total, counts.total)))
    return Table("labels", "Labels by decision", ("label", *DECISIONS, "total", "share"),
                 tuple(rows))


def timeline_table(agg: Aggregator) -> Table:
    rows = []
    for period in sorted(agg.timeline):
        c = agg.timeline[period]
        rows.append((period, str(c.total), *(str(c.label(label)) for label in LABELS),
                     percent(c.commercial, c.total), percent(c.label("undisclosed_ad"), c.total)))
    return Table("timeline", f"Notes by {agg.period}",
                 ("period", "notes", *LABELS, "commercial_share", "undisclosed_share"), tuple(rows))


def creator_score(stats: CreatorStats) -> int:
    """The review score of :mod:`serving.report.aggregate`'s docstring."""
    c = stats.counts
    return (SCORE_WEIGHTS["undisclosed_block"] * c.cell("undisclosed_ad", "block")
            + SCORE_WEIGHTS["undisclosed_review"] * c.cell("undisclosed_ad", "review")
            + SCORE_WEIGHTS["template_note"] * stats.template_notes
            + SCORE_WEIGHTS["below_4to1"] * (rule_4to1(c) == "below")
            + SCORE_WEIGHTS["tag_no_store"] * stats.tag_no_store)


def _views(stats: CreatorStats, dated: bool) -> tuple[str, str]:
    """(average views in the window, whether it meets the threshold)."""
    if not dated:
        return "no dates", "unknown"
    if stats.window_notes == 0:
        return "no notes", "unknown"
    if stats.window_views_n == 0:
        return "no data", "unknown"
    average = stats.window_views / stats.window_views_n
    return f"{average:.0f}", "yes" if average >= PARTNER_MIN_AVG_VIEWS else "no"


def creator_table(agg: Aggregator) -> Table:
    """All creators, ranked by review score, then undisclosed notes, then notes."""
    scored = sorted(((creator_score(s), s) for s in agg.creator_list),
                    key=lambda p: (-p[0], -p[1].counts.label("undisclosed_ad"),
                                   -p[1].counts.total, p[1].key))
    rows = []
    for rank, (score, s) in enumerate(scored, start=1):
        c = s.counts
        avg, views_ok = _views(s, agg.as_of is not None)
        followers_ok = ("unknown" if s.followers is None
                        else "yes" if s.followers >= PARTNER_MIN_FOLLOWERS else "no")
        values = {
            "rank": str(rank), "creator_id": s.id or "", "name": s.name or "",
            "review_score": str(score), "notes": str(c.total),
            "undisclosed": str(c.label("undisclosed_ad")),
            "undisclosed_block": str(c.cell("undisclosed_ad", "block")),
            "declared": str(c.label("declared")), "sharing": str(c.label("sharing")),
            "commercial_share": percent(c.commercial, c.total), "rule_4to1": rule_4to1(c),
            "template_notes": str(s.template_notes), "tag_no_store": str(s.tag_no_store),
            "followers": "" if s.followers is None else str(s.followers),
            "partner_followers": followers_ok,
            "notes_30d": str(s.window_notes) if agg.as_of else "", "avg_views_30d": avg,
            "partner_views": views_ok, "account_type": s.account_type,
        }
        rows.append(tuple(values[col] for col in CREATOR_COLUMNS))
    return Table("creators", "Creators", CREATOR_COLUMNS, tuple(rows))


def _top_creators(stats: BrandStats, agg: Aggregator) -> str:
    top = sorted(stats.creators.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CREATORS_PER_BRAND]
    names = []
    for index, n in top:
        creator = agg.creator_list[index]
        names.append(f"{creator.name or creator.key} ({n})")
    return "; ".join(names)


def brand_table(agg: Aggregator) -> Table:
    """All brands, ranked by violation points, then undisclosed share, then notes."""
    def share(s: BrandStats) -> float:
        return s.counts.label("undisclosed_ad") / s.counts.total if s.counts.total else 0.0

    ranked = sorted(agg.brands.values(),
                    key=lambda s: (-s.points, -share(s), -s.counts.total, s.key))
    rows = []
    for rank, s in enumerate(ranked, start=1):
        c = s.counts
        values = {
            "rank": str(rank), "brand": agg.dictionary.display(s.key), "points": str(s.points),
            "tier": brand_tier(s.points), "notes": str(c.total), "creators": str(len(s.creators)),
            "undisclosed": str(c.label("undisclosed_ad")),
            "undisclosed_share": percent(c.label("undisclosed_ad"), c.total),
            "undisclosed_block": str(c.cell("undisclosed_ad", "block")),
            "undisclosed_review": str(c.cell("undisclosed_ad", "review")),
            "declared": str(c.label("declared")), "sharing": str(c.label("sharing")),
            "template_clusters": str(s.template_clusters), "via_mention": str(s.via_mention),
            "via_tag": str(s.via_tag), "via_text": str(s.via_text), "key": s.key,
            "top_creators": _top_creators(s, agg),
        }
        rows.append(tuple(values[col] for col in BRAND_COLUMNS))
    return Table("brands", "Brands", BRAND_COLUMNS, tuple(rows))


def template_table(clusters: Sequence[Cluster], members: Mapping[int, Member]) -> Table:
    """One row per clustered note; clusters are named ``T1``, ``T2`` ... in the given order."""
    rows = []
    for number, cluster in enumerate(clusters, start=1):
        for row, similarity in zip(cluster.rows, cluster.similarity, strict=True):
            m = members.get(row)
            if m is None:
                continue
            rows.append((f"T{number}", cluster.kind, str(len(cluster.rows)), str(cluster.accounts),
                         m.note_id, m.author_id, m.author_name, m.label, m.decision,
                         f"{similarity:.2f}", m.brands, m.snippet))
    return Table("templates", "Template clusters", TEMPLATE_COLUMNS, tuple(rows))
