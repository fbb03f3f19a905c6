"""Engines, side by side in one run: flat memory on a large dump, the local and the Ray engine, and
the lexicon's bounded-time pattern engine (``regex``) against Python's ``re``.

    python -m bench.engines                 # prints a summary and one JSON line
    python -m bench.engines --write         # also keeps the JSON in bench/results/engines/
    python -m bench.engines --readme        # only rewrites the README's and docs/ray.md's blocks
    python -m bench.engines --quick         # tiny sizes: a smoke test, not a measurement

Each part runs in its own process (``notecheck score`` as a child, waited with ``os.wait4`` so
its peak RSS is its own):

``memory``   a JSONL dump of ``--dump-mb`` MB built in a temporary folder (the authored seed notes,
             label fields removed, repeated with new ids), then
             ``notecheck score DUMP -o OUT --limit N --no-progress`` for each ``--limits`` N:
             the child's peak RSS and wall time. Flat memory means the peak does not grow with N.
``engines``  all seed notes concatenated (``cat training/data/seed_w*.jsonl``), scored by
             ``notecheck score`` on the default path with ``--engine local`` and with
             ``--engine ray --num-actors 1``: wall time including start-up, notes/s over that
             wall, the driver's peak RSS (Ray's own processes and the actor are not counted), and
             whether the two output files are byte-identical.
``lexicon``  :func:`classifier.signals.extract_signals` over the same seed notes, as shipped (the
             ``regex`` module, every match call bounded by a timeout), and with the same lexicon
             compiled by Python's ``re`` (the bench swaps the ``regex`` module of
             :mod:`classifier.patterns`, :mod:`classifier.folds` and :mod:`classifier.signals` for
             a thin ``re`` adapter that drops ``timeout=``; the package has no such switch): the
             best of ``--repeats`` passes per engine, ms per note, and whether every note's
             signals are identical.

The JSON records the machine (cores, load average before and after, nice, git commit).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import LABEL_FIELDS, REPO, SEED_GLOB

RESULTS = REPO / "bench" / "results" / "engines"
MARKERS = {
    "memory": ("<!-- engines-memory:begin -->", "<!-- engines-memory:end -->"),
    "lexicon": ("<!-- engines-lexicon:begin -->", "<!-- engines-lexicon:end -->"),
    "ray": ("<!-- engines-ray:begin -->", "<!-- engines-ray:end -->"),
}
"""Marker blocks: ``memory`` and ``lexicon`` in README.md, ``ray`` in docs/ray.md."""


# ----------------------------------------------------------------------------- helpers


def seed_files(root: Path = REPO) -> list[Path]:
    files = sorted(root.glob(SEED_GLOB))
    if not files:
        raise SystemExit(f"no seed notes found under {root / SEED_GLOB}")
    return files


def notecheck() -> list[str]:
    """The ``notecheck`` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "notecheck"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from serving.cli import main; sys.exit(main())"]


def build_dump(path: Path, target_bytes: int) -> dict[str, int]:
    """The seed notes (label fields removed) repeated with new ids until ``path`` holds at least
    ``target_bytes``; the note and byte counts."""
    rows = []
    for f in seed_files():
        for line in f.read_text("utf-8").splitlines():
            if line.strip():
                rows.append({k: v for k, v in json.loads(line).items() if k not in LABEL_FIELDS})
    n = size = 0
    with open(path, "w", encoding="utf-8") as out:
        while size < target_bytes:
            row = dict(rows[n % len(rows)])
            row["id"] = f"big-{n:08d}"
            line = json.dumps(row, ensure_ascii=False) + "\n"
            out.write(line)
            size += len(line.encode("utf-8"))
            n += 1
    return {"notes": n, "bytes": size}


