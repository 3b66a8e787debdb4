"""Delivering the outbox: one event per POST, strictly in seq order, signed, retried with backoff.

Only the oldest undelivered event (the head) is ever sent; the ones behind it wait until the
receiver has accepted it with a 2xx. Connection errors, timeouts, 408, 429 and 5xx are retried
with capped exponential backoff and jitter; any other answer (3xx, 4xx) marks the head
rejected, which still blocks the queue and is tried again only at the backoff cap or after
`safetrain outbox retry`. Every state lives in the database; an event whose POST was in flight
when the process died is sent again, with the same Idempotency-Key.

One deliverer at a time per database: a PostgreSQL advisory lock held on the connection that
records the results, or on SQLite an flock next to the database file. Whoever holds it sends
the head; the others find it taken and do nothing.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from server.certificates import signing
from server.certificates.algorithms import b64url, b64url_decode
from server.certificates.keystore import KeyStore
from server.config import Settings
from server.db import utcnow
from server.errors import SafetrainError
from server.outbox import service
from server.outbox.models import OutboxEvent, OutboxState

log = logging.getLogger("safetrain.outbox")

PUSH_TYP = "safetrain-push+jws"
SIGNATURE_HEADER = "X-Safetrain-Signature"
BACKOFF_BASE_SECONDS = 1.0
ADVISORY_LOCK_KEY = 0x5AFE_0B0C  # pg_try_advisory_lock: one deliverer per database
USER_AGENT = "safetrain-outbox/1"
RETRYABLE_STATUS = frozenset({408, 429})


# --- signing -------------------------------------------------------------------------------


def sign_body(payload: str, store: KeyStore) -> tuple[bytes, str]:
    """The bytes to POST and their detached JWS (RFC 7515 appendix F): `header..signature`.

    The receiver puts base64url(body) between the two dots and verifies the compact JWS with
    the base's JWKS (typ safetrain-push+jws).
    """
    value = json.loads(payload)
    assert isinstance(value, dict)
    token = signing.sign_document(value, store, typ=PUSH_TYP)
    header, body, signature = token.split(".")
    # The body is the signed bytes themselves, so what is sent is exactly what was signed.
    return b64url_decode(body), f"{header}..{signature}"


def attach(detached: str, body: bytes) -> str:
    """The compact JWS of a detached signature and the body it came with (for receivers)."""
    header, _, signature = detached.partition("..")
    return f"{header}.{b64url(body)}.{signature}"


# --- one attempt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool = True
    status: int | None = None
    error_code: str | None = None  # timeout, connection, server_error, rate_limited, rejected …
    error: str | None = None
    retry_after: float | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(response: httpx.Response) -> Outcome:
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(delivered=True, status=code)
    detail = f"HTTP {code} {response.reason_phrase}: {response.text[:200]}".strip()
    if code == 429:
        return Outcome(False, True, code, "rate_limited", detail, _retry_after(response))
    if code in RETRYABLE_STATUS or code >= 500:
        return Outcome(False, True, code, "server_error", detail, _retry_after(response))
    return Outcome(False, False, code, "rejected", detail)


def backoff(attempts: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before attempt `attempts + 1`: 1, 2, 4 … capped, each between half and all."""
    delay: float = min(cap, BACKOFF_BASE_SECONDS * 2.0 ** min(attempts - 1, 30))
    return delay * (0.5 + rand() / 2)


# --- the lock ------------------------------------------------------------------------------


class DeliveryLock:
    """Held while delivering; sessions made here write through the lock's own connection."""

    def __init__(self, engine: Engine, connection: Connection | None) -> None:
        self._engine = engine
        self._connection = connection

    def session(self) -> Session:
        bind = self._connection if self._connection is not None else self._engine
        return Session(bind, expire_on_commit=False)


_memory_lock = threading.Lock()


def _unlock(conn: Connection) -> None:
    """Release the advisory lock; a connection that cannot is closed, which releases it too
    (never back to the pool still holding it)."""
    try:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
        conn.commit()
    except Exception:
        log.warning("releasing the outbox lock failed; closing its connection", exc_info=True)
        conn.invalidate()


