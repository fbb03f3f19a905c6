"""`notecheck report` end to end on a generated dump with known creators, brands and planted
template clusters: the clusters found are exactly the planted ones, the per-creator and per-brand
counts match, the CSVs match the HTML tables, and note text is escaped."""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from serving.report import ReportOptions, ReportResult, add_report_command, build_report

START = date(2024, 3, 4)
LAST = START + timedelta(days=69)

_WORD_LIST = (
    "今天 周末 早上 下午 晚上 公园 地铁 咖啡 面包 米饭 面条 火锅 烧烤 水果 西瓜 草莓 蛋糕 奶茶 "
    "散步 跑步 爬山 游泳 瑜伽 看书 电影 音乐 画画 拍照 旅行 酒店 民宿 海边 森林 湖边 小猫 小狗 "
    "朋友 同事 家人 孩子 妈妈 爸爸 邻居 老师 学生 工作 加班 开会 考试 复习 做饭 洗碗 打扫 收纳 "
    "阳台 厨房 卧室 客厅 窗帘 沙发 书桌 台灯 雨天 晴天 下雪 刮风 春天 夏天 秋天 冬天 开心 难过 "
    "疲惫 放松 满足 惊喜 无聊 紧张 安静 热闹 温柔 可爱 认真 简单 复杂 便宜 昂贵 干净 整齐 新鲜 "
    "记录 分享 计划 总结 回忆 发现 尝试 坚持 放弃 改变 习惯 生活 城市 乡村 街道 小巷 图书馆 "
    "博物馆 菜市场 超市 公交 自行车 高铁 飞机 行李 地图 日记 手账 钢笔 相机 耳机 雨伞"
)
WORDS = _WORD_LIST.split()

TEMPLATE_A = ("姐妹们！最近挖到一个{w1}面霜，@花西子官方旗舰店 家的新品，用了{n}天脸上的痘印真的淡了"
              "好多，朋友推荐的内部渠道拿的，价格比专柜便宜一半，质地清爽不油腻，敏感肌也能放心用，"
              "{w2}建议大家试试，想要的私信我～ {tag}")
TEMPLATE_B = ("{extra}打工人必备的{w1}茶！喝了{n}周小肚子肉眼可见地平了，追光茶饮的配方都是纯天然草本，不节食"
              "不运动也能瘦，已经回购了三次，身边同事都在问链接，{w2}评论区扣1我发你购买方式")
TEMPLATE_C = ("新开的这家健身房环境真的很好，器械很新，私教课体验了一次很专业，现在办卡有优惠，地址在"
              "万达广场三楼，需要的宝子可以找我拿体验券")
SOLO = "今天在家做了番茄牛腩，炖了两个小时，牛腩软烂入味，汤汁拌饭能吃两碗，周末做饭真的很治愈"
SCRIPT_NAME = "<script>alert('name')</script>"


@dataclass
class Dump:
    notes: Path
    verdicts: Path
    clusters: set[frozenset[str]]
    creators: dict[str, dict[str, int]]
    brands: dict[str, dict[str, Any]]
    authors: dict[str, str] = field(default_factory=dict)