def run_child(cmd: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run ``cmd``; its exit status, wall seconds and peak RSS (MiB, its own, via ``wait4``)."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        tail = log.read().decode("utf-8", "replace").strip().splitlines()[-5:]
    return {"exit": proc.returncode, "wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "loadavg_start": round(load, 2), "output_tail": tail}


def _score(args: Sequence[str], summary: Path, timeout: float, what: str) -> dict[str, Any]:
    print(f"-- {what} (load average {os.getloadavg()[0]:.1f}) ...", flush=True)
    r = run_child([*notecheck(), "score", *args, "--no-progress", "--summary-json", str(summary)], timeout)
    if r["exit"] != 0 or not summary.is_file():
        raise SystemExit(f"{what} failed (exit {r['exit']}): " + " | ".join(r["output_tail"]))
    s = json.loads(summary.read_text("utf-8"))
    r.update(scored=int(s["scored"]), failed=int(s["failed"]), scoring_s=float(s["elapsed_s"]))
    r["notes_per_s"] = round(r["scored"] / r["wall_s"], 1) if r["wall_s"] else None
    r["scoring_notes_per_s"] = round(r["scored"] / r["scoring_s"], 1) if r["scoring_s"] else None
    print(f"   {what}: {r['scored']} scored, {r['failed']} failed, {r['wall_s']} s, "
          f"peak RSS {r['peak_rss_mib']} MiB", flush=True)
    return r


# ----------------------------------------------------------------------------- the parts


def part_memory(work: Path, dump_mb: float, limits: Sequence[int], timeout: float) -> dict[str, Any]:
    dump = work / "big.jsonl"
    made = build_dump(dump, int(dump_mb * 1e6))
    print(f"-- dump: {made['notes']} notes, {made['bytes'] / 1e6:.0f} MB", flush=True)
    rows = []
    for n in limits:
        out = work / f"out-{n}.jsonl"
        r = _score([str(dump), "-o", str(out), "--limit", str(n)], work / f"summary-{n}.json", timeout,
                   f"memory --limit {n}")
        rows.append({"limit": n, **r})
        out.unlink(missing_ok=True)
    dump.unlink()
    return {"dump_notes": made["notes"], "dump_bytes": made["bytes"], "runs": rows}


def part_engines(work: Path, max_notes: int | None, timeout: float) -> dict[str, Any]:
    src = work / "seed_all.jsonl"
    with open(src, "wb") as out:
        out.writelines(f.read_bytes() for f in seed_files())
    if max_notes is not None:
        src.write_text("".join(src.read_text("utf-8").splitlines(keepends=True)[:max_notes]), "utf-8")
    notes = sum(1 for line in src.read_text("utf-8").splitlines() if line.strip())
    rows = {}
    outs = {}
    for engine, extra in (("local", ["--engine", "local"]), ("ray", ["--engine", "ray", "--num-actors", "1"])):
        outs[engine] = work / f"{engine}.jsonl"
        rows[engine] = _score([str(src), "-o", str(outs[engine]), *extra], work / f"summary-{engine}.json",
                              timeout, f"engine {engine}")
    same = filecmp.cmp(outs["local"], outs["ray"], shallow=False)
    print(f"   outputs byte-identical: {same}", flush=True)
    return {"notes": notes, "runs": rows, "byte_identical": same}


def part_lexicon(max_notes: int | None, repeats: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.engines", "--lexicon-child", "--repeats", str(repeats)]
    if max_notes is not None:
        cmd += ["--max-notes", str(max_notes)]
    print(f"-- lexicon: regex vs re (load average {os.getloadavg()[0]:.1f}) ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"lexicon part failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    print(f"   regex {result['regex_ms_per_note']} ms/note, re {result['re_ms_per_note']} ms/note, "
          f"identical signals: {result['identical']}", flush=True)
    return result


# ----------------------------------------------------------------------------- re in place of regex


class _RePattern:
    """A compiled ``re`` pattern that takes (and ignores) ``regex``'s ``timeout=``."""

    def __init__(self, rx: re.Pattern[str]) -> None:
        self._rx = rx
        self.pattern = rx.pattern
        self.groupindex = rx.groupindex

    def search(self, text: str, pos: int = 0, *, timeout: float | None = None) -> re.Match[str] | None:
        return self._rx.search(text, pos)

    def match(self, text: str, pos: int = 0, *, timeout: float | None = None) -> re.Match[str] | None:
        return self._rx.match(text, pos)

    def fullmatch(self, text: str, pos: int = 0, *, timeout: float | None = None) -> re.Match[str] | None:
        return self._rx.fullmatch(text, pos)

    def finditer(self, text: str, pos: int = 0, *, timeout: float | None = None) -> Iterator[re.Match[str]]:
        return self._rx.finditer(text, pos)


class _ReModule:
    """The part of the ``regex`` module that the lexicon uses, on ``re``."""

    MULTILINE = re.MULTILINE
    VERSION0 = 0
    error = re.error
    escape = staticmethod(re.escape)
    Pattern = re.Pattern

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> _RePattern:
        return _RePattern(re.compile(pattern, flags))


def lexicon_child(max_notes: int | None, repeats: int) -> dict[str, Any]:
    """Time :func:`extract_signals` over the seed notes with the shipped lexicon on ``regex`` and
    on ``re`` (runs in its own process: it swaps modules)."""
    import classifier.folds
    import classifier.patterns
    import classifier.signals
    from classifier.notes import note_from_dict
    from classifier.signals import Lexicon, extract_signals

    notes = []
    for f in seed_files():
        for line in f.read_text("utf-8").splitlines():
            if line.strip():
                notes.append(note_from_dict(json.loads(line)))
    notes = notes[:max_notes] if max_notes is not None else notes
    engines = {"regex": Lexicon.load()}
    modules = (classifier.patterns, classifier.folds, classifier.signals)
    shipped = [vars(m)["regex"] for m in modules]
    for m in modules:
        setattr(m, "regex", _ReModule)  # noqa: B010 - the swap this bench exists for
    try:
        engines["re"] = Lexicon.load()
    finally:
        for m, mod in zip(modules, shipped, strict=True):
            setattr(m, "regex", mod)  # noqa: B010
    for name, lex in engines.items():  # the swap took: every pattern and fold of "re" is on re
        on_re = [isinstance(rx, _RePattern) for m in lex._matchers for rx in (m.regex, *m.singles)]
        on_re += [isinstance(f.regex, _RePattern) for f in lex.folds]
        if any(on_re) != (name == "re") or all(on_re) != (name == "re"):
            raise SystemExit(f"the {name!r} lexicon is not compiled by {name} alone")
    if engines["regex"].needs_words:
        from classifier.segment import warm

        warm()
    signals = {}
    best = {}
    for name, lex in engines.items():  # one warm pass each
        signals[name] = [extract_signals(n, lex) for n in notes]
        best[name] = float("inf")
    for _ in range(repeats):
        for name, lex in engines.items():
            t0 = time.perf_counter()
            for n in notes:
                extract_signals(n, lex)
            best[name] = min(best[name], time.perf_counter() - t0)
    differ = [n.id for n, a, b in zip(notes, signals["regex"], signals["re"], strict=True) if a != b]
    return {"notes": len(notes), "repeats": repeats,
            "signals": sum(len(s) for s in signals["regex"]),
            "regex_ms_per_note": round(best["regex"] * 1000 / len(notes), 3),
            "re_ms_per_note": round(best["re"] * 1000 / len(notes), 3),
            "identical": not differ, "notes_differing": differ[:20]}


# ----------------------------------------------------------------------------- the run


def machine() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    return {"cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "nice": os.nice(0), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "git_commit": git("rev-parse", "--short", "HEAD"),
            "worktree_dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def run(args: argparse.Namespace) -> dict[str, Any]:
    facts = machine()
    out: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": facts,
                           "quick": args.quick, "model": "the default (models/DEFAULT), default path"}
    work = Path(tempfile.mkdtemp(prefix="notecheck-bench-engines-"))
    try:
        out["memory"] = part_memory(work, args.dump_mb, args.limits, args.timeout)
        out["engines"] = part_engines(work, args.max_notes, args.timeout)
        out["lexicon"] = part_lexicon(args.max_notes, args.repeats, args.timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    facts["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


# ----------------------------------------------------------------------------- the README blocks


def newest_run(root: Path = REPO) -> tuple[Path, dict[str, Any]] | None:
    from training.readme import newest_run as newest

    path = newest(root / "bench" / "results" / "engines")
    return None if path is None else (path, json.loads(path.read_text("utf-8"))["engines_bench"])


def _preamble(path: Path, b: dict[str, Any], root: Path) -> str:
    m = b["machine"]
    return (f"One run of `python -m bench.engines` ({b['at'][:10]}, git {m['git_commit']}), kept in "
            f"`{path.relative_to(root)}` and written here by `python -m bench.engines --readme`: "
            f"{m['cpu_count']} CPUs of a machine shared with other work, load average "
            f"{m['loadavg_before'][0]:.1f} before and {m['loadavg_after'][0]:.1f} after the run (the bench at "
            f"nice {m['nice']}). Compare rows of this run only.")


def render(part: str, root: Path = REPO) -> str:
    """The text of marker block ``part`` (see :data:`MARKERS`) from the newest kept run."""
    got = newest_run(root)
    if got is None:
        return "No engines bench run is kept yet: run `python -m bench.engines --write`."
    path, b = got
    pre = _preamble(path, b, root)
    if part == "memory":
        mem = b["memory"]
        runs = " and ".join(f"{r['peak_rss_mib']:.0f} MiB at N = {r['limit']:,} ({r['wall_s']:.0f} s)"
                            for r in mem["runs"])
        return (f"Streaming, measured on a {mem['dump_bytes'] / 1e6:,.0f} MB JSONL dump ({mem['dump_notes']:,} "
                "notes: the seed notes, label fields removed, repeated with new ids), `notecheck score big.jsonl "
                f"-o out.jsonl --limit N --no-progress`, the child's own peak RSS (and wall time): {runs}. {pre}")
    if part == "lexicon":
        lx = b["lexicon"]
        same = "the same signals as" if lx["identical"] else (
            f"signals that differ on {len(lx['notes_differing'])}+ notes from")
        return (f"Measured on the {lx['notes']:,} authored seed notes ({lx['signals']:,} signals), "
                f"`extract_signals` as shipped against the same lexicon compiled by Python's `re` in the bench: "
                f"{same} `re`; the lexical stage took {lx['regex_ms_per_note']:.2f} ms per note on `regex` and "
                f"{lx['re_ms_per_note']:.2f} ms on `re` (best of {lx['repeats']} passes each). {pre}")
    if part == "ray":
        e = b["engines"]
        lines = [pre, "",
                 (f"The shipped default model on the default path (int8 + cascade), the {e['notes']:,} authored "
                  "seed notes (`cat training/data/seed_w*.jsonl`), on the CPU; the wall time includes start-up "
                  "(loading the model; for Ray also starting Ray), notes/s is over that wall time; the scoring "
                  "rate is over the run's own clock (the summary's `elapsed_s`); the peak RSS is the driver's "
                  "own (not Ray's processes nor the actor's):"), "",
                 ("| engine | wall (incl. start-up) | notes/s over the wall | scoring rate | driver peak RSS | "
                 "scored / failed |"),
                 "| --- | ---: | ---: | ---: | ---: | --- |"]
        for name, cmd in (("local", "`--engine local`"), ("ray", "`--engine ray --num-actors 1`")):
            r = e["runs"][name]
            lines.append(f"| {cmd} | {r['wall_s']:.0f} s | {r['notes_per_s']:.1f} | "
                         f"{r['scoring_notes_per_s']:.1f} notes/s | {r['peak_rss_mib']:.0f} MiB | "
                         f"{r['scored']:,} / {r['failed']:,} |")
        lines += ["", "The two output files are " + (
            "byte-identical (`cmp`)." if e["byte_identical"] else "**not** byte-identical (`cmp` differs).")]
        return "\n".join(lines)
    raise ValueError(f"unknown block {part!r}; expected one of {sorted(MARKERS)}")


BLOCK_FILES = {"memory": "README.md", "lexicon": "README.md", "ray": "docs/ray.md"}


def write_readme(check: bool = False, root: Path = REPO) -> int:
    """Rewrite (or with ``check`` compare) the blocks in README.md and docs/ray.md; 1 when one is
    out of date."""
    from training.readme import rewrite

    stale = 0
    for name in sorted(set(BLOCK_FILES.values())):
        path = root / name
        text = path.read_text("utf-8")
        new = text
        for part, file in BLOCK_FILES.items():
            if file == name:
                new = rewrite(new, render(part, root), MARKERS[part])
        if new != text:
            stale = 1
            if not check:
                path.write_text(new, "utf-8")
    return stale if check else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.split("\n\n")[0])
    p.add_argument("--dump-mb", type=float, default=200.0, help="size of the memory part's dump (default 200)")
    p.add_argument("--limits", type=int, nargs="+", default=[2000, 20000], help="the --limit N of the memory part")
    p.add_argument("--max-notes", type=int, help="use only the first N seed notes (engines and lexicon parts)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per pattern engine (best kept)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per child process")
    p.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test (never --write it)")
    p.add_argument("--write", action="store_true", help=f"keep the JSON in {RESULTS.relative_to(REPO)}/")
    p.add_argument("--readme", action="store_true",
                   help="only rewrite the README's and docs/ray.md's blocks from the newest kept run (no bench)")
    p.add_argument("--lexicon-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.readme:
        return write_readme()
    if args.lexicon_child:
        print(json.dumps(lexicon_child(args.max_notes, args.repeats)))
        return 0
    if args.quick:
        if args.write:
            p.error("--quick is a smoke test; run without it to --write a measurement")
        args.dump_mb, args.limits, args.repeats = 0.5, [20, 200], 1
        args.max_notes = args.max_notes or 40
    from training.readme import print_run

    print_run(RESULTS, {"engines_bench": run(args)}, keep=args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