@contextmanager
def delivery_lock(engine: Engine) -> Iterator[DeliveryLock | None]:
    """The database's one delivery lock, or None at once if another deliverer holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            held = bool(got.scalar())
            conn.commit()
            if not held:
                yield None
                return
            try:
                yield DeliveryLock(engine, conn)
            finally:
                _unlock(conn)
        return
    database = engine.url.database
    if not database or database == ":memory:":
        if not _memory_lock.acquire(blocking=False):
            yield None
            return
        try:
            yield DeliveryLock(engine, None)
        finally:
            _memory_lock.release()
        return
    path = Path(f"{database}.outbox-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield DeliveryLock(engine, None)  # closing the file releases the lock
    finally:
        os.close(fd)


# --- the deliverer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What one delivery run did and why it stopped."""

    delivered: int = 0
    busy: bool = False  # another deliverer holds the lock
    idle: bool = False  # nothing left to deliver
    stopped_at: int | None = None  # the head's seq, if it failed or is not due yet
    failed: bool = False  # the head was tried and failed in this run
    next_attempt_at: dt.datetime | None = None
    error: str | None = None


class Deliverer:
    """POSTs the outbox to `settings.regulator_push_url`; `run()` is one pass, safe to repeat."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not settings.regulator_push_url:
            raise ValueError("no regulator push URL is configured")
        self.engine = engine
        self.settings = settings
        self.store = KeyStore.from_settings(settings)
        self._rand = rand
        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=settings.regulator_push_timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def post(self, row: OutboxEvent) -> Outcome:
        """One attempt at delivering `row`; never raises for what the network or receiver does."""
        try:
            body, signature = sign_body(row.payload, self.store)
        except SafetrainError as exc:  # no signing key, a broken key folder
            return Outcome(False, True, None, exc.code, exc.message[:500])
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": row.idempotency_key,
            SIGNATURE_HEADER: signature,
        }
        if self.settings.regulator_push_token:
            headers["Authorization"] = f"Bearer {self.settings.regulator_push_token}"
        try:
            response = self.client.post(
                self.settings.regulator_push_url,
                content=body,
                headers=headers,
                timeout=self.settings.regulator_push_timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            timeout = self.settings.regulator_push_timeout_seconds
            return Outcome(False, True, None, "timeout", f"no answer in {timeout:g} s ({exc!r})")
        except httpx.HTTPError as exc:
            return Outcome(False, True, None, "connection", f"{type(exc).__name__}: {exc}"[:500])
        return classify(response)

    def record(self, session: Session, event_id: int, outcome: Outcome) -> OutboxEvent:
        row = session.get(OutboxEvent, event_id, with_for_update=True)
        assert row is not None, "outbox events are never deleted"
        now = utcnow()
        row.attempts += 1
        row.last_attempt_at = now
        row.last_status = outcome.status
        cap = self.settings.regulator_push_max_backoff_seconds
        if outcome.delivered:
            row.state = OutboxState.delivered
            row.delivered_at = now
            row.next_attempt_at = None
        else:
            row.last_error_code = outcome.error_code
            row.last_error = (outcome.error or "")[:500]
            if outcome.retryable:
                row.state = OutboxState.pending
                delay = backoff(row.attempts, cap, self._rand)
                if outcome.retry_after is not None:
                    delay = max(delay, min(outcome.retry_after, cap))
            else:
                row.state = OutboxState.rejected
                delay = cap  # a person has to look; the receiver may also change its mind
            row.next_attempt_at = now + dt.timedelta(seconds=delay)
        session.add(row)
        session.commit()
        return row

    def run(
        self,
        *,
        force: bool = False,
        max_events: int = 1000,
        stop: threading.Event | None = None,
    ) -> Run:
        """Deliver from the head until the queue is empty, the head fails or is not due yet,
        `max_events` went out or `stop` is set. `force` tries the head now even if its backoff
        has not passed."""
        with delivery_lock(self.engine) as lock:
            if lock is None:
                return Run(busy=True)
            delivered = 0
            while delivered < max_events and not (stop is not None and stop.is_set()):
                with lock.session() as session:  # closed again before the POST
                    row = service.head(session)
                    if row is None:
                        return Run(delivered=delivered, idle=True)
                    due = row.next_attempt_at
                    if not force and due is not None and due > utcnow():
                        return Run(delivered=delivered, stopped_at=row.seq, next_attempt_at=due)
                    session.expunge(row)
                assert row.id is not None
                outcome = self.post(row)
                with lock.session() as session:
                    row = self.record(session, row.id, outcome)
                if not outcome.delivered:
                    return Run(
                        delivered=delivered,
                        stopped_at=row.seq,
                        failed=True,
                        next_attempt_at=row.next_attempt_at,
                        error=row.last_error,
                    )
                delivered += 1
                force = False
            return Run(delivered=delivered)
