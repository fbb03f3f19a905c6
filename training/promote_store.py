"""The promotion gate's use of the review store (``notecheck promote --db URL``): the reviewed items
as an evaluation set, and the gate's decision in the store's audit log."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.data import Example, load_labelled

__all__ = ["reviewed_examples", "store_recorder"]


def reviewed_examples(url: str) -> list[Example]:
    """The reviewers' labels (``export_labels``: the latest decision per note) as examples."""
    from serving.store import Store

    store = Store.open(url)
    try:
        records = store.export_labels().records
    finally:
        store.close()
    if not records:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reviewed.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records),
                        "utf-8")
        return load_labelled(path)


def store_recorder(url: str) -> Callable[[dict[str, Any]], str]:
    """Appends each promotion event to the store's audit log (action ``promote``); a
    ``training.promote.Recorder`` (not imported: that module imports this one)."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)

    def record(event: dict[str, Any]) -> str:
        from serving.store import Store

        store = Store.open(url)
        try:
            store.audit(str(event.get("actor") or "notecheck promote"), "promote", event)
        finally:
            store.close()
        return f"the audit log of {shown}"

    return record
