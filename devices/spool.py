"""The gateway's durable spool: a frame is in SQLite (WAL, its own file) before it is acked.

One writer thread owns every write and commits whatever has queued up in one transaction
(group commit): a hall of devices costs one fsync per batch, not one per frame, and a frame's
ack still waits for its own commit. Items stay `pending` until the server answers for them;
`accepted` and `duplicate` make them `delivered` (kept a while, so a late retransmission is
recognised here), `rejected` keeps them aside with the server's reason until a person acts.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.codec import Frame, frame_key

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, the order items drain in
    key TEXT NOT NULL UNIQUE,              -- dev:boot:seq
    station TEXT NOT NULL,
    frame_type TEXT NOT NULL,
    envelope TEXT NOT NULL,                -- the item exactly as it is posted to the server
    received_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'rejected')),
    reason TEXT,                           -- the server's reason for a rejected item
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS spool_pending ON spool (id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS spool_rejected ON spool (id) WHERE state = 'rejected';
CREATE INDEX IF NOT EXISTS spool_delivered ON spool (settled_at) WHERE state = 'delivered';
"""
INSERT = "INSERT OR IGNORE INTO spool (key, station, frame_type, envelope, received_at) VALUES "
ROWS_PER_INSERT = 500  # 5 parameters a row, well under SQLite's limit of 32,766
SETTLED = {"accepted": "delivered", "duplicate": "delivered", "rejected": "rejected"}


class SpoolError(Exception):
    """The spool could not take or change an item (disk full, file locked, spool closed)."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SpoolItem:
    """One envelope of the gateway → server contract."""

    station: str
    frame: Frame
    source: str = "serial"
    received_at: str = field(default_factory=utc_now)

    @property
    def key(self) -> str:
        return frame_key(self.frame)

    def envelope(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "station": self.station,
                "source": self.source,
                "received_at": self.received_at,
                "frame": self.frame,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Pending:
    id: int
    key: str
    envelope: str  # JSON text of the envelope


@dataclass(frozen=True)
class Outcome:
    """The server's answer for one key."""

    key: str
    status: str  # accepted, duplicate, rejected
    reason: str | None = None


@dataclass(frozen=True)
class RejectedItem:
    key: str
    station: str
    reason: str | None
    settled_at: str | None
    envelope: dict[str, Any]


@dataclass(frozen=True)
class SpoolCounts:
    pending: int
    rejected: int


class _Op:
    """One change for the writer thread; `done` is set after its transaction committed."""

    __slots__ = ("apply", "done", "error", "result")

    def __init__(self, apply: Callable[[sqlite3.Connection], Any]) -> None:
        self.apply = apply
        self.done = threading.Event()
        self.result: Any = None
        self.error: SpoolError | None = None


_STOP = _Op(lambda conn: None)


