"""Set-up for the kiosk's progress tests: a course with every kind of hours, the hall's trainee
in it at one of four stages (nothing done, hours short, theory failed, ready), attempts with the
words scoring gives them. Hours and passes come from tests/server/certificates/readiness.py."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlmodel import Session, select

from curricula import catalogue, rule_set_on
from scoring import reasons
from scoring.results import part_names
from server.assessment.models import Attempt, AttemptSource, AttemptStatus
from server.scheduling.models import Attendance, ClassSession, Course, Enrolment, EnrolmentStatus
from server.trainees.models import Trainee
from tests.factories import enrol
from tests.server.certificates.readiness import SHANGHAI, attend_all, hours_course, passed

# hours_course puts its sessions on the 60 days from this one; the trainees' exams are after.
STARTS_ON = "2026-09-01"


def progress_course(session: Session) -> Course:
    """A finished course (Asia/Shanghai dates) whose sessions cover the curriculum's hours."""
    return hours_course(session, starts_on=STARTS_ON)


def leave_early(session: Session, course: Course, trainee: Trainee, kind: str, hours: int) -> None:
    """The trainee left their first session of `kind` `hours` before its end."""
    first = session.exec(
        select(ClassSession)
        .where(ClassSession.course_id == course.id, ClassSession.kind == kind)
        .order_by(ClassSession.starts_at)  # type: ignore[arg-type]
    ).first()
    assert first is not None
    row = session.exec(
        select(Attendance).where(
            Attendance.session_id == first.id, Attendance.trainee_id == trainee.id
        )
    ).one()
    row.checked_out_at = first.ends_at - dt.timedelta(hours=hours)
    session.add(row)
    session.commit()


def attempt(
    session: Session,
    course: Course,
    trainee: Trainee,
    *,
    part: str = "theory",
    day: str,
    score: str,
    at: str = "10:00",
) -> Attempt:
    """A final attempt of `part` on `day` (Shanghai time), scored against the pass mark of 80
    with the reason scoring words for it."""
    assert course.id is not None and trainee.id is not None
    taken = dt.datetime.fromisoformat(f"{day}T{at}:00").replace(tzinfo=SHANGHAI)
    won = float(score) >= 80
    told = (reasons.passed if won else reasons.below_pass_mark)(
        part_names(part), Decimal(score), "80"
    )
    row = Attempt(
        trainee_id=trainee.id,
        course_id=course.id,
        curriculum_code=course.curriculum_code,
        curriculum_version=course.curriculum_version,
        part=part,
        source=AttemptSource.theory if part == "theory" else AttemptSource.practical,
        source_ref=f"progress:{trainee.id}:{part}:{day}:{at}",
        taken_at=taken,
        rule_set=rule_set_on(catalogue().rule_sets, taken.date()).code,
        status=AttemptStatus.final,
        score=score,
        passed=won,
        result=json.dumps(
            {
                "score": score,
                "pass_mark": "80",
                "passed": won,
                "reasons": [{"code": str(told.code), "zh": told.zh, "en": told.en}],
            },
            ensure_ascii=False,
        ),
    )
    session.add(row)
    session.commit()
    return row


def nothing_done(session: Session, course: Course, trainee: Trainee) -> None:
    enrol(session, course=course, trainee=trainee)


def hours_short(session: Session, course: Course, trainee: Trainee) -> None:
    """Every session attended, but the first practical one left 4 hours early."""
    enrol(session, course=course, trainee=trainee)
    attend_all(session, course, trainee)
    leave_early(session, course, trainee, "practical", 4)


def theory_failed(session: Session, course: Course, trainee: Trainee) -> None:
    """Every hour done, practical and device passed, the theory exam failed with 62."""
    enrol(session, course=course, trainee=trainee)
    attend_all(session, course, trainee)
    passed(session, course, trainee, "2026-11-20")
    theory = session.exec(
        select(Attempt).where(
            Attempt.trainee_id == trainee.id,
            Attempt.course_id == course.id,
            Attempt.part == "theory",
        )
    ).one()
    session.delete(theory)
    session.commit()
    attempt(session, course, trainee, day="2026-11-20", score="62.0")


def retakes(session: Session, course: Course, trainee: Trainee) -> None:
    """As theory_failed, after three earlier theory fails: six attempts in all."""
    theory_failed(session, course, trainee)
    for day, score in (("2026-11-05", "48.0"), ("2026-11-10", "55.0"), ("2026-11-15", "58.0")):
        attempt(session, course, trainee, day=day, score=score)


def only_in(session: Session, trainee: Trainee, course: Course) -> None:
    """Withdraw the trainee from every other course (the hall's course of today included)."""
    for row in session.exec(select(Enrolment).where(Enrolment.trainee_id == trainee.id)).all():
        if row.course_id != course.id:
            row.status = EnrolmentStatus.withdrawn
            session.add(row)
    session.commit()
