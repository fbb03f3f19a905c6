"""`notecheck score` end to end: every record accounted for, resume without duplicates or gaps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving.cli import main
from tests.conftest import REPO, TOY_NOTES, write_jsonl

EXAMPLE = REPO / "examples" / "notes_crawler.jsonl"


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def n_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip())


def score(*args: str | Path) -> int:
    return main(["score", *map(str, args), "--no-progress"])


def test_cli_example_dump_with_shipped_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.jsonl"
    assert score(EXAMPLE, "-o", out) == 0
    verdicts = read_jsonl(out)
    assert len(verdicts) == n_lines(EXAMPLE)
    for v in verdicts:
        assert v["label"] in ("sharing", "undisclosed_ad", "declared")
        assert v["decision"] in ("pass", "review", "block")
        assert set(v["scores"]) == {"sharing", "undisclosed_ad", "declared"}
        assert abs(sum(v["scores"].values()) - 1.0) < 1e-4
        assert v["model_version"] and v["policy_version"]
    printed = capsys.readouterr().out
    assert f"scored {len(verdicts)}, failed 0" in printed and "undisclosed_ad" in printed


def test_cli_offsets_point_into_the_original_text(tmp_path: Path, lexical_dir: Path) -> None:
    text = "用了两周还不错～ 想要的加薇❤：abc_123，到手价只要99元"
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "x", "text": text}])
    out = tmp_path / "out.jsonl"
    assert score(src, "-o", out, "--model", lexical_dir) == 0
    (verdict,) = read_jsonl(out)
    spans = [r for r in verdict["reasons"] if r["start"] is not None]
    assert spans, verdict
    for r in spans:
        assert text[r["start"] : r["end"]] == r["evidence"]


def test_cli_malformed_dump_loses_nothing(tmp_path: Path, lexical_dir: Path) -> None:
    lines = [
        json.dumps({"id": "ok1", "text": "今天天气不错"}, ensure_ascii=False).encode(),
        b'{"id": "broken", "text": "unterminated',
        json.dumps({"id": "no-text"}).encode(),
        json.dumps({"id": "bad-type", "text": 42}).encode(),
        json.dumps({"id": "bad-mentions", "text": "hi", "mentions": "notalist"}).encode(),
        json.dumps({"id": "huge", "text": "长" * 100_001}, ensure_ascii=False).encode(),
        b"",
        b'{"id": "latin1", "text": "caf\xe9"}',
        b"[1, 2, 3]",
        json.dumps({"id": "ok2", "title": "好物", "text": "加薇信领券"}, ensure_ascii=False).encode(),
    ]
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out, errs = tmp_path / "out.jsonl", tmp_path / "errs.jsonl"
    assert score(src, "-o", out, "--errors", errs, "--model", lexical_dir) == 0
    verdicts, errors = read_jsonl(out), read_jsonl(errs)
    assert [v["id"] for v in verdicts] == ["ok1", "ok2"]
    assert sorted(e["row"] for e in errors) == [2, 3, 4, 5, 6, 8, 9]
    assert len(verdicts) + len(errors) == sum(1 for line in lines if line.strip())
    by_row = {e["row"]: e for e in errors}
    assert by_row[4]["field"] == "text" and by_row[5]["field"] == "mentions"
    assert all(e["reason"] for e in errors)


def test_cli_empty_file(tmp_path: Path, lexical_dir: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    assert score(src, "-o", out, "--model", lexical_dir) == 0
    assert out.read_bytes() == b""


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_writes_csv_and_parquet(tmp_path: Path, lexical_dir: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    assert score(EXAMPLE, "-o", out, "--model", lexical_dir) == 0
    if suffix == ".csv":
        import csv

        with out.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    assert len(rows) == n_lines(EXAMPLE)
    assert not (tmp_path / "out.csv.partial.jsonl").exists()


def big_dump(path: Path, n: int) -> Path:
    rows = [{"id": f"n{i}", "text": f"{TOY_NOTES[i % len(TOY_NOTES)][0]} 第{i}条"} for i in range(n)]
    rows[7]["text"] = 7  # one invalid record, so errors resume too
    return write_jsonl(path, rows)


def test_cli_resume_after_limit_equals_full_run(tmp_path: Path, lexical_dir: Path) -> None:
    src = big_dump(tmp_path / "in.jsonl", 300)
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    assert score(src, "-o", full, "--model", lexical_dir, "--batch-size", "16") == 0
    assert main(["score", str(src), "-o", str(part), "--model", str(lexical_dir), "--batch-size", "16",
                 "--limit", "100", "--no-progress"]) == 0
    assert n_lines(part) < 300
    # a half-written line after the checkpoint must be dropped on resume
    with part.open("ab") as f:
        f.write(b'{"id": "garbage-half-line"')
    assert score(src, "-o", part, "--model", lexical_dir, "--batch-size", "16", "--resume") == 0
    assert part.read_bytes() == full.read_bytes()
    assert (tmp_path / "part.errors.jsonl").read_bytes() == (tmp_path / "full.errors.jsonl").read_bytes()


def test_cli_resume_after_kill_equals_full_run(tmp_path: Path, lexical_dir: Path) -> None:
    src = big_dump(tmp_path / "in.jsonl", 4000)
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    assert score(src, "-o", full, "--model", lexical_dir, "--batch-size", "32") == 0
    cmd = [sys.executable, "-m", "serving.cli", "score", str(src), "-o", str(part), "--model",
           str(lexical_dir), "--batch-size", "32", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = tmp_path / "part.jsonl.progress.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if progress.exists() and json.loads(progress.read_text("utf-8") or "{}").get("row", 0) >= 64:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = json.loads(progress.read_text("utf-8"))
    assert not state["complete"], "the run finished before it could be interrupted; grow the dump"
    assert score(src, "-o", part, "--model", lexical_dir, "--batch-size", "32", "--resume") == 0
    assert part.read_bytes() == full.read_bytes()
    assert n_lines(part) + n_lines(tmp_path / "part.errors.jsonl") == 4000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.jsonl", "-o", "x.jsonl"], "does not exist"),
        ([str(EXAMPLE), "-o", "x.jsonl", "--model", "no-such-model"], "does not exist"),
        ([str(EXAMPLE), "-o", "x.jsonl", "--policy", "no-such-policy.json"], "policy"),
    ],
)
def test_cli_fails_only_when_nothing_can_be_done(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                 message: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["score", *args, "--no-progress"]) != 0
    assert message in capsys.readouterr().err


def test_cli_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "notecheck"
    out = tmp_path / "o.jsonl"
    result = subprocess.run([str(exe), "score", str(EXAMPLE), "-o", str(out), "--no-progress"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert n_lines(out) == n_lines(EXAMPLE)


def test_cli_note_id_with_a_lone_surrogate_is_scored_not_fatal(tmp_path: Path, lexical_dir: Path) -> None:
    src = tmp_path / "dump.jsonl"
    src.write_text('{"id": "s\\ud800", "text": "今天去公园散步"}\n{"id": "t", "text": "好天气"}\n', "utf-8")
    out = tmp_path / "out.jsonl"
    assert score(src, "-o", out, "--model", lexical_dir) == 0
    raw = out.read_bytes().splitlines()
    assert b'"id": "s\\ud800"' in raw[0]  # kept escaped, as it came in
    assert [v["id"] for v in read_jsonl(out)] == ["s\ud800", "t"]
    assert n_lines(tmp_path / "out.errors.jsonl") == 0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_lone_surrogate_id_in_csv_and_parquet_output_is_escaped(
    tmp_path: Path, lexical_dir: Path, suffix: str
) -> None:
    src = tmp_path / "dump.jsonl"
    src.write_text('{"id": "s\\ud800", "text": "今天去公园散步"}\n{"id": "t", "text": "好天气"}\n', "utf-8")
    out = tmp_path / f"out{suffix}"
    assert score(src, "-o", out, "--model", lexical_dir) == 0
    if suffix == ".csv":
        import csv

        with out.open(encoding="utf-8") as f:
            ids = [row["id"] for row in csv.DictReader(f)]
    else:
        import pyarrow.parquet as pq

        ids = pq.read_table(out).column("id").to_pylist()
    assert ids == ["s\\ud800", "t"]  # the escape as text: these formats hold valid UTF-8 only


def test_cli_unknown_fields_are_ignored_and_listed_with_counts(
    tmp_path: Path, lexical_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[dict[str, object]] = [
        {"id": f"n{i}", "text": TOY_NOTES[i % len(TOY_NOTES)][0], "label": "sharing",
         **({"ip_location": "上海"} if i % 2 else {})} for i in range(10)]
    rows.append({"note_id": "c1", "desc": "周末去了家面馆", "liked_count": "1.2万",
                 "user": {"nickname": "x"}, "vertical": "food"})  # crawler fields are read
    rows.append({"id": "bad", "content": "正文"})  # an error row: its unread field hints why
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    expected = {"label": 10, "ip_location": 5, "vertical": 1, "content": 1}
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    assert score(src, "-o", out, "--model", lexical_dir, "--summary-json", summary) == 0
    printed = capsys.readouterr().out
    assert ("ignored fields (not read, records holding each): label x10, ip_location x5, "
            "vertical x1, content x1") in printed
    assert json.loads(summary.read_text("utf-8"))["ignored_fields"] == expected
    assert n_lines(out) == 11  # ignored, not refused

    part = tmp_path / "part.jsonl"
    assert score(src, "-o", part, "--model", lexical_dir, "--limit", "4",
                 "--batch-size", "2") == 0
    assert score(src, "-o", part, "--model", lexical_dir, "--resume", "--batch-size", "2",
                 "--summary-json", summary) == 0
    assert json.loads(summary.read_text("utf-8"))["ignored_fields"] == expected
