"""The report's rules and rankings: the 4:1 rule, partner thresholds, review score, brand
points and tiers, dates and periods, tables."""

from __future__ import annotations

from datetime import date

import pytest

from classifier.types import Author, Note, ProductTag
from serving.report.aggregate import Aggregator, Counts, brand_tier, rule_4to1
from serving.report.brands import BrandDictionary, note_brands
from serving.report.build import ReportOptions
from serving.report.dates import choose_period, parse_date, period_key
from serving.report.rank import brand_table, creator_table
from serving.report.tables import Table, percent


def _counts(sharing: int, undisclosed: int, declared: int) -> Counts:
    c = Counts()
    for label, n in (("sharing", sharing), ("undisclosed_ad", undisclosed), ("declared", declared)):
        for _ in range(n):
            c.add(label, "pass")
    return c


@pytest.mark.parametrize(("sharing", "undisclosed", "declared", "expected"), [
    (5, 0, 0, "no commercial"),
    (4, 0, 1, "ok"),
    (3, 0, 1, "below"),
    (8, 1, 1, "ok"),
    (7, 1, 1, "below"),
    (0, 1, 0, "below"),
])
def test_report_rule_4to1(sharing: int, undisclosed: int, declared: int, expected: str) -> None:
    assert rule_4to1(_counts(sharing, undisclosed, declared)) == expected


@pytest.mark.parametrize(("points", "tier"), [
    (0, "-"), (1, "-"), (2, "notice"), (3, "notice"), (4, "traffic limits"),
    (8, "traffic limits"), (9, "traffic limits"), (10, "28-day ban"), (40, "28-day ban"),
])
def test_report_brand_tier(points: int, tier: str) -> None:
    assert brand_tier(points) == tier


@pytest.mark.parametrize(("value", "day"), [
    ("2024-03-05T10:00:00+00:00", date(2024, 3, 5)),
    ("2024-03-05T23:30:00-05:00", date(2024, 3, 6)),  # converted to UTC
    ("2024-03-05T10:00:00Z", date(2024, 3, 5)),
    ("2024-03-05 10:00", date(2024, 3, 5)),
    ("2024-03-05", date(2024, 3, 5)),
    ("2024/3/5 08:00", date(2024, 3, 5)),
    ("2024.03.05", date(2024, 3, 5)),
    ("三天前", None),
    ("", None),
    (None, None),
])
def test_report_parse_date(value: str | None, day: date | None) -> None:
    assert parse_date(value) == day


def test_report_periods() -> None:
    assert period_key(date(2024, 1, 1), "week") == "2024-W01"
    assert period_key(date(2024, 12, 30), "week") == "2025-W01"  # ISO week year
    assert period_key(date(2024, 2, 29), "month") == "2024-02"
    assert choose_period(date(2024, 1, 1), date(2024, 5, 1)) == "week"
    assert choose_period(date(2024, 1, 1), date(2024, 12, 1)) == "month"
    assert choose_period(None, None) == "month"
    assert choose_period(date(2024, 1, 1), date(2024, 12, 1), "week") == "week"
    with pytest.raises(ValueError, match="period"):
        choose_period(None, None, "day")


def _note(i: int, author: str, day: str | None, views: int | None = None,
          followers: int | None = None, **kw: object) -> Note:
    return Note(id=f"n{i}", text="x", published_at=day, views=views,
                author=Author(id=author, name=author.upper(), followers=followers), **kw)  # type: ignore[arg-type]


def _row(table: Table, key: str, column: str = "creator_id") -> dict[str, str]:
    col = table.columns.index(column)
    row = next(r for r in table.rows if r[col] == key)
    return dict(zip(table.columns, row, strict=True))


def test_report_partner_window_uses_only_last_30_days_and_never_invents_views() -> None:
    agg = Aggregator(BrandDictionary(), "week", date(2024, 3, 31), stores_known=False)
    none = note_brands(Note(id="z", text="x"), BrandDictionary())
    notes = [
        _note(1, "a", "2024-03-30", views=20_000, followers=6_000),
        _note(2, "a", "2024-03-02", views=10_000),  # day 29 before as_of: inside
        _note(3, "a", "2024-03-01", views=0),  # exactly 30 days before: outside
        _note(4, "b", "2024-03-20", followers=4_999),  # no views
        _note(5, "c", "2024-01-01", views=50_000),  # nothing in the window
        _note(6, "d", None, views=50_000),
    ]
    for n in notes:
        agg.add(n, "sharing", "pass", none)
    table = creator_table(agg)
    a, b, c = _row(table, "a"), _row(table, "b"), _row(table, "c")
    assert (a["notes_30d"], a["avg_views_30d"], a["partner_views"]) == ("2", "15000", "yes")
    assert (a["followers"], a["partner_followers"]) == ("6000", "yes")
    assert (b["avg_views_30d"], b["partner_views"], b["partner_followers"]) == \
        ("no data", "unknown", "no")
    assert (c["avg_views_30d"], _row(table, "d")["partner_followers"]) == ("no notes", "unknown")
    undated = Aggregator(BrandDictionary(), "month", None, stores_known=False)
    undated.add(_note(1, "a", None, views=5), "sharing", "pass", none)
    assert _row(creator_table(undated), "a")["avg_views_30d"] == "no dates"


def test_report_review_score_and_brand_points() -> None:
    d = BrandDictionary()
    d.add("花西子官方旗舰店")
    agg = Aggregator(d, "month", None, stores_known=True)
    tagged = (ProductTag(name="面霜", store="花西子官方旗舰店"),)
    plan = [("undisclosed_ad", "block"), ("undisclosed_ad", "block"), ("undisclosed_ad", "review"),
            ("sharing", "pass")]
    for i, (label, decision) in enumerate(plan):
        note = _note(i, "a", None, product_tags=tagged)
        agg.add(note, label, decision, note_brands(note, d))
    agg.add_cluster([0, 0], ["花西子"])
    a = _row(creator_table(agg), "a")
    # 2 x 2 block + 1 review + 2 template notes + 2 (below 4:1) + 4 tags without a store
    assert a["review_score"] == str(4 + 1 + 2 + 2 + 4)
    brand = _row(brand_table(agg), "花西子", "key")
    assert (brand["points"], brand["tier"], brand["undisclosed_review"]) == ("6", "traffic limits", "1")
    assert (brand["via_tag"], brand["via_mention"], brand["via_text"]) == ("4", "0", "0")
    assert brand["top_creators"] == "A (4)"


def test_report_tables_and_options_validate() -> None:
    with pytest.raises(ValueError, match="row 0 has 1 cells, expected 2"):
        Table("t", "T", ("a", "b"), (("x",),))
    assert percent(1, 3) == "33.3%" and percent(0, 0) == "-"
    with pytest.raises(ValueError, match="period"):
        ReportOptions(period="day")
    with pytest.raises(ValueError, match="top"):
        ReportOptions(top=0)