class _Builder:
    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.notes: list[dict[str, Any]] = []
        self.verdicts: list[dict[str, Any]] = []
        self.creators: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.brands: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"notes": 0, "undisclosed": 0, "block": 0, "creators": set()})
        self.authors: dict[str, str] = {}

    def salad(self) -> str:
        words = self.rng.sample(WORDS, self.rng.randint(18, 26))
        return "，".join("".join(words[i:i + 3]) for i in range(0, len(words), 3))

    def add(self, author: str | None, text: str, label: str, decision: str, *,
            brands: tuple[str, ...] = (), day: date | None = None, **extra: Any) -> str:
        note_id = f"n{len(self.notes) + 1:03d}"
        day = day or START + timedelta(days=self.rng.randint(0, 69))
        info = extra.pop("author_info", {})
        note: dict[str, Any] = {"id": note_id, "text": text, "published_at": day.isoformat(),
                                **extra}
        if author is not None:
            note["author"] = {"id": author, "name": self.authors.get(author, author), **info}
            c = self.creators[author]
            c["notes"] += 1
            c[label] += 1
            c["undisclosed_block"] += label == "undisclosed_ad" and decision == "block"
        for key in brands:
            b = self.brands[key]
            b["notes"] += 1
            b["undisclosed"] += label == "undisclosed_ad"
            b["block"] += label == "undisclosed_ad" and decision == "block"
            if author is not None:
                b["creators"].add(author)
        self.notes.append(note)
        self.verdicts.append({"id": note_id, "label": label, "scores": {label: 0.9},
                              "decision": decision, "reasons": [], "model_version": "t",
                              "policy_version": "t", "model_scores": {}})
        return note_id


def make_dump(folder: Path) -> Dump:
    b = _Builder()
    b.authors.update({"u_honest": "认真生活的阿May", "u_small": "小透明", "t4": SCRIPT_NAME})
    honest = {"followers": 12_000}
    clusters: list[set[str]] = [set(), set(), set()]
    # an honest creator: partner-eligible, tags Lancôme products (without a store), names brands
    for i in range(12):
        day = LAST - timedelta(days=3 * i)
        kw: dict[str, Any] = {"views": 15_000, "author_info": honest}
        brands: tuple[str, ...] = ()
        text = b.salad()
        if i < 3:
            kw["product_tags"] = [{"name": "小黑瓶精华", "store": "兰蔻官方旗舰店", "price": 760}]
            brands = ("兰蔻",)
        if i == 3:
            text += "，顺便说一句花西子的散粉还不错"
            brands = ("花西子",)
        b.add("u_honest", text, "sharing", "pass", brands=brands, day=day, **kw)
    b.add("u_honest", "本篇为品牌合作 @追光茶饮官方 感谢邀请试喝新品，" + b.salad(), "declared",
          "pass", brands=("追光茶饮",), day=START + timedelta(days=2), views=9_000,
          author_info=honest)
    # a small creator below the 4:1 rule, without view counts
    for i in range(3):
        b.add("u_small", b.salad(), "sharing", "pass", day=LAST - timedelta(days=i),
              author_info={"followers": 3_000})
    b.add("u_small", "#品牌合作 " + b.salad(), "declared", "pass", day=LAST,
          author_info={"followers": 3_000})
    # a shop account: the dump records stores
    b.add("u_shop", b.salad(), "sharing", "pass",
          author_info={"account_type": "enterprise", "has_store": True})
    # template A: five accounts, small edits, all mention 花西子
    for i, (w1, w2, n, tag) in enumerate([("宝藏", "真心", 7, "#护肤"), ("神仙", "强烈", 10, "#面霜"),
                                          ("小众", "诚心", 14, "#护肤"), ("宝藏", "强烈", 21, ""),
                                          ("神仙", "真心", 5, "#好物分享")]):
        author = f"s{i + 1}"
        clusters[0].add(b.add(author, TEMPLATE_A.format(w1=w1, w2=w2, n=n, tag=tag),
                              "undisclosed_ad", "block", brands=("花西子",)))
    b.add("s1", b.salad(), "sharing", "pass")
    b.add("s1", b.salad(), "sharing", "pass")
    # template B: four accounts, text-only brand; the last one carries a script tag
    for i, (w1, w2, extra, decision) in enumerate([
            ("减脂", "需要的", "", "block"), ("刮油", "想要的", "！！", "block"),
            ("纤体", "需要的", "", "review"), ("减脂", "", "<script>alert(1)</script>", "review")]):
        clusters[1].add(b.add(f"t{i + 1}", TEMPLATE_B.format(w1=w1, w2=w2, n=i + 2, extra=extra),
                              "undisclosed_ad", decision, brands=("追光茶饮",)))
    # template C: exact copies across three accounts
    for i in range(3):
        clusters[2].add(b.add(f"d{i + 1}", TEMPLATE_C, "undisclosed_ad", "review"))
    # one account posting the same text twice is not a cross-account template
    b.add("u_solo", SOLO, "sharing", "pass")
    b.add("u_solo", SOLO, "sharing", "pass")
    # same topic, one shared sentence, otherwise different: not a template
    b.add("r1", SOLO + "，" + b.salad(), "sharing", "pass")
    b.add("r2", SOLO + "，" + b.salad(), "sharing", "pass")
    # unrelated notes by other creators and by no one
    for r in range(6):
        for _ in range(3 + r % 3):
            b.add(f"r{r + 1}", b.salad(), "sharing", "pass")
    for _ in range(3):
        b.add(None, b.salad(), "sharing", "pass")
    unscored = {"id": "n999", "text": b.salad(), "author": {"id": "r1"}}
    lines = [json.dumps(n, ensure_ascii=False) for n in b.notes]
    lines.insert(5, json.dumps(unscored, ensure_ascii=False))
    lines.insert(9, json.dumps({"id": "bad", "text": ""}))
    notes_path = folder / "notes.jsonl"
    notes_path.write_text("\n".join(lines) + "\n", "utf-8")
    verdicts = [json.dumps(v, ensure_ascii=False) for v in b.verdicts]
    verdicts.insert(3, '{"id": "x", "label": "spam", "decision": "pass"}')
    verdicts_path = folder / "verdicts.jsonl"
    verdicts_path.write_text("\n".join(verdicts) + "\n", "utf-8")
    brands = {k: {**v, "creators": len(v["creators"])} for k, v in b.brands.items()}
    return Dump(notes_path, verdicts_path, {frozenset(c) for c in clusters},
                {k: dict(v) for k, v in b.creators.items()}, brands, dict(b.authors))


