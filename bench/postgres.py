"""A throw-away PostgreSQL 15 server for the benchmarks (Debian's binaries, a temporary folder, a
Unix socket, no TCP port), as ``tests/conftest.py`` starts one for the tests."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.load_api import free_port

__all__ = ["PG_BIN", "postgres"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def postgres() -> Iterator[tuple[Callable[[], str], str]]:
    """A PostgreSQL 15 server in a temporary folder on a Unix socket (run as ``postgres`` or
    ``nobody`` when this runs as root), with its default durability settings; yields
    (a function returning the URL of a fresh database, the server version). Raises SystemExit
    when it cannot start."""
    import psycopg

    if not (PG_BIN / "initdb").is_file():
        raise SystemExit(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing): "
                         "apt-get install postgresql-15")
    root = Path(tempfile.mkdtemp(prefix="notecheck-bench-pg-"))
    root.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        for user in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                continue
            os.chown(root, entry.pw_uid, entry.pw_gid)
            prefix = ["runuser", "-u", user, "--"]
            break
        else:
            raise SystemExit("running as root and no user postgres or nobody to run PostgreSQL")
    port = free_port()
    data = root / "data"
    options = f"-p {port} -k {root} -c listen_addresses='' -c max_connections=200"

    def run(*cmd: str) -> None:
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise SystemExit(f"PostgreSQL: {' '.join(cmd)} exited {done.returncode}: {done.stderr[-1500:]}")

    try:
        run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "notecheck", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8")
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
            "-o", options, "start")
        with psycopg.connect(host=str(root), port=port, user="notecheck", dbname="postgres",
                             autocommit=True) as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        counter = itertools.count()

        def fresh() -> str:
            name = f"bench{next(counter)}"
            with psycopg.connect(host=str(root), port=port, user="notecheck", dbname="postgres",
                                 autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return f"postgresql+psycopg://notecheck@/{name}?host={root}&port={port}"

        yield fresh, version
    finally:
        subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)
