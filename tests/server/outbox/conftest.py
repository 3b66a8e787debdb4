"""A signing key, a receiver on 127.0.0.1, push settings with short timeouts, certificate changes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from server.app import create_app
from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate
from server.config import Environment, Settings
from server.outbox.deliver import Deliverer, Run
from server.outbox.models import OutboxEvent
from tests.factories import make_trainee
from tests.server.certificates.readiness import hours_course, ready
from tests.server.outbox.receiver import Receiver

ADMIN = Actor(name="admin", user_id=None, role="admin")
DAY = dt.date(2026, 12, 1)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    KeyStore(folder).ensure()
    return folder


@pytest.fixture
def jwks(db_url: str, keys_dir: Path, engine: Engine) -> dict[str, Any]:
    """The base's public keys as a receiver gets them: from /.well-known/jwks.json."""
    settings = Settings(database_url=db_url, environment=Environment.test, keys_dir=str(keys_dir))
    response = TestClient(create_app(settings, engine)).get("/.well-known/jwks.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def receiver(jwks: dict[str, Any]) -> Iterator[Receiver]:
    found = Receiver(jwks=jwks).start()
    yield found
    found.stop()


def push_settings(db_url: str, keys_dir: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "environment": Environment.test,
        "keys_dir": str(keys_dir),
        "regulator_push_url": url,
        "regulator_push_timeout_seconds": 0.5,
        "regulator_push_max_backoff_seconds": 0.05,
        "regulator_push_interval_seconds": 0.05,
        "exam_grading_interval_seconds": 0,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def settings(db_url: str, keys_dir: Path, receiver: Receiver) -> Settings:
    return push_settings(db_url, keys_dir, receiver.url)


@pytest.fixture
def deliverer(engine: Engine, settings: Settings) -> Iterator[Deliverer]:
    with Deliverer(engine, settings) as found:
        yield found


def issue_some(session: Session, settings: Settings, count: int) -> list[Certificate]:
    """`count` trainees who did everything, each issued a certificate."""
    course = hours_course(session, starts_on="2026-10-01")
    assert course.id is not None
    issued = []
    for _ in range(count):
        trainee = make_trainee(session)
        ready(session, course, trainee)
        assert trainee.id is not None
        issued.append(
            certificates.issue(session, settings, ADMIN, trainee.id, course.id, on=DAY)[0]
        )
    return issued


@pytest.fixture
def five_changes(session: Session, settings: Settings) -> list[str]:
    """Two certificates issued, the first suspended and reinstated, the second revoked: five
    outbox events. Returns their idempotency keys in seq order."""
    first, second = issue_some(session, settings, 2)
    certificates.change_status(session, ADMIN, first.number, "suspend", "调查中 under review")
    certificates.change_status(session, ADMIN, first.number, "reinstate", "调查结束 cleared")
    certificates.change_status(session, ADMIN, second.number, "revoke", "证件造假 forged")
    return outbox_keys(session)


def outbox_keys(session: Session) -> list[str]:
    session.rollback()  # a fresh snapshot
    keys = session.exec(select(OutboxEvent.idempotency_key).order_by(col(OutboxEvent.seq))).all()
    # Not left open: on SQLite a later write from a stale snapshot would find the database busy.
    session.rollback()
    return list(keys)


def outbox_rows(engine: Engine) -> list[OutboxEvent]:
    with Session(engine, expire_on_commit=False) as fresh:
        return list(fresh.exec(select(OutboxEvent).order_by(col(OutboxEvent.seq))).all())


def drain(
    deliverer: Deliverer, *, timeout: float = 20, between: Callable[[Run], None] | None = None
) -> list[Run]:
    """Run the deliverer, as the server's loop would, until nothing is left to deliver."""
    runs = []
    deadline = time.monotonic() + timeout
    while True:
        run = deliverer.run()
        runs.append(run)
        if run.idle:
            return runs
        if between is not None:
            between(run)
        if time.monotonic() > deadline:
            raise AssertionError(f"the outbox did not drain: {runs[-5:]}")
        time.sleep(0.01)


def assert_in_order(receiver: Receiver, expected: list[str]) -> None:
    """Every event arrived, verified, in seq order; a repeat is only ever a resend of the event
    just before it (the head, with its own Idempotency-Key)."""
    keys = receiver.keys()
    collapsed = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert collapsed == expected, keys
    assert receiver.accepted_keys() == expected
    assert all(a.verified for a in receiver.arrivals), [a.error for a in receiver.arrivals]
    for arrival in receiver.arrivals:
        assert arrival.event["idempotency_key"] == arrival.key
