"""Load test of the moderation API on loopback.

Starts ``python -m serving.http.app serve`` on 127.0.0.1 (a free port; never another interface) with
the given model, waits for ``/readyz``, then

1. sends N requests (default 2,000) from C concurrent clients (default 32 kept-alive
   connections of a lean asyncio HTTP/1.1 client, in ``--client-procs`` processes), each
   ``--notes-per-request`` notes (1 -> the single-note route, more -> the batch route);
2. sends ``--single`` requests (default 200) one after another from one client;

and prints notes/s, p50/p99 latency, status counts, the server's RSS before and after and its
CPU time per note (the capacity figure that does not depend on the client, which shares the
machine), then one JSON line with every figure. Example::

    python bench/load_api.py --model models/notecheck-base
    python bench/load_api.py --model /tmp/lexical --requests 500 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_NOTES = REPO / "examples" / "notes_canonical.jsonl"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of ``pid`` in MiB (Linux /proc); ``field="VmHWM"``: its peak so far."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def load_notes(path: Path) -> list[dict[str, Any]]:
    notes = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    if not notes:
        raise SystemExit(f"no notes in {path}; give a JSONL file of canonical notes")
    return notes


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as ``bench.worker`` computes its
    latencies (numpy); NaN when there are none."""
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else float("nan")


def start_server(args: argparse.Namespace, port: int, log: Any) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "serving.http.app", "serve", "--host", HOST, "--port", str(port),
           "--model", str(args.model), "--log-level", "warning",
           "--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms),
           "--max-queue", str(args.max_queue)]
    if args.policy:
        cmd += ["--policy", str(args.policy)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTECHECK_API_KEYS", "NOTECHECK_ADMIN_KEYS")}
    return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log, env=env)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}; see its log")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"the server was not ready within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Stop a server subprocess as its operator would: SIGTERM, then SIGKILL if it has not exited
    within ``timeout_s``. Does nothing when it has already exited."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def request_body(notes: list[dict[str, Any]], i: int, per_request: int) -> tuple[str, Any]:
    if per_request == 1:
        return "/v1/moderate", {**notes[i % len(notes)], "id": f"bench-{i}"}
    batch = [{**notes[(i * per_request + k) % len(notes)], "id": f"bench-{i}-{k}"}
             for k in range(per_request)]
    return "/v1/moderate/batch", {"notes": batch}


def _request_bytes(path: str, body: Any) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode("ascii") + data


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> str:
    """Send one request on a kept-alive connection and read the whole response; its status."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status_line.split()[1].decode("ascii")


async def _load(url: str, notes: list[dict[str, Any]], ids: range, concurrency: int,
                per_request: int) -> tuple[list[float], Counter[str]]:
    """Send the requests ``ids`` from ``concurrency`` kept-alive connections.

    A deliberately lean HTTP/1.1 client (bodies serialised before the clock starts, only the
    status line and Content-Length parsed): it shares the machine's cores with the server, so
    every millisecond of client CPU is one the server does not get. httpx's async client costs
    about 8 ms of CPU per request here, which made the client, not the server, the limit."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    requests = {i: _request_bytes(*request_body(notes, i, per_request)) for i in ids}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    todo = iter(ids)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in todo:
                t0 = time.perf_counter()
                try:
                    status = await asyncio.wait_for(_exchange(reader, writer, requests[i]), 60)
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                    statuses[type(exc).__name__] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                statuses[status] += 1
                latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


def _client_process(url: str, notes: list[dict[str, Any]], ids: range, concurrency: int,
                    per_request: int) -> tuple[list[float], Counter[str], float]:
    cpu0 = time.process_time()
    latencies, statuses = asyncio.run(_load(url, notes, ids, concurrency, per_request))
    return latencies, statuses, time.process_time() - cpu0


