"""The demo's kiosk (`make run`): a known PIN for every demo trainee, KIOSK-01's setup code, and
a session open for check-in now, so one can sign in at /kiosk and check in at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from server.accounts import kiosk, pins
from server.audit.service import Actor
from server.errors import SafetrainError
from server.scheduling import service
from server.scheduling.models import Course, Enrolment, EnrolmentStatus, SessionKind
from server.scheduling.schemas import SessionCreate
from server.trainees.models import Trainee

DEMO_PIN = "246810"
KIOSK_STATION = "KIOSK-01"


@dataclass
class DemoKiosk:
    pins: int = 0
    sessions: int = 0  # the session open now, when it could be planned
    setup_code: str | None = None
    trainee_name: str | None = None
    trainee_id_number: str | None = None  # a trainee with a session open for check-in now


def load(
    session: Session, actor: Actor, tz: ZoneInfo, *, now: dt.datetime | None = None
) -> DemoKiosk:
    made = DemoKiosk()
    for trainee in session.exec(select(Trainee).order_by(col(Trainee.id))).all():
        assert trainee.id is not None
        try:
            pins.set_pin(session, actor, trainee.id, DEMO_PIN)
        except SafetrainError:
            session.rollback()  # the demo PIN is this trainee's birth date or ID number's end
            continue
        made.pins += 1
    try:
        _, made.setup_code = kiosk.enrol_device(session, actor, KIOSK_STATION)
    except SafetrainError:
        session.rollback()  # no KIOSK-01 (the demo plan was not loaded)
    found = _open_session_now(session, actor, tz, now or dt.datetime.now(dt.UTC), made)
    if found is not None:
        made.trainee_name, made.trainee_id_number = found.name, found.id_number
    return made


def _open_session_now(
    session: Session, actor: Actor, tz: ZoneInfo, now: dt.datetime, made: DemoKiosk
) -> Trainee | None:
    """An hour of the nitration course starting now, whatever the hour, for its first trainee to
    check in to: an exam session, which counts towards no hours, so the course stays on plan
    (no room or instructor, so it clashes with nothing)."""
    course = session.exec(
        select(Course).where(Course.curriculum_code == "NITRATION").order_by(col(Course.id))
    ).first()
    if course is None or course.id is None:
        return None
    enrolled = session.exec(
        select(Trainee)
        .join(Enrolment, col(Enrolment.trainee_id) == Trainee.id)
        .where(Enrolment.course_id == course.id, Enrolment.status == EnrolmentStatus.enrolled)
        .order_by(col(Trainee.id))
    ).first()
    if enrolled is None:
        return None
    local = now.astimezone(tz)
    start = local.replace(minute=0 if local.minute < 30 else 30, second=0, microsecond=0)
    end = min(start + dt.timedelta(hours=1), start.replace(hour=23, minute=59))
    if end <= local:
        return enrolled  # a minute before midnight: tomorrow's plan will do
    try:
        service.add_session(
            session,
            actor,
            course.id,
            SessionCreate(
                kind=SessionKind.exam,
                title="理论考试签到（演示）",
                starts_at=start,
                ends_at=end,
            ),
            tz,
        )
        made.sessions += 1
    except SafetrainError:
        session.rollback()  # outside the course's dates: sign-in still shows today's plan
    return enrolled
