"""The report page: one self-contained HTML file (inline CSS and SVG, no script, no external
asset). Every piece of text from the data goes through :func:`html.escape`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from html import escape

from classifier.types import LABELS
from serving.report.aggregate import (
    BRAND_POINTS_BLOCK,
    BRAND_POINTS_TEMPLATE,
    NONCOMMERCIAL_PER_COMMERCIAL,
    PARTNER_MIN_AVG_VIEWS,
    PARTNER_MIN_FOLLOWERS,
    PARTNER_WINDOW_DAYS,
    SCORE_WEIGHTS,
)
from serving.report.svg import bars, stacked_bars, stacked_columns
from serving.report.tables import Table
from serving.report.templates import TemplateParams
from serving.report.verdicts import DECISIONS

__all__ = ["ReportData", "render"]


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows; tables are ``None`` when the input cannot give them (no notes)."""

    title: str
    scored_path: str
    notes_path: str | None
    generated: str
    labels: Table
    verdicts: int
    bad_verdicts: int = 0
    duplicate_verdicts: int = 0
    notes_read: int = 0
    bad_notes: int = 0
    joined: int = 0
    unscored: int = 0
    problems: tuple[str, ...] = ()
    period: str = "month"
    undated: int = 0
    as_of: date | None = None
    has_views: bool = False
    has_followers: bool = False
    stores_known: bool = False
    no_author: int = 0
    brand_names: int = 0
    signed: int = 0
    timeline: Table | None = None
    creators: Table | None = None
    brands: Table | None = None
    templates: Table | None = None
    clusters: int = 0
    params: TemplateParams | None = None
    top: int = 100
    csv_files: dict[str, str] = field(default_factory=dict)
    evidence: Table | None = None


