"""Many rows in one statement: the batch paths (device results, imports) on both databases.

SQLite gets SQLAlchemy's `insertmanyvalues` (one multi-row INSERT a page, compiled once). On
PostgreSQL that multi-row form carries one bound parameter per value — 9,000 for 500 attempts —
which the server parses and plans at length; one array per column (`unnest`) is better but
psycopg escapes every JSON body into an array literal with a regular expression. So the whole
batch goes as one JSON document, encoded by Python's C encoder, and the rows come out of
`json_to_recordset` typed by the table's own columns: one parameter whatever the batch size.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def _encode(value: Any) -> Any:
    """What JSON cannot carry itself: instants as ISO 8601 in UTC, decimals as their text."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a bulk row")


def _pg_recordset(
    table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]], dialect: Any
) -> tuple[str, str]:
    """`json_to_recordset(:rows) AS r(name type, …)` and the rows as one JSON document."""
    kinds = ", ".join(f"{name} {table.c[name].type.compile(dialect=dialect)}" for name in names)
    # Rows are encoded as they are (keys beyond `names` are ignored by json_to_recordset).
    document = json.dumps(list(rows), ensure_ascii=False, separators=(",", ":"), default=_encode)
    return f"json_to_recordset(CAST(:rows AS JSON)) AS r({kinds})", document


def existing(session: Session, table: Table, column: str, values: Sequence[Any]) -> set[Any]:
    """Which of `values` are already in `column` (an indexed, unique column)."""
    if not values:
        return set()
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        # One array parameter: an IN list of 500 parameters costs the server 5 ms to plan.
        kind = table.c[column].type.compile(dialect=dialect)
        sql = text(
            f"SELECT {column} FROM {table.name} "  # noqa: S608 - our own names
            f"WHERE {column} = ANY(CAST(:values AS {kind}[]))"
        )
        return {v for (v,) in session.execute(sql, {"values": list(values)})}
    return {
        v for (v,) in session.execute(select(table.c[column]).where(table.c[column].in_(values)))
    }


def insert_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert every row (all with the same keys), returning nothing."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        names = list(rows[0])
        source, document = _pg_recordset(table, names, rows, dialect)
        sql = text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - our own names
            f"SELECT {', '.join(names)} FROM {source}"
        )
        session.execute(sql, {"rows": document})
        return
    session.execute(insert(table), rows)


def insert_returning(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts_on: str | None = None,
) -> list[tuple[Any, ...]]:
    """Insert every row (all with the same keys); the `returning` columns of the rows inserted.

    With `skip_conflicts_on` a row whose value there already exists is left out (`ON CONFLICT
    DO NOTHING`) and returns nothing. Rows come back in no particular order: map them by a key.
    """
    if not rows:
        return []
    bind = session.get_bind()
    dialect = bind.dialect
    if dialect.name == "postgresql":
        names = list(rows[0])
        source, document = _pg_recordset(table, names, rows, dialect)
        conflict = f" ON CONFLICT ({skip_conflicts_on}) DO NOTHING" if skip_conflicts_on else ""
        sql = text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - our own table and column names
            f"SELECT {', '.join(names)} FROM {source}{conflict} "
            f"RETURNING {', '.join(returning)}"
        ).columns(*(table.c[name] for name in returning))
        return [tuple(r) for r in session.execute(sql, {"rows": document})]
    if skip_conflicts_on:
        stmt: Any = (
            sqlite.insert(table).on_conflict_do_nothing(index_elements=[skip_conflicts_on])
            if dialect.name == "sqlite"
            else postgresql.insert(table).on_conflict_do_nothing(index_elements=[skip_conflicts_on])
        )
    else:
        stmt = insert(table)
    # executemany: one statement compiled once and sent in pages ("insertmanyvalues").
    found = session.execute(stmt.returning(*(table.c[n] for n in returning)), rows)
    return [tuple(r) for r in found]


class Pending:
    """The rows an `insert_ahead` returns, once its block is over."""

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            raise RuntimeError("the insert's rows are known only after its block")
        return self._rows


@contextmanager
def insert_ahead(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts_on: str | None = None,
) -> Iterator[Pending]:
    """`insert_returning`, with the block's Python work done while the database inserts.

    On PostgreSQL the statement goes out in pipeline mode and the server runs it while the
    block runs (scoring a batch, say); its rows are read when the block ends. The block must
    not use the session. Elsewhere the insert simply runs first.
    """
    pending = Pending()
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or not rows:
        pending._rows = insert_returning(
            session, table, rows, returning, skip_conflicts_on=skip_conflicts_on
        )
        yield pending
        return
    names = list(rows[0])
    source, document = _pg_recordset(table, names, rows, dialect)
    conflict = f" ON CONFLICT ({skip_conflicts_on}) DO NOTHING" if skip_conflicts_on else ""
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - our own names
        f"SELECT {', '.join(names)} FROM {source.replace(':rows', '%(rows)s')}{conflict} "
        f"RETURNING {', '.join(returning)}"
    )
    raw = session.connection().connection.driver_connection  # psycopg, in the transaction
    assert raw is not None
    with raw.pipeline():
        cursor = raw.cursor()
        cursor.execute(sql, {"rows": document})
        raw.pgconn.flush()  # on its way: the server starts while Python goes on
        yield pending
        pending._rows = [tuple(r) for r in cursor.fetchall()]
