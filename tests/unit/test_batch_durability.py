"""The local batch engine under faults: fsync before each checkpoint, no NUL padding on resume,
an atomic final conversion, and a full disk that ends in one line and a resumable state."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

from classifier.pipeline import Pipeline
from classifier.writers import json_line
from serving.batch import checkpoint, local
from serving.cli import main
from tests.conftest import TOY_NOTES, write_jsonl

N = 120


@pytest.fixture(scope="module")
def pipeline(lexical_dir: Path) -> Pipeline:
    return Pipeline.load(lexical_dir)


@pytest.fixture()
def dump(tmp_path: Path) -> Path:
    rows: list[dict[str, Any]] = [
        {"id": f"n{i}", "text": f"{TOY_NOTES[i % len(TOY_NOTES)][0]} 第{i}条"} for i in range(N)]
    rows[5]["text"] = 5  # one error row, so the errors file resumes too
    return write_jsonl(tmp_path / "in.jsonl", rows)


def spool(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def run(pipeline: Pipeline, src: Path, out: Path, **kw: Any) -> local.Summary:
    return local.score_file(pipeline, src, out, batch_size=16, progress=False, **kw)


def full_run(pipeline: Pipeline, src: Path, suffix: str) -> Path:
    out = src.with_name("full" + suffix)
    run(pipeline, src, out)
    return out


def test_batch_fsyncs_both_files_before_every_checkpoint(
    pipeline: Pipeline, dump: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_save = checkpoint.os.fsync, checkpoint.Checkpoint.save
    out = dump.with_name("out.jsonl")

    def fsync(fd: int) -> None:
        events.append(Path(f"/proc/self/fd/{fd}").resolve().name)
        real_fsync(fd)

    def save(self: checkpoint.Checkpoint, **state: Any) -> None:
        events.append("checkpoint")
        real_save(self, **state)

    monkeypatch.setattr(checkpoint.os, "fsync", fsync)
    monkeypatch.setattr(checkpoint.Checkpoint, "save", save)
    run(pipeline, dump, out)
    saves = [i for i, e in enumerate(events) if e == "checkpoint"]
    assert len(saves) == -(-N // 16) + 1  # every batch, and the final "complete"
    previous = -1
    for i in saves[:-1]:
        synced = set(events[previous + 1 : i])
        assert {"out.jsonl", "out.errors.jsonl"} <= synced, events[previous + 1 : i]
        previous = i


def test_batch_resume_refuses_a_file_shorter_than_its_checkpoint(
    pipeline: Pipeline, lexical_dir: Path, dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = dump.with_name("out.jsonl")
    run(pipeline, dump, out, limit=40)
    state = json.loads(checkpoint.progress_path(out).read_text("utf-8"))
    lost = out.read_bytes()[: state["out_bytes"] - 100]  # the disk lost the last 100 bytes
    out.write_bytes(lost)
    code = main(["score", str(dump), "-o", str(out), "--model", str(lexical_dir),
                 "--resume", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "cannot resume" in err and "without --resume" in err
    assert out.read_bytes() == lost and b"\x00" not in out.read_bytes()


class _FullDisk:
    """A writer whose disk fills after ``room`` rows: write raises OSError(ENOSPC)."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, f: Any, obj: dict[str, Any]) -> None:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        f.write(json_line(obj).encode("utf-8") + b"\n")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_batch_full_disk_ends_with_one_line_and_resumes_to_the_full_result(
    pipeline: Pipeline, lexical_dir: Path, dump: Path, suffix: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    full = full_run(pipeline, dump, suffix)
    out = dump.with_name("out" + suffix)
    monkeypatch.setattr(local, "write_line", _FullDisk(room=50))
    code = main(["score", str(dump), "-o", str(out), "--model", str(lexical_dir), "--batch-size", "16",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    assert "No space left on device (ENOSPC)" in err and "--resume" in err
    assert "rows up to 48 are safe" in err
    monkeypatch.undo()
    assert main(["score", str(dump), "-o", str(out), "--model", str(lexical_dir), "--batch-size", "16",
                 "--no-progress", "--resume"]) == 0
    assert out.read_bytes() == full.read_bytes()
    assert dump.with_name("out.errors.jsonl").read_bytes() == \
        dump.with_name("full.errors.jsonl").read_bytes()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_conversion_fails_into_a_temporary_file_and_resumes(
    pipeline: Pipeline, dump: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = full_run(pipeline, dump, suffix)
    out = dump.with_name("out" + suffix)
    out.write_bytes(b"a previous run's output")
    real_open = checkpoint.open_writer

    class Failing:
        def __init__(self, path: Path, fmt: str | None = None) -> None:
            self.inner = real_open(path, fmt)

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

        def write(self, rows: Iterator[dict[str, Any]]) -> None:
            for i, row in enumerate(rows):
                if i == 30:
                    raise OSError(errno.ENOSPC, "No space left on device")
                self.inner.write([row])

    monkeypatch.setattr(checkpoint, "open_writer", Failing)
    with pytest.raises(local.BatchIOError, match="ENOSPC.*--resume"):
        run(pipeline, dump, out)
    assert out.read_bytes() == b"a previous run's output"  # never a half-written output
    assert not out.with_name(out.name + ".tmp").exists()
    assert not json.loads(checkpoint.progress_path(out).read_text("utf-8"))["complete"]
    monkeypatch.undo()
    summary = run(pipeline, dump, out, resume=True)
    assert summary.total == N
    assert out.read_bytes() == full.read_bytes()
    assert not spool(out).exists()


def test_batch_spool_outlives_a_kill_before_the_checkpoint_is_complete(
    pipeline: Pipeline, dump: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = full_run(pipeline, dump, ".csv")
    out = dump.with_name("out.csv")
    real_save = checkpoint.Checkpoint.save

    def killed_on_complete(self: checkpoint.Checkpoint, **state: Any) -> None:
        if state.get("complete"):
            raise KeyboardInterrupt  # the process dies between the conversion and the mark
        real_save(self, **state)

    monkeypatch.setattr(checkpoint.Checkpoint, "save", killed_on_complete)
    with pytest.raises(KeyboardInterrupt):
        run(pipeline, dump, out)
    assert spool(out).exists()
    monkeypatch.undo()
    assert run(pipeline, dump, out, resume=True).total == N
    assert out.read_bytes() == full.read_bytes()
    assert not spool(out).exists()


def test_batch_checkpoint_of_the_other_engine_is_not_resumed(dump: Path) -> None:
    path = checkpoint.progress_path(dump.with_name("out.jsonl"))
    checkpoint.Checkpoint(path, dump, engine="local").save(row=3)
    with pytest.raises(ValueError, match="written by the local engine; resume with --engine local"):
        checkpoint.Checkpoint(path, dump, engine="ray").load()
    assert checkpoint.Checkpoint(path, dump, engine="local").load() is not None


def test_batch_resume_with_another_model_is_refused(
    pipeline: Pipeline, dump: Path, tmp_path: Path
) -> None:
    from classifier.lexical import LexicalModel

    texts, labels = zip(*TOY_NOTES, strict=True)
    other_dir = tmp_path / "other-model"
    LexicalModel(min_df=1, name="toy-lexical", model_version="t2").fit(
        list(texts) * 2, list(labels) * 2).save(other_dir)
    out = dump.with_name("out.jsonl")
    run(pipeline, dump, out, limit=20)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="resume with the same --model and --policy"):
        run(Pipeline.load(other_dir), dump, out, resume=True)
    assert out.read_bytes() == before  # nothing mixed in
    assert run(pipeline, dump, out, resume=True).total == N
