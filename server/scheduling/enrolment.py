"""Enrolment: seats in order, a waitlist, automatic promotion, eligibility and clash checks.

The course row is locked for the whole decision (SELECT … FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers), so two trainers taking the last seat at once end with one
enrolment and one waitlist entry, never two enrolments.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from curricula.model import EducationLevel
from scoring.eligibility import check_eligibility
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotFound, SafetrainError
from server.scheduling import conflicts
from server.scheduling.conflicts import Planned
from server.scheduling.models import Course, CourseStatus, Enrolment, EnrolmentStatus
from server.scheduling.service import course_sessions, curriculum_of, get_course
from server.trainees.models import ImportReport, Trainee
from server.trainees.service import import_roster


def _snapshot(e: Enrolment) -> dict[str, object]:
    return {"course_id": e.course_id, "trainee_id": e.trainee_id, "status": e.status}


def _trainee(session: Session, trainee_id: int) -> Trainee:
    trainee = session.get(Trainee, trainee_id)
    if trainee is None:
        raise NotFound(
            f"学员 {trainee_id} 不存在",
            f"trainee {trainee_id} does not exist",
            code="trainee_not_found",
        )
    return trainee


def _check_eligible(course: Course, trainee: Trainee) -> None:
    rule = curriculum_of(course).eligibility
    decision = check_eligibility(
        birth=trainee.birth_date,
        sex=trainee.sex,
        education=EducationLevel(trainee.education),
        rule=rule,
        on=course.starts_on,
    )
    if not decision.eligible:
        reasons = decision.reasons
        raise InvalidInput(
            "；".join(r.zh for r in reasons),
            "; ".join(r.en for r in reasons),
            code="not_eligible",
            details=[
                {"field": "trainee_id", "code": r.code, "message": f"{r.zh} / {r.en}"}
                for r in reasons
            ],
        )


def _enrolled_count(session: Session, course_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Enrolment)
            .where(Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.enrolled)
        ).one()
    )


def _clashes(
    session: Session, course: Course, trainee_id: int, tz: ZoneInfo
) -> list[conflicts.Clash]:
    assert course.id is not None
    plans = [
        Planned(s.starts_at, s.ends_at, session_id=s.id)
        for s in course_sessions(session, course.id)
    ]
    return conflicts.trainee_clashes(session, course, plans, tz, trainee_ids=[trainee_id])


def enrol(
    session: Session, actor: Actor, course_id: int, trainee_id: int, tz: ZoneInfo
) -> Enrolment:
    """Give the trainee a seat, or the next place on the waitlist when the course is full."""
    course = get_course(session, course_id, lock=True)
    if course.status not in (CourseStatus.open, CourseStatus.planned):
        raise Conflict(
            "班级不接受报名", "the course is not taking enrolments", code="course_closed"
        )
    trainee = _trainee(session, trainee_id)
    existing = session.exec(
        select(Enrolment).where(
            Enrolment.course_id == course_id, Enrolment.trainee_id == trainee_id
        )
    ).first()
    if existing is not None and existing.status != EnrolmentStatus.withdrawn:
        state = "已报名" if existing.status == EnrolmentStatus.enrolled else "在候补名单上"
        raise Conflict(
            f"{trainee.name} {state}",
            f"{trainee.name} is already {existing.status} in this course",
            code="already_enrolled",
            details={"enrolment_id": existing.id, "status": existing.status},
        )
    _check_eligible(course, trainee)
    clashes = _clashes(session, course, trainee_id, tz)
    if clashes:
        session.rollback()
        raise conflicts.refuse(clashes)
    seat = _enrolled_count(session, course_id) < course.capacity
    now = utcnow()
    before = _snapshot(existing) if existing else None
    enrolment = existing or Enrolment(
        course_id=course_id, trainee_id=trainee_id, status=EnrolmentStatus.waitlisted
    )
    enrolment.status = EnrolmentStatus.enrolled if seat else EnrolmentStatus.waitlisted
    enrolment.requested_at = now
    enrolment.enrolled_at = now if seat else None
    enrolment.withdrawn_at = None
    session.add(enrolment)
    session.flush()
    audit.record(
        session,
        actor,
        "enrolment.create",
        "enrolment",
        enrolment.id,
        before=before,
        after=_snapshot(enrolment),
    )
    session.commit()
    return enrolment


def get(session: Session, enrolment_id: int) -> Enrolment:
    enrolment = session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(
            f"报名 {enrolment_id} 不存在",
            f"enrolment {enrolment_id} does not exist",
            code="enrolment_not_found",
        )
    return enrolment


def withdraw(
    session: Session, actor: Actor, enrolment_id: int, reason: str | None
) -> Enrolment | None:
    """Withdraw; a freed seat goes to the first person waiting. Returns who was promoted."""
    course_id = session.exec(
        select(Enrolment.course_id).where(Enrolment.id == enrolment_id)
    ).first()
    if course_id is None:
        raise NotFound(
            f"报名 {enrolment_id} 不存在",
            f"enrolment {enrolment_id} does not exist",
            code="enrolment_not_found",
        )
    get_course(session, course_id, lock=True)  # then read the enrolment and waitlist fresh
    enrolment = get(session, enrolment_id)
    if enrolment.status == EnrolmentStatus.withdrawn:
        raise Conflict("已退出该班级", "already withdrawn", code="already_withdrawn")
    before = _snapshot(enrolment)
    freed_seat = enrolment.status == EnrolmentStatus.enrolled
    enrolment.status = EnrolmentStatus.withdrawn
    enrolment.withdrawn_at = utcnow()
    session.add(enrolment)
    audit.record(
        session,
        actor,
        "enrolment.withdraw",
        "enrolment",
        enrolment.id,
        before=before,
        after=_snapshot(enrolment),
        reason=reason,
    )
    promoted = None
    if freed_seat:
        promoted = session.exec(
            select(Enrolment)
            .where(
                Enrolment.course_id == enrolment.course_id,
                Enrolment.status == EnrolmentStatus.waitlisted,
            )
            .order_by(col(Enrolment.requested_at), col(Enrolment.id))
            .limit(1)
        ).first()
        if promoted is not None:
            prior = _snapshot(promoted)
            promoted.status = EnrolmentStatus.enrolled
            promoted.enrolled_at = utcnow()
            session.add(promoted)
            audit.record(
                session,
                actor,
                "enrolment.promote",
                "enrolment",
                promoted.id,
                before=prior,
                after=_snapshot(promoted),
                reason=f"seat freed by enrolment {enrolment.id}",
            )
    session.commit()
    return promoted


def roster(session: Session, course_id: int) -> list[tuple[Enrolment, Trainee, int | None]]:
    """Enrolments with their trainees and, for the waitlist, the place in line (1 = next)."""
    rows = session.exec(
        select(Enrolment, Trainee)
        .join(Trainee, col(Trainee.id) == Enrolment.trainee_id)
        .where(Enrolment.course_id == course_id)
        .order_by(col(Enrolment.requested_at), col(Enrolment.id))
    ).all()
    out: list[tuple[Enrolment, Trainee, int | None]] = []
    place = 0
    for enrolment, trainee in rows:
        position = None
        if enrolment.status == EnrolmentStatus.waitlisted:
            place += 1
            position = place
        out.append((enrolment, trainee, position))
    return out


def today_in(tz: ZoneInfo) -> dt.date:
    return dt.datetime.now(tz).date()


def enrol_roster(
    session: Session,
    actor: Actor,
    course_id: int,
    data: bytes,
    filename: str,
    tz: ZoneInfo,
    *,
    valid_only: bool = False,
) -> tuple[ImportReport, list[tuple[int, int, Enrolment | SafetrainError]]]:
    """A course's roster file: register whoever is new, then enrol every row in file order.

    Bad rows stop everything unless valid_only (as a registry import does). Each good row then
    gets its own enrolment outcome — a seat, a waitlist place, or the reason it was refused.
    """
    get_course(session, course_id)
    report = import_roster(
        session, actor, data, filename, valid_only=valid_only, use_registered=True
    )
    outcomes: list[tuple[int, int, Enrolment | SafetrainError]] = []
    if report.errors and not valid_only:
        return report, outcomes
    for row in report.rows:
        try:
            outcomes.append(
                (row.row, row.trainee_id, enrol(session, actor, course_id, row.trainee_id, tz))
            )
        except SafetrainError as exc:
            session.rollback()
            outcomes.append((row.row, row.trainee_id, exc))
    return report, outcomes