def run_load(url: str, notes: list[dict[str, Any]], n: int, concurrency: int, per_request: int,
             procs: int = 1, server_pid: int | None = None) -> dict[str, Any]:
    """N requests at ``concurrency``, split over ``procs`` client processes."""
    procs = max(1, min(procs, concurrency, n))
    shares = [range(k, n, procs) for k in range(procs)]
    per_proc = [concurrency // procs + (k < concurrency % procs) for k in range(procs)]
    server_cpu0 = _cpu_s(server_pid)
    t0 = time.perf_counter()
    if procs == 1:
        results = [_client_process(url, notes, shares[0], per_proc[0], per_request)]
    else:
        with ProcessPoolExecutor(procs) as pool:
            futures = [pool.submit(_client_process, url, notes, share, c, per_request)
                       for share, c in zip(shares, per_proc, strict=True)]
            results = [f.result() for f in futures]
    elapsed = time.perf_counter() - t0
    server_cpu = _cpu_s(server_pid) - server_cpu0
    latencies = [x for lat, _, _ in results for x in lat]
    statuses: Counter[str] = Counter()
    for _, st, _ in results:
        statuses.update(st)
    ok_notes = statuses.get("200", 0) * per_request
    return {
        "requests": n, "concurrency": concurrency, "notes_per_request": per_request,
        "client_processes": procs, "elapsed_s": round(elapsed, 3),
        "requests_per_s": round(n / elapsed, 1), "notes_per_s": round(ok_notes / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2), "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else None,
        "status_counts": dict(sorted(statuses.items())),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_note": round(1000 * server_cpu / ok_notes, 3) if ok_notes else None,
        "client_cpu_s": round(sum(c for _, _, c in results), 2),
    }


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` (Linux /proc; 0 elsewhere)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="model folder to serve")
    p.add_argument("--policy", type=Path, help="policy file (default: the model's)")
    p.add_argument("--notes", type=Path, default=DEFAULT_NOTES,
                   help="JSONL of canonical notes to send, cycled (default: the examples)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--notes-per-request", type=int, default=1)
    p.add_argument("--single", type=int, default=200, help="sequential single-client requests")
    p.add_argument("--client-procs", type=int, default=max(1, (os.cpu_count() or 1) // 4),
                   help="client processes sharing the concurrency (default: cores / 4)")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=2.0)
    p.add_argument("--max-queue", type=int, default=256)
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = p.parse_args(argv)
    if not 1 <= args.notes_per_request <= 100:
        p.error("--notes-per-request must be 1..100")
    notes = load_notes(args.notes)

    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = args.server_log or Path(tempfile.mkstemp(prefix="notecheck-serve-", suffix=".log")[1])
    with open(log_path, "wb") as log:
        proc = start_server(args, port, log)
        try:
            ready_s = wait_ready(url, proc, args.ready_timeout)
            rss_before = rss_mb(proc.pid)
            print(f"server pid {proc.pid} on {url}: ready in {ready_s:.1f} s, "
                  f"RSS {rss_before:.0f} MiB")
            run_load(url, notes, min(64, args.requests), args.concurrency,
                     args.notes_per_request)  # warm connections and caches
            load = run_load(url, notes, args.requests, args.concurrency, args.notes_per_request,
                            args.client_procs, proc.pid)
            single = run_load(url, notes, args.single, 1, 1, 1, proc.pid)
            rss_after = rss_mb(proc.pid)
            rss_peak = rss_mb(proc.pid, "VmHWM")
            metrics = httpx.get(url + "/metrics", timeout=10).text
        finally:
            stop_server(proc)
    batch_sizes = _histogram_mean(metrics, "notecheck_batch_size")
    print(f"load   : {load['requests']} requests x {load['notes_per_request']} notes at "
          f"concurrency {load['concurrency']}: {load['notes_per_s']} notes/s, "
          f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, statuses {load['status_counts']}; "
          f"server CPU {load['server_cpu_ms_per_note']} ms/note, client CPU "
          f"{load['client_cpu_s']} s in {load['client_processes']} process(es)")
    print(f"single : {single['requests']} sequential requests: p50 {single['p50_ms']} ms, "
          f"p99 {single['p99_ms']} ms, {single['notes_per_s']} notes/s, server CPU "
          f"{single['server_cpu_ms_per_note']} ms/note")
    print(f"server : RSS {rss_before:.0f} -> {rss_after:.0f} MiB; mean notes per model call "
          f"{batch_sizes:.1f}; exit code {proc.returncode}; log {log_path}")
    print(json.dumps({
        "model": str(args.model), "cpu_count": os.cpu_count(), "ready_s": round(ready_s, 2),
        "load": load, "single_client": single,
        "rss_mb_before": round(rss_before, 1), "rss_mb_after": round(rss_after, 1),
        "rss_mb_peak": round(rss_peak, 1),
        "mean_model_batch": round(batch_sizes, 2), "server_exit_code": proc.returncode,
    }, ensure_ascii=False))
    return 0


def _histogram_mean(metrics: str, name: str) -> float:
    values = {}
    for line in metrics.splitlines():
        for suffix in ("_sum", "_count"):
            if line.startswith(name + suffix + " "):
                values[suffix] = float(line.split()[1])
    return values.get("_sum", 0.0) / values["_count"] if values.get("_count") else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
