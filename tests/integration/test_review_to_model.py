"""From reviewers' decisions to a promoted model, end to end on a tiny lexical model (seconds):

``notecheck score --db`` queues notes -> reviewers decide them through the queue API ->
``notecheck export-labels`` -> ``notecheck train --data`` (the original data plus the labels) ->
``notecheck promote --db`` (the gate runs on the authored test split, a dev set and the reviewed
items; its decision lands in the store's audit log)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.cli import main
from serving.http.app import create_app
from serving.http.settings import Settings
from serving.store import Store
from tests.conftest import TOY_NOTES, write_jsonl

SUFFIXES = ["", "！", "。", "～", "啊", "呢", "吧", "哦"]
NEW_SUFFIXES = ["呀", "嘛", "哈"]


def test_review_to_model_score_decide_export_train_promote(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    toy = write_jsonl(tmp_path / "toy.jsonl", [
        {"id": f"t{i}-{j}", "text": text + suffix, "label": label, "writer": f"w{j % 3}"}
        for i, (text, label) in enumerate(TOY_NOTES) for j, suffix in enumerate(SUFFIXES)])
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"id": f"d{i}", "text": text + "～～", "label": label}
                                                for i, (text, label) in enumerate(TOY_NOTES)])
    models = tmp_path / "models"
    assert main(["train", "--kind", "lexical", "--data", str(toy), "--out", str(models / "current"),
                 "--test-writers", "w2", "--version", "t1", "--no-fit-rules"]) == 0
    (models / "DEFAULT").write_text("current\n", "utf-8")
    truth = {f"new{i}-{j}": label for i, (_, label) in enumerate(TOY_NOTES) for j in range(len(NEW_SUFFIXES))}
    notes = write_jsonl(tmp_path / "notes.jsonl", [
        {"id": f"new{i}-{j}", "text": text + suffix}
        for i, (text, _) in enumerate(TOY_NOTES) for j, suffix in enumerate(NEW_SUFFIXES)])
    db = f"sqlite:///{tmp_path / 'review.db'}"

    # 1. score with --db: verdicts recorded, review and block ones queued
    assert main(["score", str(notes), "-o", str(tmp_path / "verdicts.jsonl"), "--db", db,
                 "--queue-block", "--model", str(models / "current"), "--no-progress"]) == 0

    # 2. a reviewer works through the queue over the API
    decided: dict[str, str] = {}
    settings = Settings(model=models / "current", db_url=db, warmup=False)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while client.get("/v1/queue").status_code != 200:
            assert time.monotonic() < deadline, "the store did not open"
            time.sleep(0.02)
        while (item := client.post("/v1/queue/next", json={"reviewer": "li"}).json()["item"]) is not None:
            label = truth[item["note_id"]]
            r = client.post(f"/v1/queue/{item['id']}/decision", json={"label": label, "reviewer": "li"})
            assert r.status_code == 201, r.text
            decided[item["note_id"]] = label
    assert len(decided) >= 3

    # 3. export the decisions as labelled notes
    labels = tmp_path / "labels.jsonl"
    assert main(["export-labels", "--db", db, "-o", str(labels)]) == 0
    rows = [json.loads(line) for line in labels.read_text("utf-8").splitlines()]
    assert {r["id"]: r["label"] for r in rows} == decided

    # 4. train a new model on the original data plus the reviewed notes
    assert main(["train", "--kind", "lexical", "--data", str(toy), str(labels), "--out", str(models / "new"),
                 "--test-writers", "w2", "--version", "t2", "--no-fit-rules"]) == 0
    capsys.readouterr()

    # 5. the gate compares both models on the frozen sets, reviewed items included
    code = main(["promote", str(models / "new"), "--models-root", str(models), "--db", db,
                 "--real-dev", str(dev), "--actor", "e2e"])
    out = capsys.readouterr().out
    assert f"reviewed (n={len(decided)})" in out and "test_authored" in out and "real_dev" in out
    store = Store.open(db)
    try:
        [entry] = store.audit_entries(action="promote")
    finally:
        store.close()
    assert entry.actor == "e2e" and entry.details["new"] == "new"
    assert entry.details["outcome"] == ("promoted" if code == 0 else "refused")
    assert code == 0, out  # the reviewers' labels are the truth: the new model is not worse
    assert (models / "DEFAULT").read_text("utf-8").strip() == "new"
    assert not (models / "promotions.jsonl").exists()  # with --db the record is in the store
    assert time.monotonic() - started < 60
