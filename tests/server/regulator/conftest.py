"""Fixtures of the regulator tests: certificate settings with a key store, the app on them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.accounts import service as accounts
from server.app import create_app
from server.config import Settings
from tests.server.regulator.world import World, build


@pytest.fixture(autouse=True)
def _quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """The courses' trainers get passwords nobody logs in with here: skip argon2's half second."""
    monkeypatch.setattr(accounts, "hash_password", lambda password: f"not-hashed:{len(password)}")


@pytest.fixture
def api(cert_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings=cert_settings, engine=engine)) as client:
        yield client


@pytest.fixture
def world(session: Session, cert_settings: Settings) -> World:
    return build(session, cert_settings)
