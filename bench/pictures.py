"""Pictures, side by side in one run: OCR speed, notes with pictures, the same notes text-only.

    python -m bench.pictures [--n 60] [--per-note 2] [--write]

Makes ``--n`` notes drawn from the authored seed notes (:mod:`bench.data`) and gives each
``--per-note`` pictures of its own, drawn here: Pillow text in Debian's WenQuanYi font (prices,
shop names, a WeChat handle, captions; every picture's text differs, so no two share a hash) and,
for every fourth note, a QR code made with ``qrcode``. Then, each in its own process (clean peak
RSS, fresh cache):

``ocr``           :class:`classifier.pictures.PictureReader` over every picture once, cold cache
                  (the OCR engine loaded and run once on another picture first): pictures/s;
``with-pictures`` ``score`` over the notes with ``--images`` (the default fast path; the OCR engine
                  and the pipeline warmed on another note first), cold cache: notes/s;
``text-only``     the same notes without their pictures, the same way: notes/s.

Each mode also records its CPU seconds (every thread of the process): on a shared machine the rates
follow the load of other work, the CPU seconds much less. Prints a table and one JSON line; ``--write`` also keeps it in ``bench/results/pictures/`` (the
README's Pictures figures are written from the newest file there by ``python -m training.readme``).
The machine's load average is recorded with each mode: other work on the box lowers every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench import _run_json
from bench.data import REPO, draw_notes, write_jsonl
from bench.worker import peak_rss_mb

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
RESULTS = REPO / "bench" / "results" / "pictures"
MODES = ("ocr", "with-pictures", "text-only")
LINES = ("到手价 ¥{price} 限时{n}天", "加V: shop{i:05d} 备注暗号", "{shop}旗舰店 第{n}家",
         "湖边的日落 第{n}天", "今日穿搭 {price}cm 小个子")
SHOPS = ("小鹿", "青柠", "云朵", "森林", "海盐")


def make_pictures(root: Path, n: int, per_note: int) -> list[list[str]]:
    """Draw ``per_note`` pictures for each of ``n`` notes under ``root``; their names per note."""
    import qrcode
    from PIL import Image, ImageDraw, ImageFont

    if not FONT.is_file():
        raise SystemExit(f"the CJK font is missing at {FONT}: apt-get install fonts-wqy-microhei")
    font = ImageFont.truetype(str(FONT), 30)
    names: list[list[str]] = []
    for i in range(n):
        own = []
        for j in range(per_note):
            k = i * per_note + j
            name = f"p{k:05d}.png"
            if j == 0 and i % 4 == 3:
                qrcode.make(f"https://u.wechat.com/Bench{k:05d}").save(root / name)
            else:
                im = Image.new("RGB", (640, 200), "white")
                draw = ImageDraw.Draw(im)
                for row in range(3):
                    line = LINES[(k + row) % len(LINES)].format(price=39 + k % 200, n=k, i=k,
                                                                 shop=SHOPS[k % len(SHOPS)])
                    draw.text((16, 16 + 60 * row), line, font=font, fill="black")
                im.save(root / name)
            own.append(name)
        names.append(own)
    warm = Image.new("RGB", (320, 80), "white")
    ImageDraw.Draw(warm).text((10, 20), "预热 warm-up", font=font, fill="black")
    warm.save(root / "warmup.png")
    return names


# ----------------------------------------------------------------------------- workers
def worker(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pictures worker")
    p.add_argument("mode", choices=MODES)
    p.add_argument("--notes", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    from classifier.notes import READ_PICTURES, note_from_dict
    from classifier.pictures import PictureReader

    rows = [json.loads(line) for line in a.notes.read_text("utf-8").splitlines() if line.strip()]
    result: dict[str, Any] = {"mode": a.mode}
    reader = PictureReader(a.root)
    token = READ_PICTURES.set(a.mode != "text-only")  # text-only: no picture, no OCR engine
    warm_note = note_from_dict({"id": "warm", "text": "预热", "images": ["warmup.png"]})
    if warm_note.images:
        t0 = time.perf_counter()
        reader.read(warm_note)  # loads the OCR engine
        result["engine_load_s"] = round(time.perf_counter() - t0, 2)
    READ_PICTURES.reset(token)
    if a.mode == "ocr":
        pictures = [p for r in rows for p in r.get("images", [])]
        t0, c0 = time.perf_counter(), time.process_time()
        token = READ_PICTURES.set(True)
        for k, picture in enumerate(pictures):
            reader.read(note_from_dict({"id": f"o{k}", "text": "图", "images": [picture]}))
        READ_PICTURES.reset(token)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        result.update(pictures=len(pictures), elapsed_s=round(elapsed, 3), cpu_s=round(cpu, 3),
                      pictures_per_s=round(len(pictures) / elapsed, 3))
    else:
        from classifier.pipeline import Pipeline
        from serving.batch.local import score_file

        pipeline = Pipeline.load()
        pipeline(warm_note)  # the model and jieba warmed on a note of neither set
        c0 = time.process_time()
        summary = score_file(pipeline, a.notes, a.out / f"{a.mode}.jsonl", progress=False,
                             pictures=reader if a.mode == "with-pictures" else None)
        result["cpu_s"] = round(time.process_time() - c0, 3)
        labels = [json.loads(line)["label"] for line in
                  (a.out / f"{a.mode}.jsonl").read_text("utf-8").splitlines()]
        result.update(notes=summary.scored, failed=summary.failed,
                      elapsed_s=round(summary.elapsed_s, 3),
                      notes_per_s=round(summary.scored / summary.elapsed_s, 3),
                      undisclosed_ad=labels.count("undisclosed_ad"))
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------- driver
def run(n: int, per_note: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pictures-") as tmp:
        work = Path(tmp)
        root = work / "pictures"
        root.mkdir()
        names = make_pictures(root, n, per_note)
        notes = draw_notes(n)
        with_pictures = write_jsonl(work / "with.jsonl",
                                    [{**r, "images": own} for r, own in zip(notes, names, strict=True)])
        text_only = write_jsonl(work / "text.jsonl", notes)
        rows = []
        for mode in MODES:
            source = text_only if mode == "text-only" else with_pictures
            cmd = [sys.executable, "-m", "bench.pictures", "worker", mode, "--notes", str(source),
                   "--root", str(root), "--out", str(work)]
            got = _run_json(cmd, timeout, mode)
            if got is None:
                raise SystemExit(f"the {mode} measurement failed; nothing written")
            rows.append(got)
    return {"bench": "pictures", "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "n_notes": n, "pictures_per_note": per_note, "pictures": n * per_note,
            "qr_pictures": sum(1 for i in range(n) if i % 4 == 3),
            "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "notes_from": "training/data/seed_w*.jsonl",
            "font": FONT.name, "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = [(f"{'mode':<14}{'rate':>18}{'elapsed s':>11}{'CPU s':>9}{'peak RSS MiB':>14}"
              f"{'load avg':>10}")]
    for r in result["rows"]:
        rate = (f"{r['pictures_per_s']:.2f} pictures/s" if "pictures_per_s" in r
                else f"{r['notes_per_s']:.2f} notes/s")
        lines.append(f"{r['mode']:<14}{rate:>18}{r['elapsed_s']:>11.1f}{r['cpu_s']:>9.1f}"
                     f"{r['peak_rss_mb']:>14.0f}{r['loadavg_start']:>10.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        return worker(argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench.pictures", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=60, help="notes (default 60)")
    p.add_argument("--per-note", type=int, default=2, help="pictures per note (default 2)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per mode")
    p.add_argument("--write", action="store_true", help="keep the JSON in bench/results/pictures/")
    a = p.parse_args(argv)
    if a.n < 1 or a.per_note < 1:
        p.error("--n and --per-note must be at least 1")
    result = run(a.n, a.per_note, a.timeout)
    print(table(result))
    from training.readme import print_run

    print_run(RESULTS, result, keep=a.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
