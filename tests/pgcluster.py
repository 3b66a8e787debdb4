"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl on 127.0.0.1, as `postgres`.

Started once per test run (about a second); each test gets a fresh database cloned from a
migrated template database.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    datadir: Path
    port: int
    pg_ctl: str
    as_postgres: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


class PostgresUnavailable(RuntimeError):
    pass


def start(*, durable: bool = False) -> Cluster:
    """A fresh cluster; `durable` keeps fsync on (benchmarks), the tests' default turns it off."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("initdb/pg_ctl not found (apt-get install postgresql)")
    as_postgres: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="safetrain-pg-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the cluster as the postgres system user.
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and runuser is missing")
        as_postgres = [runuser, "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    datadir = base / "data"
    result = subprocess.run(
        [
            *as_postgres,
            initdb,
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {result.stderr.strip()[-500:]}")
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c full_page_writes=off"
    result = subprocess.run(
        [
            *as_postgres,
            pg_ctl,
            "-D",
            str(datadir),
            "-o",
            options,
            "-l",
            str(base / "log"),
            "-w",
            "-t",
            "30",
            "start",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        log = (base / "log").read_text(errors="replace")[-800:] if (base / "log").exists() else ""
        raise PostgresUnavailable(f"pg_ctl start failed: {result.stderr.strip()} {log}")
    cluster = Cluster(datadir=datadir, port=port, pg_ctl=pg_ctl, as_postgres=as_postgres)
    _wait_ready(cluster)
    return cluster


def _wait_ready(cluster: Cluster, timeout: float = 15) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres"
            ):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def create_database(cluster: Cluster, name: str, template: str | None = None) -> str:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        clause = f" TEMPLATE {template}" if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')  # names are ours, not user input
    return cluster.url(name)


def drop_database(cluster: Cluster, name: str) -> None:
    """Drop a test's database, closing whatever connections it left open."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # our own names
