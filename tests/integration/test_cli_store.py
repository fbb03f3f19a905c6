"""``notecheck score --db`` records verdicts and queues reviews; ``notecheck export-labels``
writes what ``training.data.load_labelled`` reads (the latest decision wins, conflicts listed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.cli import main
from serving.store import Store
from tests.conftest import TOY_NOTES, write_jsonl
from training.data import load_labelled


@pytest.fixture()
def dump(tmp_path: Path) -> Path:
    rows: list[dict[str, object]] = [{"note_id": f"c{i}", "desc": text}
                                     for i, (text, _) in enumerate(TOY_NOTES)]
    return write_jsonl(tmp_path / "dump.jsonl", rows)


def test_cli_score_without_db_touches_no_store(lexical_dir: Path, dump: Path,
                                               tmp_path: Path) -> None:
    assert main(["score", str(dump), "-o", str(tmp_path / "out.jsonl"), "--model",
                 str(lexical_dir), "--no-progress"]) == 0
    assert not list(tmp_path.glob("*.db"))


def test_cli_score_db_then_export_labels_for_training(lexical_dir: Path, dump: Path,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'review.db'}"
    out = tmp_path / "out.jsonl"
    args = ["score", str(dump), "-o", str(out), "--model", str(lexical_dir), "--no-progress",
            "--batch-size", "4", "--db", db, "--queue-block"]
    assert main(args) == 0
    assert "verdicts recorded" in capsys.readouterr().out
    scored = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    store = Store.open(db)
    try:
        for v in scored:
            stored = store.note_history(v["id"]).versions[0].verdicts[0]
            assert stored.source == "batch" and stored.verdict["label"] == v["label"]
        queued = {i.note_id for i in store.list_queue(limit=100).items}
        assert queued == {v["id"] for v in scored if v["decision"] in ("review", "block")}
        assert queued, "the toy dump should queue something"
        assert main(args) == 0  # scored again: the same rows, updated, none duplicated
        assert {i.note_id for i in store.list_queue(limit=100).items} == queued
        assert all(len(store.note_history(v["id"]).versions) == 1 for v in scored)
        items = store.list_queue(limit=100).items
        store.decide(items[0].id, "sharing", "li")
        store.decide(items[1].id, "declared", "li")
        store.record_correction(_note(store, items[1].note_id), "undisclosed_ad", "wang")
    finally:
        store.close()
    labels = tmp_path / "labels.jsonl"
    assert main(["export-labels", "--db", db, "-o", str(labels)]) == 0
    err = capsys.readouterr().err
    assert "2 labelled notes" in err and "1 with conflicting decisions" in err
    examples = {e.note.id: e.label for e in load_labelled(labels)}
    assert examples == {items[0].note_id: "sharing", items[1].note_id: "undisclosed_ad"}
    conflicts = [json.loads(line) for line in
                 (tmp_path / "labels.conflicts.jsonl").read_text("utf-8").splitlines()]
    assert [(c["note_id"], c["chosen"]) for c in conflicts] == \
        [(items[1].note_id, "undisclosed_ad")]
    assert main(["export-labels", "--db", db, "-o", str(labels), "--since", "2999-01-01"]) == 0
    assert labels.read_text("utf-8") == ""
    assert not (tmp_path / "labels.conflicts.jsonl").exists()


def _note(store: Store, note_id: str):  # type: ignore[no-untyped-def]
    from classifier.notes import note_from_dict

    return note_from_dict(store.note_history(note_id).versions[0].note)


def test_cli_export_labels_bad_since_and_ray_db(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export-labels", "--db", f"sqlite:///{tmp_path / 'x.db'}", "-o",
              str(tmp_path / "l.jsonl"), "--since", "yesterday"])
    assert "--since 'yesterday' is not a date" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"),
                 "--engine", "ray", "--db", "sqlite:///x.db"]) == 2
    assert "--db is not recorded on the ray engine" in capsys.readouterr().err
