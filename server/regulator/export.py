"""The bulk export: every certificate (or those the filters keep) as CSV or NDJSON, streamed.

The database renders each row as text — on SQLite one `printf` CSV line or one `json_object`
per row, on PostgreSQL `COPY (…) TO STDOUT` of the columns or of one `concat()` JSON text —
and Python only passes blocks of bytes on, so the server's memory stays flat and the rate stays near the database's own dump (docs/benchmarks.md).
Formatting in Python (a SQLAlchemy row of 25 columns, then the csv module) ran at a quarter of
the rate wanted. The access-log row is written before the first byte and updated as rows go
out: a download broken off still leaves it, marked incomplete, with the rows sent.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    select,
)
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from server.errors import InvalidInput, field_error
from server.regulator import service
from server.regulator.service import (
    COLUMNS,
    DAY,
    INSTANT,
    NUMBER,
    QUOTED,
    TEXT,
    Filters,
    Standings,
)

FORMATS = ("csv", "ndjson")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
BOM = b"\xef\xbb\xbf"
BATCH = 2000  # rows fetched at a time (SQLite)
BLOCK = 256 * 1024  # bytes gathered before they go to the connection (PostgreSQL)
PROGRESS_EVERY = 100_000  # rows between two updates of the access-log row
AHEAD = 4  # blocks read ahead of the connection (a few MB at most)
# A cell starting with one of these is a formula to a spreadsheet: CSV text cells get a "'".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULA_GLOB = "[-=+@\t\r]*"  # the same as a GLOB class: "-" first, or it makes a range


@dataclass(frozen=True)
class Chunk:
    data: bytes
    rows: int


# --- rendering in SQL ----------------------------------------------------------------------


def _no_formula(expr: ColumnElement[Any], postgres: bool) -> ColumnElement[Any]:
    """Free text that a spreadsheet opening the CSV will not take for a formula."""
    starts = (
        func.substr(expr, 1, 1).in_(FORMULA_START)
        if postgres
        # One GLOB costs SQLite a fifth of substr() … IN (…): 0.2 µs a cell, measured.
        else expr.op("GLOB")(literal(FORMULA_GLOB, String))
    )
    return case((starts, literal("'", String) + expr), else_=expr)


def _as_text(expr: ColumnElement[Any], kind: str, postgres: bool) -> ColumnElement[Any]:
    """Days as YYYY-MM-DD and instants as ISO 8601 in UTC, whatever the session's settings."""
    if kind == DAY:
        return func.to_char(expr, "YYYY-MM-DD") if postgres else expr
    if kind == INSTANT:
        if postgres:
            return func.to_char(func.timezone("UTC", expr), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        # SQLite holds UTC instants as "YYYY-MM-DD HH:MM:SS.ffffff" (server.db.UTCDateTime).
        return func.replace(expr, " ", "T", type_=String) + "Z"
    return expr


def _rows(
    columns: list[Any], wanted: Filters, standings: Standings, *, ordered: bool
) -> Select[Any]:
    query = service.filtered(
        select(*columns).select_from(service.record_source()), wanted, standings
    )
    return query.order_by(service.certificate_id()) if ordered else query


def export_query(fmt: str, wanted: Filters, on: dt.date, postgres: bool) -> Select[Any]:
    """The rows of the export: on SQLite one text column (the line), in id order (the table's
    own order, free); on PostgreSQL the columns as text for COPY (CSV) or one JSON text
    (NDJSON), in no set order — sorting a million joined rows first held the first row back
    for seconds and cost a quarter of the rate (docs/decisions.md)."""
    standings = Standings(on)
    columns = service.record_columns(standings)
    if postgres and fmt == "ndjson":
        return _rows([_json_line(columns).label("line")], wanted, standings, ordered=False)
    if postgres:
        return _rows(
            [
                (
                    _no_formula(expr, True)
                    if fmt == "csv" and kind == TEXT
                    else _as_text(expr, kind, True)
                ).label(name)
                for name, expr, kind in columns
            ],
            wanted,
            standings,
            ordered=False,
        )
    if fmt == "csv":
        # %w doubles the double quotes inside a quoted cell; %s writes NULL as nothing.
        formats = ['"%w"' if kind in (TEXT, QUOTED) else "%s" for _, _, kind in columns]
        values = [
            func.ifnull(_no_formula(expr, False) if kind == TEXT else expr, "")
            if kind in (TEXT, QUOTED)
            else _as_text(expr, kind, False)
            for _, expr, kind in columns
        ]
        line = func.printf(",".join(formats), *values, type_=String)
    else:
        pairs: list[Any] = []
        for name, expr, kind in columns:
            pairs += [literal(name, String), _as_text(expr, kind, False)]
        line = func.json_object(*pairs, type_=String)
    return _rows([line.label("line")], wanted, standings, ordered=True)


def _json_line(columns: list[tuple[str, ColumnElement[Any], str]]) -> ColumnElement[Any]:
    """One JSON object per row, spelled out by PostgreSQL's concat(): free text through
    to_json (which escapes it), codes, numbers and dates as they are — 10–20 % faster than
    row_to_json over the same columns, which looks up each column's type and escapes every
    value (measured, docs/benchmarks.md). Codes need no escaping: numbers, enums, the
    catalogue's codes and key ids are all [A-Za-z0-9._-] (curricula/model.py CODE)."""
    pieces: list[Any] = []
    for i, (name, expr, kind) in enumerate(columns):
        pieces.append(literal(("{" if i == 0 else ",") + f'"{name}":', String))
        value: ColumnElement[Any]
        if kind in (TEXT, QUOTED):
            value = cast(func.to_json(expr), Text)
        elif kind == NUMBER:
            value = cast(expr, Text)
        else:
            value = literal('"', String) + cast(_as_text(expr, kind, True), Text) + '"'
        pieces.append(func.coalesce(value, literal("null", String)))
    pieces.append(literal("}", String))
    return func.concat(*pieces, type_=String)


def check_format(fmt: str, bom: bool | None) -> bool:
    """Whether the export starts with a BOM: CSV by default (Excel needs it to read UTF-8),
    NDJSON never (a BOM is not JSON)."""
    if fmt == "ndjson" and bom:
        raise InvalidInput(
            "NDJSON 不带 BOM：请去掉 bom 参数",
            "NDJSON takes no BOM: leave out the bom parameter",
            details=[field_error("bom", "bom_not_for_ndjson", "仅用于 CSV", "for CSV only")],
        )
    return fmt == "csv" if bom is None else bom


# --- the bytes -----------------------------------------------------------------------------


def header(fmt: str, bom: bool) -> bytes:
    if fmt != "csv":
        return b""
    return (BOM if bom else b"") + (",".join(COLUMNS) + "\n").encode()


def chunks(engine: Engine, fmt: str, wanted: Filters, on: dt.date, *, bom: bool) -> Iterator[Chunk]:
    """The export as blocks of bytes, each with the number of rows it holds; the header first.

    The rows are read on the driver's own cursor, outside any SQLAlchemy transaction: on SQLite
    the connection is in autocommit, so the one SELECT reads a snapshot of its own and never
    takes the write lock that every request transaction (BEGIN IMMEDIATE) takes; on PostgreSQL
    COPY runs in the driver's implicit transaction, one snapshot too.
    """
    postgres = engine.dialect.name == "postgresql"
    query = export_query(fmt, wanted, on, postgres)
    first = header(fmt, bom)
    if first:
        yield Chunk(first, 0)
    compiled = query.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        if postgres:
            yield from _copy_out(driver, fmt, compiled)
            return
        # SQLite keeps dates as ISO text (server.db); the other parameters are text and numbers.
        params = [
            v.isoformat() if isinstance(v, dt.date) else v
            for v in (compiled.params[name] for name in compiled.positiontup or ())
        ]
        cursor = driver.execute(str(compiled), params)
        try:
            while rows := cursor.fetchmany(BATCH):
                lines = [row[0] for row in rows]
                lines.append("")
                yield Chunk("\n".join(lines).encode(), len(rows))
        finally:
            cursor.close()


def _copy_out(driver: Any, fmt: str, compiled: Any) -> Iterator[Chunk]:
    if fmt == "csv":
        sql = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    else:
        # One JSON text a line, as it is: with a "quote" and "delimiter" that no JSON text holds
        # (JSON escapes control characters) COPY quotes nothing.
        sql = f"COPY ({compiled}) TO STDOUT (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
    with driver.cursor() as cursor:
        # Compiling this query just in time took a second before the first row and won nothing
        # back over a million rows (measured); the setting lasts until the transaction ends.
        cursor.execute("SET LOCAL jit = off")
        # psycopg binds COPY's parameters on the client (the server takes none in COPY).
        yield from _blocks(cursor, sql, compiled.params)


def _blocks(cursor: Any, sql: str, params: Any) -> Iterator[Chunk]:
    with cursor.copy(sql, params) as copy:
        block, rows = bytearray(), 0
        for data in copy:  # libpq hands COPY OUT data over one row at a time
            block += data
            rows += 1
            if len(block) >= BLOCK:
                yield Chunk(bytes(block), rows)
                block, rows = bytearray(), 0
        if block:
            yield Chunk(bytes(block), rows)


# --- streaming, with the access log --------------------------------------------------------


class _Producer:
    """Reads the chunks in a thread of its own, up to AHEAD blocks ahead of the connection:
    the database works while the previous block is being sent (taking turns, each waited for
    the other — on PostgreSQL COPY stalls when its socket is full)."""

    def __init__(self, source: Iterator[Chunk]) -> None:
        self.source = source
        self.queue: queue.Queue[Chunk | BaseException | None] = queue.Queue(maxsize=AHEAD)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="regulator-export", daemon=True)
        self.thread.start()

    def _put(self, item: Chunk | BaseException | None) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for chunk in self.source:
                if not self._put(chunk):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the stream, which raises it
            self._put(exc)
        finally:
            close = getattr(self.source, "close", None)
            if close is not None:
                close()

    def next(self) -> Chunk | None:
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()


async def stream(
    source: Iterator[Chunk],
    progress: Callable[[int, bool], None],
    ended: Callable[[int], None],
) -> AsyncIterator[bytes]:
    """The chunks, read ahead in a thread; `progress(rows, finished)` every PROGRESS_EVERY
    rows and at the end, `ended(rows)` if the stream stops before its end."""
    producer = _Producer(source)
    sent, reported, finished = 0, 0, False
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(producer.next)
            if chunk is None:
                break
            yield chunk.data
            sent += chunk.rows
            if sent - reported >= PROGRESS_EVERY:
                await anyio.to_thread.run_sync(progress, sent, False)
                reported = sent
        finished = True
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(producer.finish)
            if finished:
                await anyio.to_thread.run_sync(progress, sent, True)
            else:
                await anyio.to_thread.run_sync(ended, sent)


class ExportResponse(StreamingResponse):
    """A streaming response that closes its stream however the sending ends, so the access
    log is brought up to date at once when a client goes away (not when garbage is collected)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:
                with anyio.CancelScope(shield=True):
                    await closing()
