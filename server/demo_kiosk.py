"""The demo's kiosk (`make run`): a known PIN for every demo trainee, KIOSK-01's setup code, a
session open for check-in now, so one can sign in at /kiosk and check in at once, and for that
trainee a refresher course finished weeks ago with its certificate, so /kiosk/certificates
shows one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from scoring.papers import answer_key
from server.accounts import kiosk, pins
from server.accounts import service as accounts
from server.accounts.models import User
from server.assessment import decisions, sittings
from server.assessment.sittings import SittingPlan
from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates.keystore import KeyStore
from server.config import Settings
from server.errors import SafetrainError
from server.scheduling import attendance, enrolment, service
from server.scheduling.models import Course, Enrolment, EnrolmentStatus, SessionKind
from server.scheduling.schemas import CourseCreate, SessionCreate
from server.trainees.models import Trainee

DEMO_PIN = "246810"
KIOSK_STATION = "KIOSK-01"


@dataclass
class DemoKiosk:
    pins: int = 0
    sessions: int = 0  # the session open now, when it could be planned, and the refresher's
    enrolled: int = 0  # in the refresher course
    setup_code: str | None = None
    trainee_name: str | None = None
    trainee_id_number: str | None = None  # a trainee with a session open for check-in now
    certificate: str | None = None  # that trainee's certificate number


def load(
    session: Session,
    actor: Actor,
    tz: ZoneInfo,
    *,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> DemoKiosk:
    """With settings (to sign with), the kiosk's trainee is certified too."""
    now = now or dt.datetime.now(dt.UTC)
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
    found = _open_session_now(session, actor, tz, now, made)
    if found is not None:
        made.trainee_name, made.trainee_id_number = found.name, found.id_number
        if settings is not None:
            made.certificate = _certified(session, settings, actor, found, now, made)
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


REFRESHER = "CHEM-REFRESHER"


def _certified(
    session: Session,
    settings: Settings,
    actor: Actor,
    trainee: Trainee,
    now: dt.datetime,
    made: DemoKiosk,
) -> str | None:
    """The yearly safety refresher (16 h theory, 4 h practical, a theory exam), taken six weeks
    ago: attended in full, the exam passed, and the certificate issued — each step by the
    service a trainer, the examiner chen.hua and the trainee use, so the certificate is as real
    as any. Nothing when a step is refused (the demo staff were removed, say)."""
    tz = settings.tz
    lead, examiner = (accounts.user_by_username(session, n) for n in ("wang.jun", "chen.hua"))
    if lead is None or lead.id is None or examiner is None or trainee.id is None:
        return None
    local = now.astimezone(tz)
    first = local.date() - dt.timedelta(days=local.weekday() + 42)  # a Monday six weeks ago
    last = first + dt.timedelta(days=2)
    try:
        KeyStore.from_settings(settings).ensure()  # the CLI ensures it too, after loading
        course = service.create_course(
            session,
            actor,
            CourseCreate(
                code=f"REF-{first:%Y%m%d}",
                curriculum_code=REFRESHER,
                starts_on=first,
                ends_on=last,
                lead_trainer_id=lead.id,
                capacity=20,
            ),
        )
        assert course.id is not None
        enrolment.enrol(session, actor, course.id, trainee.id, tz)
        made.enrolled += 1
        day = [dt.datetime.combine(first + dt.timedelta(days=i), dt.time(), tz) for i in range(3)]
        plan = [
            (SessionKind.theory, "安全生产法律法规与危险化学品", day[0], 8, 30, 4),
            (SessionKind.theory, "特殊作业安全", day[0], 13, 30, 4),
            (SessionKind.theory, "特殊作业安全", day[1], 8, 30, 4),
            (SessionKind.theory, "个体防护与应急处置", day[1], 13, 30, 4),
            (SessionKind.practical, "空气呼吸器、灭火器与心肺复苏", day[2], 8, 30, 4),
        ]
        for kind, title, midnight, hour, minute, hours in plan:
            starts = midnight + dt.timedelta(hours=hour, minutes=minute)
            ends = starts + dt.timedelta(hours=hours)
            row = service.add_session(
                session,
                actor,
                course.id,
                SessionCreate(kind=kind, title=title, starts_at=starts, ends_at=ends),
                tz,
            )
            made.sessions += 1
            assert row.id is not None
            attendance.mark(session, actor, row.id, trainee.id, starts, ends, None)
        _exam_passed(session, settings, examiner, course, trainee.id, day[2])
        cert, _ = certificates.issue(session, settings, actor, trainee.id, course.id)
    except SafetrainError:
        session.rollback()
        return None
    return cert.number


def _exam_passed(
    session: Session,
    settings: Settings,
    examiner: User,
    course: Course,
    trainee_id: int,
    midnight: dt.datetime,
) -> None:
    """The examiner opens the theory sitting at 14:00; the trainee answers every question right
    and hands in at 14:40."""
    assert course.id is not None
    who = Actor(name=examiner.username, user_id=examiner.id, role=examiner.role)
    opens = midnight + dt.timedelta(hours=14)
    check = decisions.may_sit(session, decisions.policy_of(settings), course, "theory")
    sitting, _ = sittings.open_sitting(
        session, who, course.id, SittingPlan(opens_at=opens), may_sit=check, now=opens
    )
    paper = next(
        p
        for p in sittings.papers_of_sitting(session, sitting.id or 0)
        if p.trainee_id == trainee_id
    )
    assert paper.id is not None
    account = session.exec(select(User).where(User.trainee_id == trainee_id)).first()
    if account is None:
        return  # no PIN, so no account: the certificate is refused as not ready
    trainee = Actor(name=account.username, user_id=account.id, role=account.role)
    sittings.start(session, trainee, trainee_id, paper.id, now=opens + dt.timedelta(minutes=1))
    curriculum = sittings.curriculum_of(course.curriculum_code)
    for n, key in enumerate(answer_key(sittings.stored_paper(paper), curriculum)):
        at = opens + dt.timedelta(minutes=2 + n // 2)
        sittings.save_answer(session, trainee_id, paper.id, key.question_id, key.options, now=at)
    sittings.submit(session, trainee_id, paper.id, now=opens + dt.timedelta(minutes=40))