class Spool:
    """The spool file at `path` (created if missing). Close it to stop its writer thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        max_batch: int = 1000,
        write_timeout: float = 10.0,
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, EXTRA or NORMAL")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._max_batch = max_batch
        self._write_timeout = write_timeout
        self._busy_timeout = busy_timeout
        self._writer = self._connect(synchronous)
        try:
            # Checkpoints run from `checkpoint()` (the forwarder's thread), not inside a commit
            # that a frame's ack is waiting for.
            self._writer.execute("PRAGMA wal_autocheckpoint=0")
            self._prepare(self._writer)
            self._reader = self._connect(synchronous)
        except BaseException:
            self._writer.close()
            raise
        self._read_lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._ops: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._arrived = threading.Condition()
        self._generation = 0  # bumped after every commit that added pending items
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"spool {self.path}", daemon=True)
        self._thread.start()

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout,
            )
        except sqlite3.Error as exc:
            raise SpoolError(f"{self.path}: {exc}") from exc
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SpoolError(f"{self.path}: spool schema {version} is newer than this gateway's")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # --- writes: through the writer thread -------------------------------------------------

    def _enqueue(self, op: _Op) -> None:
        with self._submit_lock:
            if self._closed:
                raise SpoolError(f"{self.path}: the spool is closed")
            self._ops.put(op)

    def _submit(self, apply: Callable[[sqlite3.Connection], Any]) -> Any:
        op = _Op(apply)
        self._enqueue(op)
        if not op.done.wait(self._write_timeout):
            raise SpoolError(f"{self.path}: no commit within {self._write_timeout:g} s")
        if op.error is not None:
            raise op.error
        return op.result

    def store(self, item: SpoolItem) -> bool:
        """Write the item durably; False if its key was already in the spool (a duplicate)."""
        return self.store_many([item])[0]

    def store_many(self, items: Sequence[SpoolItem]) -> list[bool]:
        """Write the items durably, in one transaction; for each, whether its key was new
        (the second of two items with one key, in the same call, is a duplicate)."""
        if not items:
            return []
        rows = [(i.key, i.station, i.frame["t"], i.envelope(), i.received_at) for i in items]

        def apply(conn: sqlite3.Connection) -> list[bool]:
            new: set[str] = set()
            for at in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[at : at + ROWS_PER_INSERT]
                sql = INSERT + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)) + " RETURNING key"
                new.update(key for (key,) in conn.execute(sql, [v for r in chunk for v in r]))
            fresh = []
            for key, *_ in rows:
                fresh.append(key in new)
                new.discard(key)
            return fresh

        result: list[bool] = self._submit(apply)
        return result

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record the server's answers: delivered items leave the queue, rejected ones wait aside."""
        now = utc_now()
        rows = [(SETTLED[o.status], o.reason, now, o.key) for o in outcomes if o.status in SETTLED]
        self._submit(
            lambda conn: conn.executemany(
                "UPDATE spool SET state = ?, reason = ?, settled_at = ?"
                " WHERE key = ? AND state = 'pending'",
                rows,
            )
        )

    def requeue(self, keys: Sequence[str] | None = None) -> int:
        """Put rejected items (all, or those keys) back in the queue; how many moved."""

        def apply(conn: sqlite3.Connection) -> int:
            sql = "UPDATE spool SET state = 'pending', reason = NULL, settled_at = NULL"
            if keys is None:
                return conn.execute(sql + " WHERE state = 'rejected'").rowcount
            return conn.executemany(
                sql + " WHERE state = 'rejected' AND key = ?", [(k,) for k in keys]
            ).rowcount

        moved = int(self._submit(apply))
        if moved:
            self._notify()
        return moved

    def prune_delivered(self, older_than: dt.timedelta) -> int:
        """Forget delivered items settled before now − `older_than`; how many."""
        cutoff = (dt.datetime.now(dt.UTC) - older_than).isoformat(timespec="milliseconds")
        cutoff = cutoff.replace("+00:00", "Z")
        return int(
            self._submit(
                lambda conn: (
                    conn.execute(
                        "DELETE FROM spool WHERE state = 'delivered' AND settled_at < ?", (cutoff,)
                    ).rowcount
                )
            )
        )

    def _run(self) -> None:
        while True:
            batch = [self._ops.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._ops.get_nowait())
                except queue.Empty:
                    break
            ops = [op for op in batch if op is not _STOP]
            if ops:
                self._commit(ops)
            if len(ops) < len(batch):
                return

    def _commit(self, ops: list[_Op]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                op.result = op.apply(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for op in ops:
                op.error = SpoolError(f"{self.path}: {exc}")
        else:
            self._notify()
        for op in ops:
            op.done.set()

    def _notify(self) -> None:
        with self._arrived:
            self._generation += 1
            self._arrived.notify_all()

    # --- reads --------------------------------------------------------------------------------

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            if not self._thread.is_alive():
                raise SpoolError(f"{self.path}: the spool is closed")
            try:
                return self._reader.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"{self.path}: {exc}") from exc

    def pending(self, limit: int = 500) -> list[Pending]:
        """The oldest items still waiting for the server, in arrival order."""
        rows = self._query(
            "SELECT id, key, envelope FROM spool WHERE state = 'pending' ORDER BY id LIMIT ?",
            (limit,),
        )
        return [Pending(*row) for row in rows]

    def wait_for_items(self, seen: int, timeout: float) -> int:
        """Block until a commit after generation `seen` (or timeout); the current generation."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._generation != seen, timeout)
            return self._generation

    @property
    def generation(self) -> int:
        with self._arrived:
            return self._generation

    def counts(self) -> SpoolCounts:
        pending = self._query("SELECT count(*) FROM spool WHERE state = 'pending'")[0][0]
        rejected = self._query("SELECT count(*) FROM spool WHERE state = 'rejected'")[0][0]
        return SpoolCounts(pending=pending, rejected=rejected)

    def rejected(self, limit: int = 100) -> list[RejectedItem]:
        rows = self._query(
            "SELECT key, station, reason, settled_at, envelope FROM spool"
            " WHERE state = 'rejected' ORDER BY id LIMIT ?",
            (limit,),
        )
        return [RejectedItem(k, s, r, at, json.loads(env)) for k, s, r, at, env in rows]

    def checkpoint(self) -> None:
        """Copy committed pages from the WAL into the file so the WAL stays short (PASSIVE:
        never waits for, nor holds up, the writer)."""
        self._query("PRAGMA wal_checkpoint(PASSIVE)")

    def state_of(self, key: str) -> str | None:
        rows = self._query("SELECT state FROM spool WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # --- closing ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes, stop the writer thread, close the file; safe to call twice."""
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._ops.put(_STOP)  # the last op: nothing can be queued after it
        self._thread.join()
        with self._read_lock:
            self._reader.close()
        self._writer.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