class _Tables(HTMLParser):
    """Collects ``<table data-table=NAME>`` cells as text, and whether any script tag occurs."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = defaultdict(list)
        self.current: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self.current = dict(attrs).get("data-table")
        elif tag == "tr" and self.current:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.current:
            self.tables[self.current].append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dump, ReportResult, Path]:
    folder = tmp_path_factory.mktemp("report")
    dump = make_dump(folder)
    out = folder / "out" / "report.html"
    result = build_report(dump.verdicts, out, notes=dump.notes, options=ReportOptions(top=100))
    return dump, result, out


def _by(rows: list[list[str]], column: str) -> dict[str, dict[str, str]]:
    header = rows[0]
    return {r[header.index(column)]: dict(zip(header, r, strict=True)) for r in rows[1:]}


def test_report_counts_inputs(built: tuple[Dump, ReportResult, Path]) -> None:
    dump, result, _ = built
    n = len(dump.notes.read_text("utf-8").splitlines())
    assert result.verdicts == n - 2 and result.bad_verdicts == 1
    assert (result.notes_read, result.joined, result.unscored, result.bad_notes) == \
        (n, n - 2, 1, 1)


def test_report_finds_exactly_the_planted_clusters(built: tuple[Dump, ReportResult, Path]) -> None:
    dump, result, out = built
    rows = read_csv(out.with_name("report.templates.csv"))
    found: dict[str, set[str]] = defaultdict(set)
    for row in _rows(rows):
        found[row["cluster"]].add(row["note_id"])
    assert {frozenset(c) for c in found.values()} == dump.clusters
    assert result.clusters == 3
    kinds = {row["cluster"]: row["kind"] for row in _rows(rows)}
    by_ids = {frozenset(ids): kinds[name] for name, ids in found.items()}
    exact = next(c for c in dump.clusters if len(c) == 3)
    assert by_ids[exact] == "near-duplicate"


def _rows(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_report_creator_counts_match(built: tuple[Dump, ReportResult, Path]) -> None:
    dump, _, out = built
    table = _by(read_csv(out.with_name("report.creators.csv")), "creator_id")
    assert set(table) == set(dump.creators)
    in_clusters = {nid for c in dump.clusters for nid in c}
    notes = [json.loads(line) for line in dump.notes.read_text("utf-8").splitlines()]
    for creator, expected in dump.creators.items():
        row = table[creator]
        assert int(row["notes"]) == expected["notes"], creator
        for label, column in (("sharing", "sharing"), ("undisclosed_ad", "undisclosed"),
                              ("declared", "declared"), ("undisclosed_block", "undisclosed_block")):
            assert int(row[column]) == expected.get(label, 0), (creator, column)
        planted = sum(1 for n in notes if n["id"] in in_clusters
                      and n.get("author", {}).get("id") == creator)
        assert int(row["template_notes"]) == planted, creator
    honest, small = table["u_honest"], table["u_small"]
    assert honest["rule_4to1"] == "ok" and small["rule_4to1"] == "below"
    assert table["s2"]["rule_4to1"] == "below" and table["r1"]["rule_4to1"] == "no commercial"
    assert (honest["partner_followers"], honest["avg_views_30d"], honest["partner_views"]) == \
        ("yes", "15000", "yes")
    assert (small["partner_followers"], small["avg_views_30d"], small["partner_views"]) == \
        ("no", "no data", "unknown")
    assert honest["tag_no_store"] == "3" and table["u_shop"]["tag_no_store"] == "0"
    assert table["t4"]["name"] == SCRIPT_NAME
    # s1: 2 x block + 1 template note + 0 (2 sharing, 1 commercial: below) -> 2 + 1 + 2
    assert table["s1"]["review_score"] == "5"
    assert table["s1"]["rule_4to1"] == "below"
    assert int(table["s2"]["rank"]) < int(table["r1"]["rank"])


def test_report_brand_counts_and_points(built: tuple[Dump, ReportResult, Path]) -> None:
    dump, _, out = built
    table = _by(read_csv(out.with_name("report.brands.csv")), "key")
    assert set(table) == set(dump.brands)
    for key, expected in dump.brands.items():
        row = table[key]
        assert int(row["notes"]) == expected["notes"], key
        assert int(row["undisclosed"]) == expected["undisclosed"], key
        assert int(row["undisclosed_block"]) == expected["block"], key
        assert int(row["creators"]) == expected["creators"], key
    assert (table["花西子"]["points"], table["花西子"]["tier"]) == ("12", "28-day ban")
    assert (table["追光茶饮"]["points"], table["追光茶饮"]["tier"]) == ("6", "traffic limits")
    assert (table["兰蔻"]["points"], table["兰蔻"]["tier"]) == ("0", "-")
    assert table["追光茶饮"]["via_text"] == "4" and table["追光茶饮"]["via_mention"] == "1"
    assert table["兰蔻"]["via_tag"] == "3" and table["兰蔻"]["brand"] == "兰蔻官方旗舰店"
    assert table["花西子"]["rank"] == "1"


def test_report_csvs_match_html_tables(built: tuple[Dump, ReportResult, Path]) -> None:
    _, result, out = built
    page = out.read_text("utf-8")
    parser = _Tables()
    parser.feed(page)
    assert {p.name for p in result.csv_files} == {
        f"report.{n}.csv" for n in ("labels", "evidence", "timeline", "creators", "brands",
                                   "templates")}
    for path in result.csv_files:
        name = path.name.split(".")[1]
        rows = read_csv(path)
        shown = parser.tables[name]
        assert shown, name
        # every HTML header row names CSV columns; the body rows are the CSV rows, in order,
        # projected on those columns (the templates page splits the table by cluster)
        headers = [r for r in shown if set(r) <= set(rows[0]) and r[0] == shown[0][0]]
        assert all(h == headers[0] for h in headers), name
        columns = [rows[0].index(c) for c in headers[0]]
        body = [r for r in shown if r != headers[0]]
        expected = [[row[i] for i in columns] for row in rows[1:]]
        assert body == expected[:len(body)], name
        assert f'href="{path.name}"' in page
    assert len(parser.tables["templates"]) - 3 == len(read_csv(
        out.with_name("report.templates.csv"))) - 1  # all members shown; one header per cluster
    score = parser.tables["creators"][0].index("review_score")
    assert all(int(r[score]) > 0 for r in parser.tables["creators"][1:])


def test_report_page_escapes_text_and_has_no_script(built: tuple[Dump, ReportResult, Path]) -> None:
    _, _, out = built
    page = out.read_text("utf-8")
    parser = _Tables()
    parser.feed(page)
    assert parser.scripts == 0 and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in page
    assert page.count("<svg") >= 4
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_timeline_by_week(built: tuple[Dump, ReportResult, Path]) -> None:
    _, result, out = built
    rows = _rows(read_csv(out.with_name("report.timeline.csv")))
    assert all("-W" in r["period"] for r in rows)
    assert sum(int(r["notes"]) for r in rows) == result.joined


def test_report_cli_without_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = make_dump(tmp_path)
    parser = argparse.ArgumentParser()
    add_report_command(parser.add_subparsers())
    args = parser.parse_args(["report", str(dump.verdicts), "-o", str(tmp_path / "r.html")])
    assert args.run(args) == 0
    page = (tmp_path / "r.html").read_text("utf-8")
    assert "--notes INPUT" in page and (tmp_path / "r.labels.csv").is_file()
    assert not (tmp_path / "r.creators.csv").exists()
    assert "report -> " in capsys.readouterr().out
    args = parser.parse_args(["report", str(tmp_path / "missing.jsonl"), "-o",
                              str(tmp_path / "r.html")])
    assert args.run(args) == 1
    assert "no such scored file" in capsys.readouterr().err


def test_report_workers_give_the_same_clusters(built: tuple[Dump, ReportResult, Path]) -> None:
    dump, _, out = built
    parallel = out.with_name("parallel.html")
    build_report(dump.verdicts, parallel, notes=dump.notes,
                 options=ReportOptions(workers=2))
    assert read_csv(parallel.with_name("parallel.templates.csv")) == \
        read_csv(out.with_name("report.templates.csv"))
    assert read_csv(parallel.with_name("parallel.creators.csv")) == \
        read_csv(out.with_name("report.creators.csv"))


def test_report_says_what_sparse_data_lacks(tmp_path: Path) -> None:
    notes = [{"id": i, "text": f"第{i}条笔记，记录一下今天的午饭"} for i in range(1, 5)]
    (tmp_path / "notes.csv").write_text(
        "id,text\n" + "".join(f"{n['id']},{n['text']}\n" for n in notes), "utf-8")
    verdicts = [{"id": str(n["id"]), "label": "sharing", "decision": "pass"} for n in notes]
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts), "utf-8")
    out = tmp_path / "r.html"
    result = build_report(tmp_path / "v.jsonl", out, notes=tmp_path / "notes.csv",
                          options=ReportOptions(templates=None))
    assert result.joined == 4 and result.creators == 0 and result.clusters == 0
    page = out.read_text("utf-8")
    assert "carry no dates" in page and "Template detection was switched off" in page
    assert "The data has no view counts" in page and "4 notes without author id" in page
    assert read_csv(out.with_name("r.templates.csv")) == [list(read_csv(
        out.with_name("r.templates.csv"))[0])]
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "zz", "text": "别的笔记"}) + "\n", "utf-8")
    build_report(tmp_path / "v.jsonl", out, notes=other)
    assert "No note matched a verdict" in out.read_text("utf-8")
