"""Training data: labelled files, the authored seed set, the proxy corpora, and honest splits.

Sources
-------
- Labelled files (``--data``): JSONL/JSON/CSV/Parquet notes with a ``label`` column
  (``sharing``/``undisclosed_ad``/``declared``, or CHASM-style ``title``/``description``/``comments``
  with ``label`` 0/1 -> sharing/undisclosed_ad). The authored seed set (``training/data/seed_*.jsonl``)
  is such a file, with ``writer``/``vertical``/``hard_case`` columns; so is the console's feedback file.
- Proxy corpora (``--proxies DIR``, normally ``../shared/data/corpora``), read in place, never copied:
  real reviews -> ``sharing``; Taobao marketing copy (AdvertiseGen) and the removed/commercial cases of
  the synthetic moderation set -> ``undisclosed_ad``. ``ChnSentiCorp_htl_all.csv`` (hotel reviews) is
  never trained on: it is the held-out real-review set that measures false alarms.

Splits
------
``test``: every note by the held-out writers (their verticals too) plus a held-out slice of each proxy;
``val``: a stratified share of the rest (early stopping, calibration, thresholds); ``train``: the rest.
Exact-duplicate texts are removed across all splits before splitting (first occurrence wins).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.errors import InputError
from classifier.notes import note_from_dict
from classifier.types import LABELS, Note

CHASM_LABELS = {0: "sharing", 1: "undisclosed_ad", "0": "sharing", "1": "undisclosed_ad"}
HELDOUT_REVIEWS = "ChnSentiCorp_htl_all.csv"
# Moderation-set verdict problems that are commercial without disclosure (see module docstring).
SFT_COMMERCIAL = ("站外引流", "价格欺诈", "虚假背书", "不正当竞争", "刷量作弊", "涉嫌违法违规")


@dataclass(frozen=True)
class Example:
    note: Note
    label: str
    source: str
    group: str = ""
    writer: str = ""
    hard_case: str | None = None

    @property
    def text_label(self) -> str:
        """The target for a text model: a declaration only the platform flag carries is invisible
        in the text, so such notes teach the text model 'commercial, undisclosed in text' and the
        rules layer (sponsor flag) settles them as declared."""
        if self.label == "declared" and self.hard_case == "flag_only":
            return "undisclosed_ad"
        return self.label


@dataclass(frozen=True)
class Splits:
    train: list[Example]
    val: list[Example]
    test: list[Example]
    heldout_reviews: list[Example]

    def describe(self) -> dict[str, Any]:
        def counts(xs: Sequence[Example]) -> dict[str, Any]:
            by_label = {lab: sum(x.label == lab for x in xs) for lab in LABELS}
            by_source: dict[str, int] = {}
            for x in xs:
                by_source[x.source] = by_source.get(x.source, 0) + 1
            return {"n": len(xs), "labels": by_label, "sources": by_source}

        return {name: counts(getattr(self, name)) for name in ("train", "val", "test", "heldout_reviews")}


# -- labelled files ---------------------------------------------------------------------------

def parse_label(value: Any, row: int, path: Path) -> str:
    if isinstance(value, str) and value.strip() in LABELS:
        return value.strip()
    if value in CHASM_LABELS:
        return CHASM_LABELS[value]
    if isinstance(value, float) and value in (0.0, 1.0):
        return CHASM_LABELS[int(value)]
    raise InputError(f"{path}: label {value!r} is not one of {list(LABELS)} or 0/1", field="label", row=row)


def load_labelled(path: Path) -> list[Example]:
    """Read a labelled file; invalid rows raise ``InputError`` naming the row (training data must be clean).

    Rows with an ``at`` timestamp (the console's feedback file) are corrections: when a note id was
    corrected more than once, the latest correction wins.
    """
    path = Path(path)
    out: list[Example | None] = []
    latest: dict[str, tuple[str, int]] = {}
    for raw_row, rec in _raw_rows(path):
        d = dict(rec)
        if "description" in d and "text" not in d and "desc" not in d:  # CHASM
            comments = d.get("comments")
            d["text"] = str(d.get("description") or "")
            if isinstance(comments, list) and comments:
                d["text"] += "\n" + "\n".join(str(c) for c in comments[:5])
        if "id" not in d and "note_id" not in d:
            d["id"] = f"{path.stem}-{raw_row}"
        label = parse_label(d.get("label"), raw_row, path)
        note = note_from_dict(d, row=raw_row)
        if d.get("at"):
            previous = latest.get(note.id)
            if previous is not None and previous[0] > str(d["at"]):
                continue
            if previous is not None:
                out[previous[1]] = None
            latest[note.id] = (str(d["at"]), len(out))
        out.append(Example(note, label, source=str(d.get("source") or f"file:{path.name}"),
                           group=str(d.get("vertical") or ""), writer=str(d.get("writer") or ""),
                           hard_case=d.get("hard_case")))
    return [x for x in out if x is not None]


def _raw_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            for i, row in enumerate(csv.DictReader(f), start=1):
                yield i, dict(row)
        return
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield i, row
        return
    text = path.read_text("utf-8")
    if text.lstrip().startswith("["):
        for i, row in enumerate(json.loads(text), start=1):
            yield i, row
        return
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: not valid JSON ({exc.msg})", row=i) from None


# -- proxy corpora -----------------------------------------------------------------------------

def _note(source: str, idx: int, text: str, title: str = "") -> Note:
    return Note(id=f"{source}-{idx}", title=title, text=text)


def load_proxies(corpora: Path, *, per_source: int = 1000, seed: int = 13) -> dict[str, list[Example]]:
    """Proxy examples by source name: ``2 * per_source`` shopping reviews, ``per_source // 2``
    delivery reviews (random samples), all of the marketing copy and moderation examples, and all
    held-out hotel reviews. Kept small so the authored notes are not drowned by easy reviews."""
    corpora = Path(corpora)
    rng = random.Random(seed)
    out: dict[str, list[Example]] = {}

    def reviews(name: str, group_col: str | None) -> list[Example]:
        xs = []
        with (corpora / name).open(encoding="utf-8-sig", newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                text = (row.get("review") or "").strip()
                if len(text) >= 4:
                    group = row.get(group_col, "") if group_col else name
                    xs.append(Example(_note(Path(name).stem, i, text), "sharing", f"proxy:{Path(name).stem}",
                                      group=group or "", writer=Path(name).stem))
        return xs

    shopping = reviews("online_shopping_10_cats.csv", "cat")
    rng.shuffle(shopping)
    out["online_shopping"] = shopping[: per_source * 2]
    waimai = reviews("waimai_10k.csv", None)
    rng.shuffle(waimai)
    out["waimai"] = waimai[: per_source // 2]
    out["heldout_reviews"] = reviews(HELDOUT_REVIEWS, None)

    copy = []
    with (corpora / "advertisegen_dev.json").open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                text = json.loads(line)["summary"].replace("BRAND", "").strip()
                copy.append(Example(_note("advertisegen", i, text), "undisclosed_ad", "proxy:advertisegen",
                                    group="fashion", writer="advertisegen"))
    out["advertisegen"] = copy

    sft = []
    data = json.loads((corpora / "xhs_content_review_sft.json").read_text("utf-8"))
    for i, item in enumerate(data):
        user, answer = item["messages"][1]["content"], item["messages"][2]["content"]
        m = re.search(r"「(.*)」", user, re.DOTALL)
        if not m:
            continue
        verdict = re.search(r"审核结论：(\S+)", answer)
        verdict_text = verdict.group(1) if verdict else ""
        if verdict_text == "通过":
            label = "sharing"
        elif verdict_text == "违规删除" and (
            any(k in answer for k in SFT_COMMERCIAL) or "链接" in m.group(1)
        ):
            label = "undisclosed_ad"
        else:
            continue  # needs-edit / escalations / non-commercial violations: ambiguous for our labels
        sft.append(Example(_note("xhs_sft", i, m.group(1).strip()), label, "proxy:xhs_sft",
                           group="mixed", writer="xhs_sft"))
    out["xhs_sft"] = sft
    return out


# -- splitting ---------------------------------------------------------------------------------

def _key(text: str) -> str:
    return hashlib.sha1(re.sub(r"\s+", "", text).encode("utf-8")).hexdigest()


def dedupe(examples: Iterable[Example]) -> list[Example]:
    seen: set[str] = set()
    out = []
    for x in examples:
        k = _key(x.note.title + "\n" + x.note.text)
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


def _bucket(x: Example, salt: str) -> float:
    h = hashlib.sha1((salt + x.note.id + x.note.text).encode("utf-8")).hexdigest()
    return int(h[:8], 16) / 0xFFFFFFFF


def make_splits(
    labelled: Sequence[Example],
    proxies: dict[str, list[Example]] | None = None,
    *,
    test_writers: Sequence[str] = (),
    test_fraction: float = 0.2,
    val_fraction: float = 0.15,
    seed: int = 13,
) -> Splits:
    """Deterministic splits (hash buckets, so adding data does not reshuffle old examples).

    Labelled examples by a writer in ``test_writers`` go to test. Without ``test_writers``, a
    ``test_fraction`` hash bucket goes to test. Each proxy source keeps a ``test_fraction`` slice
    for test; the held-out real reviews are returned apart and never trained on.
    """
    salt = f"notecheck-{seed}"
    train: list[Example] = []
    val: list[Example] = []
    test: list[Example] = []
    proxies = dict(proxies or {})
    heldout = proxies.pop("heldout_reviews", [])
    all_examples = dedupe([*labelled, *(x for xs in proxies.values() for x in xs)])
    writers = set(test_writers)
    for x in all_examples:
        is_proxy = x.source.startswith("proxy:")
        b = _bucket(x, salt)
        if (not is_proxy and writers and x.writer in writers) or ((is_proxy or not writers) and b < test_fraction):
            test.append(x)
        elif _bucket(x, salt + "val") < val_fraction:
            val.append(x)
        else:
            train.append(x)
    return Splits(train, val, test, dedupe(heldout))
