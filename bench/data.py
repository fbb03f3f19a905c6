"""The benchmark's notes: drawn from the authored seed notes (realistic lengths), canonical JSONL."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED_GLOB = "training/data/seed_w*.jsonl"
LABEL_FIELDS = ("label", "vertical", "writer", "hard_case", "why", "source")


def draw_notes(n: int, seed: int = 7, sources: list[Path] | None = None) -> list[dict[str, Any]]:
    """``n`` canonical note records drawn without replacement from ``sources`` (default: the seed
    files), cycled with fresh ids when ``n`` exceeds them, labels and authoring fields removed."""
    rows: list[dict[str, Any]] = []
    for path in sources or sorted(REPO.glob(SEED_GLOB)):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                rows.append({k: v for k, v in json.loads(line).items() if k not in LABEL_FIELDS})
    if not rows:
        raise SystemExit(f"no seed notes found under {REPO / SEED_GLOB}")
    rng = random.Random(seed)
    rng.shuffle(rows)
    out = []
    for i in range(n):
        row = dict(rows[i % len(rows)])
        row["id"] = f"bench-{i:05d}"
        out.append(row)
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]
