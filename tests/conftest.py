"""Test set-up: every database test runs on SQLite and on a real PostgreSQL.

PostgreSQL is started by the set-up itself (tests/pgcluster.py). Where it is not installed the
PostgreSQL variants are skipped with a clear message; with CI=true they must run, so a missing
PostgreSQL fails the run instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server import migrate
from server.app import create_app
from server.certificates.keystore import KeyStore
from server.config import Environment, Settings
from server.db import make_engine
from tests import pgcluster

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_counter = itertools.count()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_url" in metafunc.fixturenames:
        backends = [pytest.param("postgres", marks=pytest.mark.postgres)]
        if metafunc.definition.get_closest_marker("postgres_only") is None:
            backends.insert(0, pytest.param("sqlite"))
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- SQLite: migrate once, copy the file for each test ------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


# --- PostgreSQL: one cluster per run, a migrated template, a clone per test ----------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster | None]:
    try:
        cluster = pgcluster.start()
    except pgcluster.PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL could not be started: {exc}", pytrace=False)
        _skipped_reason.append(str(exc))
        yield None
        return
    template_url = pgcluster.create_database(cluster, "safetrain_template")
    migrate.upgrade(template_url)
    yield cluster
    cluster.stop()


_skipped_reason: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_reason:
        terminalreporter.write_line(
            f"NOTE: PostgreSQL tests were SKIPPED: {_skipped_reason[0]}", yellow=True, bold=True
        )


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    cluster: pgcluster.Cluster | None = request.getfixturevalue("pg_cluster")
    if cluster is None:
        pytest.skip(f"PostgreSQL not available: {_skipped_reason[0]}")
    name = f"t{os.getpid()}_{next(_counter)}"
    yield pgcluster.create_database(cluster, name, template="safetrain_template")
    # Dropped after the test (8 MB each): a run of 1,300 PostgreSQL tests would otherwise leave
    # 10 GB behind for the cluster's removal at the end.
    pgcluster.drop_database(cluster, name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """The test's own view of the database. On SQLite its transactions are deferred, so a test
    that reads between requests does not hold the write lock the server's requests need."""
    eng = make_engine(db_url, immediate=False)
    with Session(eng, expire_on_commit=False) as s:
        yield s
    eng.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, environment=Environment.test)


@pytest.fixture
def cert_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings with a key store of its own (one signing key), for certificates."""
    settings = Settings(
        database_url=db_url, environment=Environment.test, keys_dir=str(tmp_path / "keys")
    )
    KeyStore.from_settings(settings).ensure()
    return settings


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings=settings, engine=engine)
    with TestClient(app) as c:
        yield c


CLI = str(Path(sys.executable).with_name("safetrain"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(db_url: str, log_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """`safetrain serve --workers 2` on `db_url` until the block ends; its base URL. The
    server's output goes to `log_path` (shown if it does not start within 30 s)."""
    port = _free_port()
    env = os.environ | {"SAFETRAIN_DATABASE_URL": db_url, "SAFETRAIN_ENVIRONMENT": "test"}
    env |= extra_env or {}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [CLI, "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("server did not start:\n" + log_path.read_text())
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`safetrain serve --workers 2` on the test database, for requests from real clients."""
    log_path = tmp_path / "serve.log"
    with serving(db_url, log_path, {"SAFETRAIN_LOGIN_MAX_FAILURES_PER_ACCOUNT": "4"}) as base:
        yield base
    pids = set(re.findall(r"Started server process \[(\d+)\]", log_path.read_text()))
    assert len(pids) == 2, "expected two worker processes"
