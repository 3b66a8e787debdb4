"""Trainees who have done everything a certificate asks: hours attended, every part passed."""

from __future__ import annotations

import datetime as dt
import json

from sqlmodel import Session, select

from curricula import catalogue, rule_set_on
from scoring.decisions import required_parts
from server.assessment.models import Attempt, AttemptSource, AttemptStatus
from server.assessment.sittings import curriculum_of
from server.scheduling.models import Attendance, ClassSession, Course
from server.trainees.models import Trainee
from tests.factories import enrol, make_course, make_session

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
KINDS = ("theory", "practical", "vr", "rig")


def _days(first: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(60)]


def hours_course(
    session: Session, *, curriculum: str = "NITRATION", starts_on: str = "2026-10-01"
) -> Course:
    """A course whose sessions cover every kind of hours its curriculum asks for (8 h a day)."""
    start = dt.date.fromisoformat(starts_on)
    course = make_course(
        session,
        curriculum=curriculum,
        starts_on=starts_on,
        ends_on=(start + dt.timedelta(days=59)).isoformat(),
    )
    hours = curriculum_of(curriculum).module_hours()
    days = iter(_days(start))
    for kind in KINDS:
        left = hours[next(k for k in hours if k.value == kind)]
        while left > 0:
            minutes = round(min(8.0, left) * 60)
            end = (dt.datetime(2000, 1, 1, 8) + dt.timedelta(minutes=minutes)).strftime("%H:%M")
            make_session(session, course=course, day=next(days), start="08:00", end=end, kind=kind)
            left -= minutes / 60
    return course


def attend_all(session: Session, course: Course, trainee: Trainee) -> None:
    """Present at every session of the course from its start to its end."""
    for s in session.exec(select(ClassSession).where(ClassSession.course_id == course.id)).all():
        assert s.id is not None and trainee.id is not None
        session.add(
            Attendance(
                session_id=s.id,
                trainee_id=trainee.id,
                checked_in_at=s.starts_at,
                checked_out_at=s.ends_at,
            )
        )
    session.commit()


def passed(
    session: Session, course: Course, trainee: Trainee, day: str, score: str = "90.0"
) -> None:
    """A passing final attempt at every part the course's curriculum requires, on `day`."""
    assert course.id is not None and trainee.id is not None
    curriculum = curriculum_of(course.curriculum_code)
    taken = dt.datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=SHANGHAI)
    rule_set = rule_set_on(catalogue().rule_sets, taken.date())
    for part, _ in required_parts(curriculum):
        source = (
            AttemptSource.theory
            if part == "theory"
            else AttemptSource.practical
            if part == "practical"
            else AttemptSource.device
        )
        session.add(
            Attempt(
                trainee_id=trainee.id,
                course_id=course.id,
                curriculum_code=course.curriculum_code,
                curriculum_version=course.curriculum_version,
                part=part,
                source=source,
                source_ref=f"test:{trainee.id}:{part}",
                taken_at=taken,
                rule_set=rule_set.code,
                status=AttemptStatus.final,
                score=score,
                passed=True,
                result=json.dumps({"score": score}),
            )
        )
    session.commit()


def ready(
    session: Session, course: Course, trainee: Trainee, *, exam_day: str | None = None
) -> None:
    """Enrol, attend every session, and pass every part (on the course's last session day)."""
    enrol(session, course=course, trainee=trainee)
    attend_all(session, course, trainee)
    passed(session, course, trainee, exam_day or course.ends_on.isoformat())
