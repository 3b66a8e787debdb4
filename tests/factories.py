"""Keyword-only factories for test data; each writes through the real services."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from fastapi.testclient import TestClient
from sqlmodel import Session

from curricula.model import EducationLevel
from server.accounts import service as accounts
from server.accounts.models import Role, User, UserCreate
from server.audit.service import Actor
from server.config import Environment, Settings
from server.trainees import service as trainees
from server.trainees.identity import Sex, make_resident_id
from server.trainees.models import Trainee, TraineeCreate

PASSWORD = "correct-horse-battery"
ACTOR = Actor(name="test")
_seq = itertools.count(1)


def make_user(
    session: Session, *, role: Role, username: str | None = None, password: str | None = PASSWORD
) -> User:
    n = next(_seq)
    return accounts.create_user(
        session,
        ACTOR,
        UserCreate(
            username=username or f"{role.value}{n}",
            display_name=f"{role.value} {n}",
            role=role,
            password=password,
        ),
    )


def make_token(session: Session, *, user: User, days: int = 30) -> str:
    assert user.id is not None
    settings = Settings(database_url="sqlite://", environment=Environment.test)
    _, secret = accounts.create_token(session, settings, ACTOR, user.id, "test", days)
    return secret


def resident_id(
    *,
    birth: dt.date = dt.date(1990, 3, 7),
    serial: int | None = None,
    sex: Sex = Sex.male,
    region: str = "320602",
) -> str:
    return make_resident_id(region, birth, serial if serial is not None else next(_seq) % 1000, sex)


def trainee_data(**overrides: object) -> TraineeCreate:
    values: dict[str, object] = {
        "name": "张伟",
        "id_number": resident_id(),
        "phone": "13800138000",
        "employer": "江海精细化工有限公司",
        "job": "硝化操作工",
        "education": EducationLevel.senior_high,
    }
    values.update(overrides)
    return TraineeCreate.model_validate(values)


def make_trainee(session: Session, **overrides: object) -> Trainee:
    return trainees.register(session, ACTOR, trainee_data(**overrides))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the real form; returns the CSRF token of the first console page."""
    page = client.get("/console/login")
    response = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return form_token(client.get("/console").text)
