"""The promotion gate on tiny lexical models trained here: a deliberately worse model (labels
swapped) is refused and the default stays; an equal one is promoted; ``--force`` switches a worse
one and is recorded in the promotions log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serving.cli import main
from tests.conftest import TOY_NOTES, write_jsonl
from training.promote import SetFigures, compare

SUFFIXES = ["", "！", "。", "～", "啊", "呢", "吧", "哦"]
SWAP = {"sharing": "undisclosed_ad", "undisclosed_ad": "sharing", "declared": "declared"}


def _rows(swap: bool) -> list[dict[str, object]]:
    return [{"id": f"t{i}-{j}", "text": text + suffix, "label": SWAP[label] if swap else label,
             "writer": f"w{j % 3}"}
            for i, (text, label) in enumerate(TOY_NOTES) for j, suffix in enumerate(SUFFIXES)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two lexical model folders: ``good`` (the toy labels) and ``worse`` (ads and sharing swapped),
    each trained by ``notecheck train``; plus a small real-dev-like evaluation file."""
    work = tmp_path_factory.mktemp("promote")
    good = write_jsonl(work / "good.jsonl", _rows(False))
    bad = write_jsonl(work / "bad.jsonl", _rows(True))
    out = {}
    for name, data in (("good", good), ("worse", bad)):
        assert main(["train", "--kind", "lexical", "--data", str(data), "--out", str(work / name),
                     "--test-writers", "w2", "--version", "t1", "--no-fit-rules"]) == 0
        out[name] = work / name
    dev = [{"id": f"d{i}", "text": text + "～～", "label": label} for i, (text, label) in enumerate(TOY_NOTES)]
    out["dev"] = write_jsonl(work / "dev.jsonl", dev)
    return out


@pytest.fixture()
def models(trained: dict[str, Path], tmp_path: Path) -> Path:
    """A models folder whose DEFAULT is ``current`` (the good model), with candidates beside it."""
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(trained["good"], root / "current")
    shutil.copytree(trained["good"], root / "same")
    shutil.copytree(trained["worse"], root / "worse")
    (root / "DEFAULT").write_text("current\n", "utf-8")
    return root


def _promote(models: Path, name: str, dev: Path, *extra: str) -> int:
    return main(["promote", str(models / name), "--models-root", str(models), "--real-dev", str(dev),
                 "--actor", "tester", *extra])


def _log(models: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (models / "promotions.jsonl").read_text("utf-8").splitlines()]


def test_promote_refuses_a_worse_model_and_keeps_the_default(
        models: Path, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _promote(models, "worse", trained["dev"]) == 1
    assert (models / "DEFAULT").read_text("utf-8").strip() == "current"
    out = capsys.readouterr().out
    assert "gate: refused" in out and "WORSE" in out
    assert "test_authored" in out and "real_dev" in out  # both sets side by side
    [event] = _log(models)
    assert event["outcome"] == "refused" and event["forced"] is False and event["actor"] == "tester"
    worse = event["comparison"]["worse"]  # type: ignore[index]
    assert any(w.startswith("real_dev macro_f1") for w in worse)


def test_promote_accepts_an_equal_model_and_switches_the_default(
        models: Path, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert _promote(models, "same", trained["dev"]) == 0
    assert (models / "DEFAULT").read_text("utf-8").strip() == "same"
    assert "gate: passed" in capsys.readouterr().out
    [event] = _log(models)
    assert event["outcome"] == "promoted" and event["previous"] == "current" and event["default"] == "same"
    # promoting the default again changes nothing and records nothing
    assert _promote(models, "same", trained["dev"]) == 0
    assert len(_log(models)) == 1


def test_promote_force_switches_a_worse_model_and_records_it(
        models: Path, trained: dict[str, Path]) -> None:
    assert _promote(models, "worse", trained["dev"], "--force") == 0
    assert (models / "DEFAULT").read_text("utf-8").strip() == "worse"
    [event] = _log(models)
    assert event["outcome"] == "forced" and event["forced"] is True and event["previous"] == "current"
    assert event["comparison"]["passed"] is False  # type: ignore[index]


def test_promote_refuses_a_model_outside_the_models_folder(
        models: Path, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["promote", str(trained["good"]), "--models-root", str(models), "--real-dev",
                 str(trained["dev"]), "--force"]) == 2
    assert "copy or move the model into" in capsys.readouterr().err
    assert (models / "DEFAULT").read_text("utf-8").strip() == "current"


def _figures(macro: float, flagged: float = 0.05) -> SetFigures:
    return SetFigures(n=10, macro_f1=macro, undisclosed_ad_f1=macro, undisclosed_ad_recall=macro,
                      genuine_flagged_ad=flagged)


@pytest.mark.parametrize(("new_macro", "new_flagged", "passed"), [
    (0.80, 0.05, True),     # equal
    (0.791, 0.05, True),    # within one point
    (0.785, 0.05, False),   # beyond one point
    (0.90, 0.061, False),   # better F1, but more genuine notes flagged beyond the tolerance
    (0.90, 0.059, True),
])
def test_promote_compare_applies_the_tolerance_both_ways(new_macro: float, new_flagged: float,
                                                         passed: bool) -> None:
    comp = compare({"a": _figures(0.80), "b": _figures(0.5)},
                   {"a": _figures(new_macro, new_flagged), "b": _figures(0.5)}, tolerance=0.01)
    assert comp.passed is passed
    assert all(w.startswith("a ") for w in comp.worse)


def test_promote_compare_refuses_a_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="--tolerance"):
        compare({}, {}, tolerance=-0.1)


def test_promote_accepts_a_symlinked_model_folder(models: Path, trained: dict[str, Path]) -> None:
    (models / "linked").symlink_to(trained["good"], target_is_directory=True)
    assert _promote(models, "linked", trained["dev"]) == 0
    assert (models / "DEFAULT").read_text("utf-8").strip() == "linked"


def test_promote_force_with_db_is_recorded_in_the_audit_log(models: Path, trained: dict[str, Path],
                                                            tmp_path: Path) -> None:
    from serving.store import Store

    db = f"sqlite:///{tmp_path / 'review.db'}"
    assert _promote(models, "worse", trained["dev"], "--force", "--db", db) == 0
    assert (models / "DEFAULT").read_text("utf-8").strip() == "worse"
    assert not (models / "promotions.jsonl").exists()
    store = Store.open(db)
    try:
        [entry] = store.audit_entries(action="promote")
    finally:
        store.close()
    assert entry.actor == "tester" and entry.details["outcome"] == "forced" and entry.details["forced"] is True
    assert entry.details["comparison"]["passed"] is False


def test_promote_names_recorded_files_that_are_missing(models: Path, trained: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    meta = json.loads((models / "current" / "meta.json").read_text("utf-8"))
    meta["args"]["data"] = ["/nowhere/seed.jsonl"]
    (models / "current" / "meta.json").write_text(json.dumps(meta), "utf-8")
    assert _promote(models, "same", trained["dev"]) == 2
    assert "/nowhere/seed.jsonl" in capsys.readouterr().err
    assert (models / "DEFAULT").read_text("utf-8").strip() == "current"
