"""Engine, sessions and column types shared by every domain; SQLite and PostgreSQL alike.

SQLite runs in WAL mode and every transaction starts with BEGIN IMMEDIATE: a service that reads
and then writes (the audit chain, gap-free numbers, a last seat) then holds the write lock from
its first read, so concurrent writers queue on busy_timeout instead of failing or forking state.
PostgreSQL gets the same guarantee from row locks (SELECT … FOR UPDATE) in the services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

if TYPE_CHECKING:
    from server.config import Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored as UTC; naive values are refused, never guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# An execution option: on SQLite, transactions of connections carrying it begin deferred.
DEFERRED = "safetrain_deferred"


def _sqlite_setup(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns, power cut included. A device result the
        # server answered "accepted" leaves the gateway's spool; it must not vanish afterwards.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        deferred = not immediate or conn.get_execution_options().get(DEFERRED, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def reading(engine: Engine) -> Engine:
    """The same engine and pool for reading: on SQLite its transactions begin deferred, so a
    reader holds a snapshot but never the write lock the writers queue for."""
    return engine.execution_options(**{DEFERRED: True})


def make_engine(
    url: str,
    *,
    echo: bool = False,
    immediate: bool = True,
    pool_size: int = 5,
    max_overflow: int = 5,
) -> Engine:
    """An engine for `url`; on SQLite, immediate=False gives plain deferred transactions (for
    tools that only read, such as tests inspecting the database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = not parsed.database or parsed.database == ":memory:"
        if not in_memory:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        # A pool, not a connection per session: opening one costs its PRAGMAs, and closing the
        # last one checkpoints the whole WAL (7 ms a request, measured in bench/ingest.py).
        pooling: dict[str, Any] = (
            {"poolclass": StaticPool}
            if in_memory
            else {"pool_size": pool_size, "max_overflow": max_overflow}
        )
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 15},
            **pooling,
        )
        _sqlite_setup(engine, immediate=immediate)
        return engine
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
    )


@cache
def engine_for(url: str, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """The process's one engine per database URL."""
    return make_engine(url, pool_size=pool_size, max_overflow=max_overflow)


def settings_engine(settings: Settings) -> Engine:
    return engine_for(settings.database_url, settings.db_pool_size, settings.db_max_overflow)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for one unit of work outside a request (CLI, demo loader, background jobs)."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
