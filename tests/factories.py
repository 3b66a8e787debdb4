"""Keyword-only factories for test data; each writes through the real services."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlmodel import Session

from curricula.model import EducationLevel
from server.accounts import service as accounts
from server.accounts.models import Role, User, UserCreate
from server.audit.service import Actor
from server.config import Environment, Settings
from server.scheduling import enrolment
from server.scheduling import service as scheduling
from server.scheduling.models import ClassSession, Course, Enrolment, Room, Station
from server.scheduling.schemas import CourseCreate, RoomCreate, SessionCreate, StationCreate
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
    birth: dt.date | None = None,
    serial: int | None = None,
    sex: Sex = Sex.male,
    region: str = "320602",
) -> str:
    n = next(_seq)
    if birth is None:
        # 500 numbers per birth date and sex: move to the next day rather than repeat a number.
        birth = dt.date(1990, 3, 7) + dt.timedelta(days=n // 500)
    return make_resident_id(region, birth, serial if serial is not None else n % 500, sex)


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


# --- scheduling --------------------------------------------------------------------------

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def local(day: str, hhmm: str) -> dt.datetime:
    """A time in Shanghai (UTC+8), as trainers write it."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}:00+08:00")


def make_room(session: Session, *, code: str | None = None, capacity: int = 40) -> Room:
    n = next(_seq)
    return scheduling.create_room(
        session, ACTOR, RoomCreate(code=code or f"R{n}", name=f"教室{n}", capacity=capacity)
    )


def make_station(session: Session, *, code: str | None = None, kind: str = "vr_pod") -> Station:
    n = next(_seq)
    return scheduling.create_station(
        session,
        ACTOR,
        StationCreate(code=code or f"VR-{n:02d}", kind=kind, name=f"工位{n}"),  # type: ignore[arg-type]
    )


def make_course(
    session: Session,
    *,
    curriculum: str = "NITRATION",
    capacity: int = 30,
    starts_on: str = "2026-12-01",
    ends_on: str = "2026-12-31",
    trainer: User | None = None,
) -> Course:
    n = next(_seq)
    trainer = trainer or make_user(session, role=Role.trainer)
    assert trainer.id is not None
    return scheduling.create_course(
        session,
        ACTOR,
        CourseCreate(
            code=f"C{n}",
            curriculum_code=curriculum,
            starts_on=dt.date.fromisoformat(starts_on),
            ends_on=dt.date.fromisoformat(ends_on),
            lead_trainer_id=trainer.id,
            capacity=capacity,
        ),
    )


def make_session(
    session: Session,
    *,
    course: Course,
    day: str = "2026-12-01",
    start: str = "09:00",
    end: str = "12:00",
    kind: str = "theory",
    room: Room | None = None,
    stations: list[Station] | None = None,
    instructor: User | None = None,
) -> ClassSession:
    assert course.id is not None
    data = SessionCreate(
        kind=kind,  # type: ignore[arg-type]
        starts_at=local(day, start),
        ends_at=local(day, end),
        room_id=room.id if room else None,
        station_ids=[s.id for s in stations or [] if s.id is not None],
        instructor_id=instructor.id if instructor else None,
    )
    return scheduling.add_session(session, ACTOR, course.id, data, ZoneInfo("Asia/Shanghai"))


def enrol(session: Session, *, course: Course, trainee: Trainee) -> Enrolment:
    assert course.id is not None and trainee.id is not None
    return enrolment.enrol(session, ACTOR, course.id, trainee.id, ZoneInfo("Asia/Shanghai"))


def make_trainee_user(session: Session, *, trainee: Trainee) -> User:
    """The account a trainee signs in with (kiosk, phone), linked to their registry record."""
    assert trainee.id is not None
    n = next(_seq)
    return accounts.create_user(
        session,
        ACTOR,
        UserCreate(
            username=f"trainee{n}",
            display_name=trainee.name,
            role=Role.trainee,
            password=None,
            trainee_id=trainee.id,
        ),
    )


# --- kiosk -------------------------------------------------------------------------------

PIN = "246810"


def make_kiosk(session: Session, *, code: str | None = None) -> tuple[Station, str]:
    """A station of kind kiosk and a one-time setup code for a screen (see tests/kiosk)."""
    from server.accounts import kiosk

    station = make_station(session, code=code or f"KIOSK-{next(_seq):02d}", kind="kiosk")
    _, setup_code = kiosk.enrol_device(session, ACTOR, station.code)
    return station, setup_code


def set_pin(session: Session, *, trainee: Trainee, pin: str = PIN) -> User:
    from server.accounts import pins

    assert trainee.id is not None
    return pins.set_pin(session, ACTOR, trainee.id, pin)


def make_session_now(
    session: Session, *, course: Course, before: int = 10, after: int = 120
) -> ClassSession:
    """A session that began `before` minutes ago and ends `after` minutes from now."""
    assert course.id is not None
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    data = SessionCreate(
        kind="theory",  # type: ignore[arg-type]
        title="硝化安全晨会",
        starts_at=now - dt.timedelta(minutes=before),
        ends_at=now + dt.timedelta(minutes=after),
    )
    return scheduling.add_session(session, ACTOR, course.id, data, ZoneInfo("Asia/Shanghai"))


def course_around_today(session: Session, **overrides: object) -> Course:
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return make_course(
        session,
        starts_on=(today - dt.timedelta(days=1)).isoformat(),
        ends_on=(today + dt.timedelta(days=30)).isoformat(),
        **overrides,  # type: ignore[arg-type]
    )
