"""Counts gathered one note at a time (labels by period, per creator, per brand) and the platform
rules and rankings that turn them into the report's tables.

Rules (the figures come from the platform's published policies, see ``DOMAIN.md``):

* **4:1 rule** — four non-commercial notes for each commercial one. *Commercial* means
  ``undisclosed_ad`` or ``declared``; a creator with ``sharing < 4 * commercial`` is ``below``.
* **Brand-partner thresholds** — at least 5,000 followers (``author.followers``, the largest value
  seen) and 10,000 views per note on average over the 30 days up to the reference date (the
  ``as_of`` date, by default the newest date in the dump), from the notes' ``views``. Where the data
  lacks followers, dates or views the table says so (``unknown``, ``no dates``, ``no data``); nothing
  is estimated.
* **Creator review score** — ``2 × undisclosed_ad notes decided block + 1 × undisclosed_ad notes
  decided review + 1 × notes in a cross-account template cluster + 2 if below the 4:1 rule + 1 ×
  notes with a product tag from an account without a store`` (the last counted only when the dump
  records stores at all). Creators are ranked by score, then undisclosed notes, then notes.
* **Brand violation points** (modelled on 品牌违规营销分) — ``2`` points per ``undisclosed_ad`` note
  decided ``block`` that names the brand, ``2`` per cross-account template cluster naming it;
  ``undisclosed_ad`` notes decided ``review`` are shown but earn no points until confirmed. Tiers as
  the platform's: ``2-3`` notice, ``4-9`` traffic limits (the platform says 4-8; 9 is treated as
  limits), ``>= 10`` 28-day ban.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta

from classifier.types import LABELS, Note
from serving.report.brands import BrandDictionary, NoteBrands
from serving.report.dates import Period, parse_date, period_key
from serving.report.verdicts import DECISIONS, encode

__all__ = [
    "BRAND_POINTS_BLOCK",
    "BRAND_POINTS_TEMPLATE",
    "NONCOMMERCIAL_PER_COMMERCIAL",
    "PARTNER_MIN_AVG_VIEWS",
    "PARTNER_MIN_FOLLOWERS",
    "PARTNER_WINDOW_DAYS",
    "SCORE_WEIGHTS",
    "Aggregator",
    "BrandStats",
    "Counts",
    "CreatorStats",
    "brand_tier",
    "rule_4to1",
]

NONCOMMERCIAL_PER_COMMERCIAL = 4
PARTNER_MIN_FOLLOWERS = 5_000
PARTNER_MIN_AVG_VIEWS = 10_000
PARTNER_WINDOW_DAYS = 30
SCORE_WEIGHTS = {"undisclosed_block": 2, "undisclosed_review": 1, "template_note": 1,
                 "below_4to1": 2, "tag_no_store": 1}
BRAND_POINTS_BLOCK = 2
BRAND_POINTS_TEMPLATE = 2
TOP_CREATORS_PER_BRAND = 3


class Counts:
    """Notes by (label, decision): nine counters."""

    __slots__ = ("cells",)

    def __init__(self) -> None:
        self.cells = [0] * 9

    def add(self, label: str, decision: str) -> None:
        self.cells[encode(label, decision)] += 1

    def cell(self, label: str, decision: str) -> int:
        return self.cells[encode(label, decision)]

    def label(self, label: str) -> int:
        i = LABELS.index(label)
        return sum(self.cells[3 * i:3 * i + 3])

    def decision(self, decision: str) -> int:
        j = DECISIONS.index(decision)
        return sum(self.cells[j::3])

    @property
    def total(self) -> int:
        return sum(self.cells)

    @property
    def commercial(self) -> int:
        return self.label("undisclosed_ad") + self.label("declared")


class CreatorStats:
    """One account's notes and facts; ``key`` is the author id, else the name."""

    __slots__ = ("account_type", "counts", "followers", "id", "key", "name", "tag_no_store",
                 "template_notes", "window_notes", "window_views", "window_views_n")

    def __init__(self, key: str) -> None:
        self.key = key
        self.id: str | None = None
        self.name: str | None = None
        self.account_type = "personal"
        self.followers: int | None = None
        self.counts = Counts()
        self.tag_no_store = 0
        self.template_notes = 0
        self.window_notes = 0
        self.window_views = 0
        self.window_views_n = 0


