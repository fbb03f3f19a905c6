"""`score --engine ray`: the Ray Data job gives the local engine's outputs, record for record.

The tests that run Ray share one local instance (2 CPUs, loopback only) started through the
production ``ray_session`` and shut down at the end of the module; the others need no Ray.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from classifier.errors import FormatError, ModelError, NotecheckError
from classifier.formats import iter_jsonl_lines, read_records, record_byte_limit
from classifier.pipeline import Pipeline
from classifier.types import Note, Verdict
from serving.batch.local import score_file, score_records
from serving.batch.ray import (
    _job_error,
    _write_outputs,
    ray_session,
    record_from_line,
    score_with_ray,
)
from tests.conftest import TOY_NOTES

N_NOTES = 300


def messy_lines(n: int = N_NOTES) -> list[bytes]:
    """``n`` good notes with every kind of bad line the JSONL reader reports mixed in."""
    lines = [json.dumps({"id": f"n{i}", "title": "记录" if i % 4 else "",
                         "text": f"{TOY_NOTES[i % len(TOY_NOTES)][0]} 第{i}条",
                         "sponsor_flag": i % 11 == 0,
                         **({"label": "sharing"} if i % 3 == 0 else {})},
                        ensure_ascii=False).encode()
             for i in range(n)]
    lines[0] = b"\xef\xbb\xbf" + lines[0]  # a BOM on line 1
    bad = {
        3: b'{"id": "broken", "text": "unterminated',
        5: json.dumps({"id": "bad-type", "text": 42}).encode(),
        8: b"",
        9: b'{"id": "latin1", "text": "caf\xe9"}',
        11: b"[1, 2, 3]",
        17: json.dumps({"id": "no-text"}).encode(),
        18: b"   ",
        40: json.dumps({"id": "bad-mentions", "text": "hi", "mentions": "x"}).encode(),
        41: b'{"id": "huge", "text": "' + "长".encode() * (record_byte_limit() // 3 + 10) + b'"}',
        250: b"null",
    }
    for i, line in bad.items():
        lines[i] = line
    return lines


@pytest.fixture()
def messy_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"\n".join(messy_lines()) + b"\n")
    return path


# ----------------------------------------------------------------------------- no Ray needed


def test_iter_jsonl_lines_cuts_lines_like_read_records(messy_jsonl: Path) -> None:
    with messy_jsonl.open("rb") as f:
        ours = [record_from_line(row, line, over, 100_000)
                for row, line, over in iter_jsonl_lines(f)]
    assert ours == list(read_records(messy_jsonl, "jsonl"))


class _FailsOn:
    """A pipeline stand-in whose batch scoring fails whenever note ``bad`` is in the batch."""

    def __init__(self, real: Pipeline, bad: str) -> None:
        self.real, self.bad = real, bad

    def score_batch(self, notes: Sequence[Note]) -> list[Verdict]:
        if any(n.id == self.bad for n in notes):
            raise RuntimeError("model exploded")
        return self.real.score_batch(notes)


def test_score_records_isolates_a_failing_note(lexical_dir: Path, messy_jsonl: Path) -> None:
    records = list(read_records(messy_jsonl, "jsonl"))[:20]
    pipeline: Any = _FailsOn(Pipeline.load(lexical_dir), bad="n7")
    verdicts, errors = score_records(pipeline, records)
    assert [e.row for e in errors] == [4, 6, 8, 10, 12, 18]
    failed = next(e for e in errors if e.row == 8)
    assert failed.reason == "scoring failed: RuntimeError: model exploded" and failed.raw == "n7"
    assert [r for r, _ in verdicts] == [r.row for r in records if r.note is not None and r.row != 8]
    assert len(verdicts) + len(errors) == len(records)


def _result_batches(rows: list[int]) -> Iterator[Any]:
    import pyarrow as pa

    yield pa.table({"row": rows, "kind": ["error"] * len(rows), "label": [None] * len(rows),
                    "decision": [None] * len(rows),
                    "json": [json.dumps({"row": r}) for r in rows]},
                   schema=pa.schema([("row", pa.int64()), ("kind", pa.string()),
                                     ("label", pa.string()), ("decision", pa.string()),
                                     ("json", pa.string())]))


@pytest.mark.parametrize(("rows", "message"), [
    ([1, 2, 4], "lost records: the input has 4 records"),
    ([1, 2, 2, 3], "row 2 twice or out of order"),
])
def test_write_outputs_fails_loudly_when_a_record_is_lost(
    tmp_path: Path, messy_jsonl: Path, rows: list[int], message: str
) -> None:
    from serving.batch.checkpoint import RunFiles
    from serving.batch.local import Summary

    out, errs = tmp_path / "v.jsonl", tmp_path / "e.jsonl"
    files = RunFiles(out, errs, messy_jsonl, engine="ray", in_place=False)
    files.begin(resume=False)
    with pytest.raises(NotecheckError, match=message):
        _write_outputs(_result_batches(rows), files, 4, Summary())
    assert not out.exists() and not errs.exists()


def test_score_with_ray_refuses_csv_before_starting_ray(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,text\n1,hi\n", "utf-8")
    with pytest.raises(FormatError, match="reads JSONL and Parquet"):
        score_with_ray(src, tmp_path / "out.jsonl")


def test_score_with_ray_checks_the_model_folder_before_starting_ray(
    tmp_path: Path, messy_jsonl: Path
) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        score_with_ray(messy_jsonl, tmp_path / "out.jsonl", model=tmp_path / "no-such-model")


@pytest.mark.parametrize(("text", "kind", "message"), [
    (("RayTaskError(UserCodeException): ...\n  File \"x.py\", line 1\n"
     "classifier.errors.ModelError: model folder 'm' is incomplete"), ModelError,
     "model folder 'm' is incomplete"),
    ("ActorDiedError: ...\nZeroDivisionError: division by zero", NotecheckError,
     "the Ray job failed: ZeroDivisionError: division by zero"),
    ("something odd", NotecheckError, "the Ray job failed \\(RuntimeError\\)"),
])
def test_job_error_names_the_cause_in_one_line(
    text: str, kind: type[Exception], message: str
) -> None:
    error = _job_error(RuntimeError(text))
    assert type(error) is kind
    assert re.match(message, str(error))


# ----------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    # Ray is in the test install (make test installs the [ray] extra): a missing Ray fails here.
    with ray_session(num_cpus=2):
        yield


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_matches_local_engine_on_jsonl(
    tmp_path: Path, lexical_dir: Path, messy_jsonl: Path
) -> None:
    local = score_file(Pipeline.load(lexical_dir), messy_jsonl, tmp_path / "local.jsonl",
                       batch_size=32, progress=False)
    ray = score_with_ray(messy_jsonl, tmp_path / "ray.jsonl", model=lexical_dir,
                         batch_size=32, num_actors=1)
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ((tmp_path / "ray.errors.jsonl").read_bytes()
            == (tmp_path / "local.errors.jsonl").read_bytes())
    errors = read_jsonl(tmp_path / "ray.errors.jsonl")
    assert [e["row"] for e in errors] == [4, 6, 10, 12, 18, 41, 42, 251]
    assert (ray.scored, ray.failed) == (local.scored, local.failed) == (N_NOTES - 10, 8)
    assert ray.labels == local.labels and ray.decisions == local.decisions
    assert ray.ignored_fields == local.ignored_fields and ray.ignored_fields["label"] > 90
    assert not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob("*.tmp"))


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_matches_local_engine_on_parquet(tmp_path: Path, lexical_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = [
        {"id": f"p{i}", "text": f"{TOY_NOTES[i % len(TOY_NOTES)][0]} #{i}",
         "mentions": json.dumps(["品牌官方"]) if i % 5 == 0 else None, "likes": i}
        for i in range(120)]
    rows[7]["text"] = None  # no text, no title
    rows[50]["mentions"] = '["unclosed'  # not JSON, then not a list
    src = tmp_path / "dump.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src, row_group_size=50)

    score_file(Pipeline.load(lexical_dir), src, tmp_path / "local.parquet", progress=False)
    summary = score_with_ray(src, tmp_path / "ray.parquet", model=lexical_dir, num_actors=1)
    assert (pq.read_table(tmp_path / "ray.parquet").to_pylist()
            == pq.read_table(tmp_path / "local.parquet").to_pylist())
    assert (tmp_path / "ray.errors.jsonl").read_bytes() == (
        tmp_path / "local.errors.jsonl").read_bytes()
    assert summary.scored + summary.failed == len(rows) and summary.failed >= 1


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_reports_a_model_that_fails_to_load_in_the_actors(
    tmp_path: Path, lexical_dir: Path, messy_jsonl: Path
) -> None:
    broken = tmp_path / "broken-model"
    shutil.copytree(lexical_dir, broken)
    (broken / "weights.safetensors").unlink()  # notecheck.json still passes the driver's check
    with pytest.raises(ModelError, match="incomplete"):
        score_with_ray(messy_jsonl, tmp_path / "out.jsonl", model=broken, num_actors=1)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_refuses_more_actors_than_cpus(tmp_path: Path, messy_jsonl: Path) -> None:
    with pytest.raises(ValueError, match="lower --num-actors"):
        score_with_ray(messy_jsonl, tmp_path / "out.jsonl", num_actors=2)


@pytest.mark.usefixtures("ray_local")
def test_cli_score_engine_ray_writes_what_the_local_engine_writes(
    tmp_path: Path, lexical_dir: Path, messy_jsonl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from serving.cli import main

    common = ["--model", str(lexical_dir), "--no-progress"]
    assert main(["score", str(messy_jsonl), "-o", str(tmp_path / "local.jsonl"), *common]) == 0
    capsys.readouterr()
    assert main(["score", str(messy_jsonl), "-o", str(tmp_path / "ray.jsonl"), *common,
                 "--engine", "ray", "--num-actors", "1"]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ((tmp_path / "ray.errors.jsonl").read_bytes()
            == (tmp_path / "local.errors.jsonl").read_bytes())
    version = json.loads((tmp_path / "ray.jsonl").read_text("utf-8").splitlines()[0])
    assert f"model {version['model_version']} | policy {version['policy_version']}" in printed
    assert f"records {N_NOTES - 2}: scored {N_NOTES - 10}, failed 8" in printed  # 2 blank lines


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_actors_read_pictures_like_the_local_engine(tmp_path: Path,
                                                                lexical_dir: Path) -> None:
    """``--images`` on Ray: the actors OCR the pictures and decode their QR codes; verdicts and
    errors equal the local engine's, a refused fetch included (a line, the note still scored)."""
    from classifier.pictures import PictureOptions
    from serving.cli import main
    from tests.conftest import draw_pictures

    root = tmp_path / "pictures"
    root.mkdir()
    draw_pictures(root, "contact.png", "group_qr.png")
    bland = "天气很好，和朋友去湖边露营，拍了很多照片。"
    rows = [{"id": "plain", "text": bland},
            {"id": "contact", "text": bland, "images": ["contact.png"]},
            {"id": "qr", "text": bland, "images": [{"path": "group_qr.png"}]},
            {"id": "outside", "text": bland, "images": ["../escape.png"]},
            {"id": "loopback", "text": bland, "images": ["http://127.0.0.1:9/a.png", "contact.png"]}]
    src = tmp_path / "notes.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    options = PictureOptions(root=str(root), fetch=True)
    local = score_file(Pipeline.load(lexical_dir), src, tmp_path / "local.jsonl", progress=False,
                       pictures=options.reader())
    ray = score_with_ray(src, tmp_path / "ray.jsonl", model=lexical_dir, num_actors=1,
                         pictures=options)
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ((tmp_path / "ray.errors.jsonl").read_bytes()
            == (tmp_path / "local.errors.jsonl").read_bytes())
    assert (ray.scored, ray.failed, ray.picture_failures) == (local.scored, local.failed,
                                                              local.picture_failures) == (4, 1, 1)
    verdicts = {v["id"]: v for v in read_jsonl(tmp_path / "ray.jsonl")}
    for note, field in (("contact", "images[0]"), ("qr", "images[0]"), ("loopback", "images[1]")):
        assert any(r["field"] == field for r in verdicts[note]["reasons"]), verdicts[note]
    assert not any(r["field"] for r in verdicts["plain"]["reasons"] if r["field"] != "text")
    outside, unfetched = read_jsonl(tmp_path / "ray.errors.jsonl")
    assert (outside["row"], outside["field"]) == (4, "images[0]") and "scored" not in outside
    assert "outside the image root" in outside["reason"]
    assert (unfetched["row"], unfetched["field"], unfetched["scored"]) == (5, "images[0]", True)
    assert "not a public address" in unfetched["reason"]
    assert main(["score", str(src), "-o", str(tmp_path / "cli.jsonl"), "--model", str(lexical_dir),
                 "--engine", "ray", "--num-actors", "1", "--images", "--image-root", str(root),
                 "--no-progress"]) == 0
    cli_errors = read_jsonl(tmp_path / "cli.errors.jsonl")  # no --fetch-images: a URL is refused
    assert [(e["row"], e["field"]) for e in cli_errors] == [(4, "images[0]"), (5, "images[0]")]
    assert "not fetched" in cli_errors[1]["reason"] and "scored" not in cli_errors[1]


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_joins_comments_like_the_local_engine(
        tmp_path: Path, lexical_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--comments`` on Ray: the driver reads the comment file, every actor joins it by note id;
    verdicts, errors (the comment file's bad rows first) and the comment counts equal the local
    engine's."""
    from serving.cli import main
    from tests.conftest import write_jsonl
    from tests.integration.test_cli_comments import COMMENTS, NOTES

    notes = write_jsonl(tmp_path / "notes.jsonl", [*NOTES, NOTES[0]])  # m1 twice: its rows count once
    comments = write_jsonl(tmp_path / "comments.jsonl", COMMENTS)
    local = score_file(Pipeline.load(lexical_dir), notes, tmp_path / "local.jsonl", progress=False,
                       comments=comments)
    ray = score_with_ray(notes, tmp_path / "ray.jsonl", model=lexical_dir, num_actors=1,
                         comments=comments, batch_size=1)
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ((tmp_path / "ray.errors.jsonl").read_bytes()
            == (tmp_path / "local.errors.jsonl").read_bytes())
    assert ray.comments == local.comments == {"rows": 7, "joined": 3, "failed": 3, "unmatched": 1}
    m1 = next(v for v in read_jsonl(tmp_path / "ray.jsonl") if v["id"] == "m1")
    assert any(r["field"] == "comments[1]" and r["evidence"] == "已私" for r in m1["reasons"])
    assert [e["source"] for e in read_jsonl(tmp_path / "ray.errors.jsonl")] == ["comments"] * 3
    capsys.readouterr()
    assert main(["score", str(notes), "-o", str(tmp_path / "cli.jsonl"), "--model", str(lexical_dir),
                 "--engine", "ray", "--num-actors", "1", "--comments", str(comments),
                 "--no-progress"]) == 0
    assert "comment rows 7: joined 3, failed 3 (in the errors file), matching no note 1" in (
        capsys.readouterr().out)
    assert (tmp_path / "cli.errors.jsonl").read_bytes() == (tmp_path / "local.errors.jsonl").read_bytes()


@pytest.mark.parametrize(("flags", "message"), [
    (["--engine", "ray", "--limit", "5"], "--limit belongs to the local engine"),
    (["--address", "auto"], "--address needs --engine ray"),
])
def test_cli_score_refuses_flags_of_the_other_engine(
    tmp_path: Path, messy_jsonl: Path, flags: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from serving.cli import EXIT_USAGE, main

    assert main(["score", str(messy_jsonl), "-o", str(tmp_path / "o.jsonl"), *flags]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_ray_actor_loads_the_exact_or_the_fast_path_as_asked(messy_jsonl: Path) -> None:
    from classifier.model import default_model_dir
    from serving.batch.ray import _ScoreActor

    shipped = str(default_model_dir())
    fast = _ScoreActor(shipped, None, None, "jsonl", 100_000).pipeline.model_version
    exact = _ScoreActor(shipped, None, None, "jsonl", 100_000, exact=True).pipeline.model_version
    assert "+cascade(" in fast
    assert "+" not in exact and fast.startswith(exact)


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_matches_local_engine_byte_for_byte_on_the_shipped_model(tmp_path: Path) -> None:
    from tests.conftest import REPO

    src = tmp_path / "notes.jsonl"
    lines = (REPO / "training" / "data" / "seed_w5.jsonl").read_text("utf-8").splitlines()
    src.write_text("\n".join(lines[:60]) + "\n", "utf-8")
    pipeline = Pipeline.load()  # the shipped model on its default (fast) path
    local = score_file(pipeline, src, tmp_path / "local.jsonl", batch_size=16, progress=False)
    ray = score_with_ray(src, tmp_path / "ray.jsonl", batch_size=7, num_actors=1)
    assert (ray.scored, ray.failed) == (local.scored, local.failed) == (60, 0)
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ray.versions == (pipeline.model_version, pipeline.policy.version)


def test_cli_score_engine_ray_passes_a_uri_through_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import serving.batch.ray
    from serving.batch.local import Summary
    from serving.cli import main

    seen: list[Any] = []

    def fake(input_path: Any, output: Path, **kwargs: Any) -> Summary:
        seen.append(input_path)
        return Summary(scored=1, output=str(output), errors="e", versions=("m@1", "p@1"))

    monkeypatch.setattr(serving.batch.ray, "score_with_ray", fake)
    uri = "s3://bucket/notes/2026-11.jsonl"
    assert main(["score", uri, "-o", str(tmp_path / "o.jsonl"), "--engine", "ray"]) == 0
    assert seen == [uri]  # not a Path, which would fold "//" into "/"
    assert "model m@1 | policy p@1" in capsys.readouterr().out


class _StopAfter:
    """Wraps the driver's block writer: after ``blocks`` blocks the run stops with ``stop`` (Ctrl-C
    or a full disk); counts the rows each run hands to the writer."""

    def __init__(self, real: Any, blocks: int | None, stop: BaseException) -> None:
        self.real = real
        self.blocks, self.stop = blocks, stop
        self.rows: list[int] = []

    def __call__(self, batch: Any, *args: Any) -> None:
        if self.blocks is not None and self.blocks <= 0:
            raise self.stop
        if self.blocks is not None:
            self.blocks -= 1
        self.rows += batch.column("row").to_pylist()
        self.real(batch, *args)


@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize(("stop", "suffix"), [
    (KeyboardInterrupt(), ".jsonl"),
    (OSError(28, "No space left on device"), ".csv"),
])
def test_ray_engine_resumes_an_interrupted_job_to_the_uninterrupted_result(
    tmp_path: Path, lexical_dir: Path, messy_jsonl: Path, monkeypatch: pytest.MonkeyPatch,
    stop: BaseException, suffix: str,
) -> None:
    from serving.batch import ray as ray_engine
    from serving.batch.checkpoint import progress_path
    from serving.batch.local import BatchIOError

    whole, part = tmp_path / f"whole{suffix}", tmp_path / f"part{suffix}"
    common: dict[str, Any] = {"model": lexical_dir, "batch_size": 16, "num_actors": 1}
    uninterrupted = score_with_ray(messy_jsonl, whole, **common)

    monkeypatch.setattr(ray_engine, "RECORD_BLOCK", 16)  # small blocks, recorded one by one
    first = _StopAfter(ray_engine._append, blocks=5, stop=stop)
    monkeypatch.setattr(ray_engine, "_append", first)
    with pytest.raises(type(stop) if isinstance(stop, KeyboardInterrupt) else BatchIOError):
        score_with_ray(messy_jsonl, part, **common)
    state = json.loads(progress_path(part).read_text("utf-8"))
    assert not state["complete"] and state["row"] == first.rows[-1] > 0
    assert not part.exists()  # a Ray output appears only when complete

    second = _StopAfter(first.real, blocks=None, stop=stop)
    monkeypatch.setattr(ray_engine, "_append", second)
    resumed = score_with_ray(messy_jsonl, part, resume=True, **common)
    assert second.rows and min(second.rows) > state["row"]  # only the rest was scored
    assert sorted(first.rows + second.rows) == first.rows + second.rows
    assert len(first.rows) + len(second.rows) == uninterrupted.total
    assert part.read_bytes() == whole.read_bytes()
    assert (tmp_path / "part.errors.jsonl").read_bytes() == \
        (tmp_path / "whole.errors.jsonl").read_bytes()
    assert (resumed.scored, resumed.failed) == (uninterrupted.scored, uninterrupted.failed)
    assert resumed.labels == uninterrupted.labels
    assert resumed.decisions == uninterrupted.decisions
    assert resumed.ignored_fields == uninterrupted.ignored_fields
    again = score_with_ray(messy_jsonl, part, resume=True, **common)  # complete: nothing to do
    assert (again.scored, again.failed, again.versions) == \
        (resumed.scored, resumed.failed, resumed.versions)
    assert not list(tmp_path.glob("part*.partial*"))


@pytest.mark.usefixtures("ray_local")
def test_ray_engine_resumes_a_killed_job_to_the_uninterrupted_result(
    tmp_path: Path, lexical_dir: Path
) -> None:
    """A real kill: a ``notecheck score --engine ray`` process (blocks of 32 records) joins the
    test's Ray instance and is SIGKILLed once it has recorded a block; ``--resume`` finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import ray

    from serving.batch.checkpoint import progress_path
    from tests.conftest import REPO

    n = N_NOTES
    src = tmp_path / "big.jsonl"
    src.write_bytes(b"\n".join(messy_lines(n)) + b"\n")
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    score_with_ray(src, whole, model=lexical_dir, num_actors=1)

    argv = ["score", str(src), "-o", str(part), "--model", str(lexical_dir), "--engine", "ray",
            "--address", ray.get_runtime_context().gcs_address, "--num-actors", "1",
            "--no-progress"]
    code = ("import sys; from serving.batch import ray as ray_engine; ray_engine.RECORD_BLOCK = 32; "
            f"from serving.cli import main; sys.exit(main({argv!r}))")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # our loopback-only Ray
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = progress_path(part)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.exists() and json.loads(progress.read_text("utf-8") or "{}").get("row", 0):
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = json.loads(progress.read_text("utf-8"))
    assert not state["complete"], "the job finished before it could be killed; grow the dump"
    assert 0 < state["row"] < n and not part.exists()

    resumed = score_with_ray(src, part, model=lexical_dir, num_actors=1, resume=True)
    assert resumed.resumed_from_row == state["row"]
    assert part.read_bytes() == whole.read_bytes()
    assert (tmp_path / "part.errors.jsonl").read_bytes() == \
        (tmp_path / "whole.errors.jsonl").read_bytes()