_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f6f8fa;--accent:#3d7ab8;--bad:#d1495b}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB",
"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;color:var(--fg);
background:#fff;line-height:1.5;font-size:15px}
header{background:#23303f;color:#fff;padding:22px 32px}
header h1{margin:0 0 4px;font-size:24px;font-weight:600}
header p{margin:0;color:#c9d4df;font-size:13px}
header a{color:#fff}
header code{color:#fff;background:rgba(255,255,255,.14)}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:8px 32px;
z-index:2;font-size:14px}
nav a{margin-right:18px;color:var(--accent);text-decoration:none}
main{max-width:1280px;margin:0 auto;padding:8px 32px 48px}
h2{margin:36px 0 8px;font-size:20px;border-bottom:1px solid var(--line);padding-bottom:6px}
h3{margin:22px 0 6px;font-size:16px}
p.note,ul.note{color:var(--muted);font-size:13.5px;max-width:980px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}
.card{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:10px 16px;
min-width:150px}
.card b{display:block;font-size:22px}
.card span{color:var(--muted);font-size:12.5px}
.card.alert b{color:var(--bad)}
.row{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
.scroll{overflow-x:auto;max-width:100%;margin:6px 0 4px}
table{border-collapse:collapse;font-size:12.5px;white-space:nowrap}
th,td{border-bottom:1px solid var(--line);padding:4px 9px;text-align:left;vertical-align:top}
th{background:var(--bg);position:sticky;top:0;font-weight:600}
tbody tr:nth-child(even){background:#fbfcfd}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.snippet{white-space:normal;min-width:360px;max-width:640px}
.flag-below,.flag-no,.tier-ban,.tier-limits{color:var(--bad);font-weight:600}
.tier-notice{color:#b7791f;font-weight:600}
.csv{font-size:13px}
.cluster{border:1px solid var(--line);border-radius:8px;padding:4px 14px 10px;margin:14px 0}
.cluster h3 small{color:var(--muted);font-weight:400}
figure{margin:8px 0}
figcaption{color:var(--muted);font-size:12.5px}
code{background:var(--bg);padding:1px 4px;border-radius:4px;font-size:12.5px}
"""

_NUMERIC = {"rank", "followers", "notes", "sharing", "undisclosed", "undisclosed_block",
            "undisclosed_review", "declared", "commercial_share", "template_notes", "tag_no_store",
            "notes_30d", "avg_views_30d", "review_score", "creators", "undisclosed_share",
            "via_mention", "via_tag", "via_text", "template_clusters", "points", "pass",
            "review", "block", "total", "share", "similarity", "size", "accounts",
            "undisclosed_ad"}
_MEMBER_COLUMNS = ("note_id", "author_id", "author_name", "label", "decision", "similarity",
                   "brands", "snippet")
_CLASSES = {("rule_4to1", "below"): "flag-below", ("partner_followers", "no"): "flag-no",
            ("partner_views", "no"): "flag-no", ("tier", "28-day ban"): "tier-ban",
            ("tier", "traffic limits"): "tier-limits", ("tier", "notice"): "tier-notice"}


def _cell(column: str, value: str) -> str:
    classes = []
    if column in _NUMERIC:
        classes.append("num")
    if column == "snippet":
        classes.append("snippet")
    if (column, value) in _CLASSES:
        classes.append(_CLASSES[(column, value)])
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attr}>{escape(value)}</td>"


def html_table(table: Table, rows: Sequence[tuple[str, ...]] | None = None,
               columns: Sequence[str] | None = None) -> str:
    """``rows`` (default: all of the table's) as an HTML table marked ``data-table=NAME``, with
    ``columns`` (default: all) in the table's order."""
    keep = [i for i, c in enumerate(table.columns) if columns is None or c in columns]
    head = "".join(f"<th>{escape(table.columns[i])}</th>" for i in keep)
    body = "".join("<tr>" + "".join(_cell(table.columns[i], row[i]) for i in keep) + "</tr>"
                   for row in (table.rows if rows is None else rows))
    return (f'<div class="scroll"><table data-table="{escape(table.name)}"><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table></div>")


def _csv_link(data: ReportData, name: str) -> str:
    file = data.csv_files.get(name)
    if file is None:
        return ""
    return (f'<p class="csv">Full table: <a href="{escape(file)}" download>{escape(file)}</a>'
            "</p>")


def _card(value: str, label: str, alert: bool = False) -> str:
    return (f'<div class="card{" alert" if alert else ""}"><b>{escape(value)}</b>'
            f"<span>{escape(label)}</span></div>")


def _num(table: Table, row: tuple[str, ...], column: str) -> int:
    value = row[table.columns.index(column)]
    return int(value) if value.lstrip("-").isdigit() else 0


def _overview(data: ReportData) -> str:
    t = data.labels
    counts = {row[0]: row for row in t.rows}
    total = _num(t, counts["all"], "total")
    undisclosed = _num(t, counts["undisclosed_ad"], "total")
    commercial = undisclosed + _num(t, counts["declared"], "total")
    cards = [_card(f"{data.verdicts:,}", "verdicts"),
             _card(f"{100 * undisclosed / total:.1f}%" if total else "-", "undisclosed ads",
                   alert=undisclosed > 0),
             _card(f"{100 * commercial / total:.1f}%" if total else "-", "commercial (undisclosed + declared)")]
    if data.creators is not None:
        below = sum(1 for r in data.creators.rows if r[data.creators.columns.index("rule_4to1")]
                    == "below")
        cards.append(_card(f"{len(data.creators.rows):,}", "creators"))
        cards.append(_card(f"{below:,}", "creators below the 4:1 rule", alert=below > 0))
    if data.brands is not None:
        flagged = sum(1 for r in data.brands.rows if _num(data.brands, r, "points") >= 2)
        cards.append(_card(f"{flagged:,}", "brands with violation points", alert=flagged > 0))
    if data.templates is not None:
        cards.append(_card(f"{data.clusters:,}", "template clusters", alert=data.clusters > 0))
    by_label = [(label, [(d, _num(t, counts[label], d)) for d in DECISIONS]) for label in LABELS]
    chart = stacked_bars(by_label, "Notes by label, split by decision", width=560)
    shares = stacked_bars([("all notes", [(label, _num(t, counts[label], "total"))
                                          for label in LABELS])], "Label shares", width=560)
    return (f'<section id="overview"><h2>Overview</h2><div class="cards">{"".join(cards)}</div>'
            f'<div class="row"><figure>{chart}<figcaption>Labels by decision (pass / review / '
            f"block)</figcaption></figure><figure>{shares}<figcaption>Share of each label"
            f"</figcaption></figure></div>{html_table(t)}{_csv_link(data, 'labels')}"
            f"{_problems(data)}</section>{_evidence(data)}")


def _evidence(data: ReportData) -> str:
    if data.evidence is None:
        return ""
    t = data.evidence
    series = [(row[0], [(label, _num(t, row, label)) for label in LABELS]) for row in t.rows]
    chart = stacked_bars(series, "Verdicts by where their evidence was", width=560)
    return ('<section id="evidence"><h2>Where the evidence was</h2><p class="note">Each verdict '
            "is counted under every place its reasons point into: the note's title or text, its "
            "comments, the author's bio, its pictures (text read by OCR, QR codes); <em>none</em>: "
            "reasons with no place (the model's scores, a product tag, the sponsor flag). A "
            "verdict with evidence in several places is counted in each row.</p>"
            f"<figure>{chart}<figcaption>Verdicts by place of evidence, stacked by label"
            f"</figcaption></figure>{html_table(t)}{_csv_link(data, 'evidence')}</section>")


def _problems(data: ReportData) -> str:
    facts = []
    if data.bad_verdicts:
        facts.append(f"{_n(data.bad_verdicts, 'row')} of the scored file not usable as verdicts "
                     "(skipped).")
    if data.duplicate_verdicts:
        facts.append(f"{_n(data.duplicate_verdicts, 'verdict')} repeating an id already seen (the "
                     "first one was used).")
    if data.notes_path is not None:
        facts.append(f"{_n(data.notes_read, 'record')} read from the dump: {data.joined:,} "
                     f"matched a verdict by id, {data.unscored:,} without a verdict (failed or not "
                     f"yet scored), {data.bad_notes:,} invalid; only the matched notes are counted "
                     "below.")
        if data.notes_read and not data.joined:
            facts.append("No note matched a verdict: check that --notes is the dump that was "
                         "scored (ids are compared as strings).")
    items = "".join(f"<li>{escape(f)}</li>" for f in facts)
    samples = "".join(f"<li><code>{escape(p)}</code></li>" for p in data.problems)
    return (f'<ul class="note">{items}</ul>' if items else "") + (
        f'<p class="note">First problems:</p><ul class="note">{samples}</ul>' if samples else "")


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _timeline(data: ReportData) -> str:
    if data.timeline is None:
        return ""
    t = data.timeline
    if not t.rows:
        return ('<section id="time"><h2>Over time</h2><p class="note">The notes carry no '
                "dates (<code>published_at</code> / <code>time</code>), so there is no "
                "timeline.</p></section>")
    periods = [r[0] for r in t.rows]
    series = [(label, [_num(t, r, label) for r in t.rows]) for label in LABELS]
    undated = (f" {_n(data.undated, 'note')} without a readable date left out."
               if data.undated else "")
    return (f'<section id="time"><h2>Over time (by {escape(data.period)})</h2>'
            f"<figure>{stacked_columns(periods, series, f'Notes per {data.period} by label')}"
            f"<figcaption>Notes per {escape(data.period)}, stacked by label.{escape(undated)}"
            f"</figcaption></figure>{html_table(t)}{_csv_link(data, 'timeline')}</section>")


def _creators(data: ReportData) -> str:
    if data.creators is None:
        return _missing("creators", "Creators")
    t = data.creators
    ranked = [r for r in t.rows if _num(t, r, "review_score") > 0][: data.top]
    w = SCORE_WEIGHTS
    as_of = data.as_of.isoformat() if data.as_of else None
    views = ("" if data.has_views else " <b>The data has no view counts (<code>views</code>), "
             "so the views threshold cannot be checked: the column says <code>no data</code>."
             "</b>")
    followers = ("" if data.has_followers else " <b>The data has no follower counts, so the "
                 "followers threshold is <code>unknown</code>.</b>")
    window = (f"the {PARTNER_WINDOW_DAYS} days up to {as_of} (the newest date in the data unless "
              "<code>--as-of</code> was given)" if as_of else
              "the last month; the notes carry no dates, so it cannot be computed")
    stores = ("" if data.stores_known else " The dump records no stores (no author has "
              "<code>has_store</code> true), so <code>tag_no_store</code> is not counted.")
    unknown = (f" {_n(data.no_author, 'note')} without author id or name not attributed."
               if data.no_author else "")
    chart = bars([(r[t.columns.index("name")] or r[t.columns.index("creator_id")],
                   _num(t, r, "review_score")) for r in ranked[:12]], "Top review scores")
    return f"""<section id="creators"><h2>Creators</h2>
<ul class="note">
<li><b>4:1 rule</b>: the platform expects {NONCOMMERCIAL_PER_COMMERCIAL} non-commercial notes for
each sponsored one. Here commercial = <code>undisclosed_ad</code> + <code>declared</code>; a creator
with <code>sharing &lt; {NONCOMMERCIAL_PER_COMMERCIAL} × commercial</code> is <b>below</b>.</li>
<li><b>Brand-partner thresholds</b>: at least {PARTNER_MIN_FOLLOWERS:,} followers (largest value
seen) and on average at least {PARTNER_MIN_AVG_VIEWS:,} views per note over {window}.{followers}
{views}</li>
<li><b>Ranking</b>: review score = {w['undisclosed_block']} × undisclosed ads decided
<i>block</i> + {w['undisclosed_review']} × undisclosed ads decided <i>review</i> +
{w['template_note']} × notes in a cross-account template cluster + {w['below_4to1']} if below the
4:1 rule + {w['tag_no_store']} × notes with a product tag from an account without a store; ties by
undisclosed notes, then notes.{stores}{unknown}</li>
</ul>
<h3>Creators to review ({len(ranked):,} shown of {sum(1 for r in t.rows if _num(t, r, "review_score") > 0):,} with a score above 0; {len(t.rows):,} creators in all)</h3>
{f"<figure>{chart}</figure>" if ranked else '<p class="note">No creator has a review score above 0.</p>'}
{html_table(t, ranked)}{_csv_link(data, "creators")}</section>"""


def _brands(data: ReportData) -> str:
    if data.brands is None:
        return _missing("brands", "Brands")
    t = data.brands
    shown = t.rows[: data.top]
    chart_rows = [(r[t.columns.index("brand")], _num(t, r, "points")) for r in shown[:12] if _num(t, r, "points") > 0]
    chart = (f"<figure>{bars(chart_rows, 'Violation points', color='#b7791f')}</figure>"
             if chart_rows else "")
    return f"""<section id="brands"><h2>Brands</h2>
<ul class="note">
<li><b>Where brands come from</b>: @mentions, product tags (the store, else the product name), and
names found in the text: every @mention and tag store seen anywhere in the dump
({data.brand_names:,} names) is looked for in every note's title and text. Names are merged
by a key (case and width folded, shop suffixes such as 官方旗舰店 removed). An @mention is not always
a brand (people are mentioned too).</li>
<li><b>Violation points</b>, modelled on the platform's 品牌违规营销分: {BRAND_POINTS_BLOCK} points
per <code>undisclosed_ad</code> note decided <i>block</i> that names the brand, and
{BRAND_POINTS_TEMPLATE} per cross-account template cluster naming it; undisclosed ads decided
<i>review</i> are counted but earn no points until confirmed. Tiers: 2-3 notice, 4-9 traffic limits
(the platform says 4-8), 10 or more a 28-day ban.</li>
<li>Ranked by points, then undisclosed share, then notes.</li>
</ul>
<h3>{len(shown):,} of {len(t.rows):,} brands</h3>{chart}
{html_table(t, shown)}{_csv_link(data, "brands")}</section>"""


def _templates(data: ReportData) -> str:
    if data.templates is None:
        return _missing("templates", "Template clusters")
    t, p = data.templates, data.params
    how = (f"MinHash over jieba {p.shingle}-token shingles ({p.num_perm} hashes, LSH in "
           f"{p.bands} bands of {p.rows}); notes with at least {p.min_tokens} tokens "
           f"({data.signed:,} notes) are compared; a pair counts when its estimated Jaccard "
           f"similarity is at least {p.threshold:g}, and clusters are the connected groups of such "
           f"pairs with notes from at least {p.min_accounts} distinct accounts (notes without an "
           "author do not count as accounts). <i>near-duplicate</i>: every note at least 0.9 "
           "similar to the first; <i>template</i>: the same skeleton with more edits. "
           "<code>similarity</code> is each note's estimated similarity to the cluster's first "
           "note." if p is not None else "Template detection was switched off.")
    groups: dict[str, list[tuple[str, ...]]] = {}
    for row in t.rows:
        groups.setdefault(row[0], []).append(row)
    parts = []
    for name in list(groups)[: data.top]:
        rows = groups[name]
        first = rows[0]
        brands = sorted({b for r in rows for b in r[t.columns.index("brands")].split("; ") if b})
        brand_text = f" · brands: {', '.join(brands)}" if brands else ""
        parts.append(f'<div class="cluster"><h3>{escape(name)} <small>{escape(first[1])} · '
                     f"{escape(first[2])} notes · {escape(first[3])} accounts"
                     f"{escape(brand_text)}</small></h3>"
                     f"{html_table(t, rows, _MEMBER_COLUMNS)}</div>")
    body = "".join(parts) if parts else ('<p class="note">No cluster of near-duplicate notes '
                                         "across different accounts was found.</p>")
    more = (f'<p class="note">{len(groups) - data.top:,} more clusters in the CSV.</p>'
            if len(groups) > data.top else "")
    return (f'<section id="templates"><h2>Template clusters (虚假种草)</h2><p class="note">'
            f"{how}</p><h3>{data.clusters:,} clusters</h3>{body}{more}"
            f"{_csv_link(data, 'templates')}</section>")


def _missing(anchor: str, title: str) -> str:
    return (f'<section id="{anchor}"><h2>{escape(title)}</h2><p class="note">Needs the notes: '
            "pass the original dump with <code>--notes INPUT</code>.</p></section>")


def render(data: ReportData) -> str:
    """The whole page as a string."""
    notes = (f" · notes <code>{escape(data.notes_path)}</code>" if data.notes_path else "")
    nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in (
        ("overview", "Overview"), ("evidence", "Evidence"), ("time", "Over time"), ("creators", "Creators"),
        ("brands", "Brands"), ("templates", "Templates")))
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(data.title)}</title><style>{_CSS}</style></head>
<body><header><h1>{escape(data.title)}</h1>
<p>verdicts <code>{escape(data.scored_path)}</code>{notes} · generated {escape(data.generated)}</p>
</header><nav>{nav}</nav><main>
{_overview(data)}{_timeline(data)}{_creators(data)}{_brands(data)}{_templates(data)}
</main></body></html>
"""