class BrandStats:
    """One brand's notes, the creators naming it and where it was found."""

    __slots__ = ("counts", "creators", "key", "template_clusters", "via_mention", "via_tag",
                 "via_text")

    def __init__(self, key: str) -> None:
        self.key = key
        self.counts = Counts()
        self.creators: Counter[int] = Counter()
        self.via_mention = 0
        self.via_tag = 0
        self.via_text = 0
        self.template_clusters = 0

    @property
    def points(self) -> int:
        return (BRAND_POINTS_BLOCK * self.counts.cell("undisclosed_ad", "block")
                + BRAND_POINTS_TEMPLATE * self.template_clusters)


def rule_4to1(counts: Counts) -> str:
    """``ok``, ``below`` (fewer than four sharing notes per commercial one) or ``no commercial``."""
    commercial = counts.commercial
    if commercial == 0:
        return "no commercial"
    ok = counts.label("sharing") >= NONCOMMERCIAL_PER_COMMERCIAL * commercial
    return "ok" if ok else "below"


def brand_tier(points: int) -> str:
    """The platform's consequence for a violation score."""
    if points >= 10:
        return "28-day ban"
    if points >= 4:
        return "traffic limits"
    if points >= 2:
        return "notice"
    return "-"


class Aggregator:
    """Feed every (note, verdict) pair to :meth:`add`; then :meth:`add_cluster` for each template
    cluster, and read the tables.

    ``as_of`` is the reference date of the partner window (``None`` when the notes carry no
    dates); ``stores_known`` says whether the dump records stores at all (then a product tag on
    a note by an account without a store counts as an anomaly).
    """

    def __init__(self, dictionary: BrandDictionary, period: Period, as_of: date | None,
                 stores_known: bool) -> None:
        self.dictionary = dictionary
        self.period = period
        self.as_of = as_of
        self.stores_known = stores_known
        self.counts = Counts()
        self.timeline: dict[str, Counts] = {}
        self.undated = 0
        self.no_author = 0
        self.with_views = 0
        self.with_followers = 0
        self.creator_index: dict[str, int] = {}
        self.creator_list: list[CreatorStats] = []
        self.brands: dict[str, BrandStats] = {}

    def add(self, note: Note, label: str, decision: str, brands: NoteBrands) -> int:
        """Count one scored note; returns its creator's index (``-1`` without an author)."""
        self.counts.add(label, decision)
        day = parse_date(note.published_at)
        if day is None:
            self.undated += 1
        else:
            self.timeline.setdefault(period_key(day, self.period), Counts()).add(label, decision)
        self.with_views += note.views is not None
        self.with_followers += note.author.followers is not None
        index = self._add_creator(note, label, decision, day)
        for key in brands.all:
            stats = self.brands.get(key)
            if stats is None:
                stats = self.brands[key] = BrandStats(key)
            stats.counts.add(label, decision)
            if index >= 0:
                stats.creators[index] += 1
            stats.via_mention += key in brands.mentioned
            stats.via_tag += key in brands.tagged
            stats.via_text += key not in brands.mentioned and key not in brands.tagged
        return index

    def _add_creator(self, note: Note, label: str, decision: str, day: date | None) -> int:
        author = note.author
        key = author.id or author.name
        if not key:
            self.no_author += 1
            return -1
        index = self.creator_index.get(key)
        if index is None:
            index = self.creator_index[key] = len(self.creator_list)
            self.creator_list.append(CreatorStats(key))
        stats = self.creator_list[index]
        stats.id = author.id or stats.id
        stats.name = author.name or stats.name
        stats.account_type = author.account_type
        if author.followers is not None:
            stats.followers = max(stats.followers or 0, author.followers)
        stats.counts.add(label, decision)
        if self.stores_known and note.product_tags and not author.has_store:
            stats.tag_no_store += 1
        if self.as_of is not None and day is not None and \
                self.as_of - timedelta(days=PARTNER_WINDOW_DAYS) < day <= self.as_of:
            stats.window_notes += 1
            if note.views is not None:
                stats.window_views += note.views
                stats.window_views_n += 1
        return index

    def add_cluster(self, creator_indices: Iterable[int], brand_keys: Iterable[str]) -> None:
        """Credit one cross-account template cluster to its members' creators and its brands."""
        for index in creator_indices:
            if index >= 0:
                self.creator_list[index].template_notes += 1
        for key in set(brand_keys):
            if key in self.brands:
                self.brands[key].template_clusters += 1
