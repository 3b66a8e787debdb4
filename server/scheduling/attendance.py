"""Attendance: check-in and check-out, trainer marks and corrections, credited minutes, progress.

Credited minutes are the time actually present inside the session window. A check-in is taken
from 30 minutes before the start; a missing check-out credits nothing until a trainer corrects
it, since hours are a regulated record and must not be guessed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.devices.models import StationBinding
from server.errors import Conflict, InvalidInput, NotFound, NotPermitted, field_error
from server.scheduling.models import (
    Attendance,
    ClassSession,
    Course,
    Enrolment,
    EnrolmentStatus,
    Room,
    SessionKind,
)
from server.scheduling.schemas import AttendancePublic, KindProgress, TraineeProgress
from server.scheduling.service import REQUIRED_KINDS, curriculum_of, get_session, required_hours
from server.trainees.models import Trainee

EARLY_CHECK_IN = dt.timedelta(minutes=30)
GRACE = dt.timedelta(minutes=5)  # arriving within 5 minutes is not "late"


@dataclass(frozen=True)
class Credit:
    minutes: int
    late_minutes: int
    early_leave_minutes: int
    missing_check_out: bool


def _minutes(delta: dt.timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def credit(
    row: ClassSession,
    checked_in_at: dt.datetime | None,
    checked_out_at: dt.datetime | None,
    now: dt.datetime,
) -> Credit:
    """What an attendance record is worth: present time inside the session window."""
    if checked_in_at is None:
        return Credit(0, 0, 0, False)
    late = (
        checked_in_at - row.starts_at if checked_in_at > row.starts_at + GRACE else dt.timedelta(0)
    )
    if checked_out_at is None:
        # Still in the room while the session runs: nothing credited yet, nothing missing yet.
        return Credit(0, _minutes(late), 0, now >= row.ends_at)
    start = max(checked_in_at, row.starts_at)
    end = min(checked_out_at, row.ends_at)
    early = (
        row.ends_at - checked_out_at if checked_out_at < row.ends_at - GRACE else dt.timedelta(0)
    )
    return Credit(_minutes(end - start), _minutes(late), _minutes(early), False)


def public(att: Attendance, row: ClassSession, now: dt.datetime | None = None) -> AttendancePublic:
    c = credit(row, att.checked_in_at, att.checked_out_at, now or utcnow())
    assert att.id is not None
    return AttendancePublic(
        id=att.id,
        session_id=att.session_id,
        trainee_id=att.trainee_id,
        checked_in_at=att.checked_in_at,
        checked_out_at=att.checked_out_at,
        credited_minutes=c.minutes,
        late_minutes=c.late_minutes,
        early_leave_minutes=c.early_leave_minutes,
        missing_check_out=c.missing_check_out,
        source=att.source,
        corrected=att.corrected,
    )


def _snapshot(att: Attendance) -> dict[str, object]:
    return {
        "session_id": att.session_id,
        "trainee_id": att.trainee_id,
        "checked_in_at": att.checked_in_at.isoformat() if att.checked_in_at else None,
        "checked_out_at": att.checked_out_at.isoformat() if att.checked_out_at else None,
    }


def _require_enrolled(session: Session, row: ClassSession, trainee_id: int) -> None:
    enrolled = session.exec(
        select(Enrolment.id).where(
            Enrolment.course_id == row.course_id,
            Enrolment.trainee_id == trainee_id,
            Enrolment.status == EnrolmentStatus.enrolled,
        )
    ).first()
    if enrolled is None:
        raise NotPermitted(
            "该学员没有报名这个班级",
            "the trainee is not enrolled in this course",
            code="not_enrolled",
        )


def _record(session: Session, session_id: int, trainee_id: int) -> Attendance | None:
    return session.exec(
        select(Attendance).where(
            Attendance.session_id == session_id, Attendance.trainee_id == trainee_id
        )
    ).first()


def check_in(
    session: Session,
    actor: Actor,
    session_id: int,
    trainee_id: int,
    at: dt.datetime | None,
    source: str,
) -> Attendance:
    """签到. Checking in twice keeps the first time (a kiosk retry is harmless)."""
    row = get_session(session, session_id)
    _require_enrolled(session, row, trainee_id)
    at = at or utcnow()
    if not row.starts_at - EARLY_CHECK_IN <= at <= row.ends_at:
        raise Conflict(
            "不在签到时间内（开课前 30 分钟至下课）",
            "outside the check-in window (30 minutes before the start until the end)",
            code="outside_check_in_window",
        )
    att = _record(session, session_id, trainee_id)
    if att is not None and att.checked_in_at is not None:
        return att
    att = att or Attendance(session_id=session_id, trainee_id=trainee_id)
    att.checked_in_at = at
    att.source = source
    att.updated_at = utcnow()
    session.add(att)
    session.flush()
    audit.record(session, actor, "attendance.check_in", "attendance", att.id, after=_snapshot(att))
    session.commit()
    return att


def check_out(
    session: Session,
    actor: Actor,
    session_id: int,
    trainee_id: int,
    at: dt.datetime | None,
    source: str,
) -> Attendance:
    """签退. A later check-out replaces an earlier one (the trainee came back)."""
    row = get_session(session, session_id)
    _require_enrolled(session, row, trainee_id)
    at = at or utcnow()
    att = _record(session, session_id, trainee_id)
    if att is None or att.checked_in_at is None:
        raise Conflict(
            "尚未签到，不能签退", "not checked in, so cannot check out", code="not_checked_in"
        )
    if at < att.checked_in_at:
        raise Conflict(
            "签退时间早于签到时间", "check-out is before check-in", code="check_out_before_check_in"
        )
    before = _snapshot(att)
    att.checked_out_at = at
    att.source = source
    att.updated_at = utcnow()
    session.add(att)
    audit.record(
        session,
        actor,
        "attendance.check_out",
        "attendance",
        att.id,
        before=before,
        after=_snapshot(att),
    )
    # Leaving the session leaves the station too: later results are not theirs.
    ended = session.exec(
        select(StationBinding).where(
            StationBinding.trainee_id == trainee_id, col(StationBinding.ended_at).is_(None)
        )
    ).all()
    for binding in ended:
        binding.ended_at = max(at, binding.bound_at)  # a back-dated check-out ends it at once
        session.add(binding)
    session.commit()
    return att


def _validate_times(checked_in_at: dt.datetime | None, checked_out_at: dt.datetime | None) -> None:
    if checked_out_at is not None and checked_in_at is None:
        raise InvalidInput(
            "有签退时间必须有签到时间",
            "a check-out needs a check-in",
            details=[field_error("checked_in_at", "required", "必填", "required")],
        )
    if checked_in_at and checked_out_at and checked_out_at < checked_in_at:
        raise InvalidInput(
            "签退时间早于签到时间",
            "check-out is before check-in",
            details=[
                field_error(
                    "checked_out_at", "before_check_in", "早于签到时间", "before the check-in"
                )
            ],
        )


def mark(
    session: Session,
    actor: Actor,
    session_id: int,
    trainee_id: int,
    checked_in_at: dt.datetime | None,
    checked_out_at: dt.datetime | None,
    reason: str | None,
) -> Attendance:
    """A trainer records attendance on the sheet; changing an existing record needs a reason."""
    row = get_session(session, session_id)
    _require_enrolled(session, row, trainee_id)
    _validate_times(checked_in_at, checked_out_at)
    att = _record(session, session_id, trainee_id)
    if att is not None and (att.checked_in_at or att.checked_out_at) and not reason:
        raise InvalidInput(
            "修改已有考勤必须填写原因",
            "changing recorded attendance needs a reason",
            details=[field_error("reason", "reason_required", "必填", "required")],
        )
    before = _snapshot(att) if att else None
    corrected = att is not None and (
        att.checked_in_at is not None or att.checked_out_at is not None
    )
    att = att or Attendance(session_id=session_id, trainee_id=trainee_id)
    att.checked_in_at, att.checked_out_at = checked_in_at, checked_out_at
    att.source = "console"
    att.corrected = att.corrected or corrected
    att.updated_at = utcnow()
    session.add(att)
    session.flush()
    action = "attendance.correct" if corrected else "attendance.mark"
    audit.record(
        session,
        actor,
        action,
        "attendance",
        att.id,
        before=before,
        after=_snapshot(att),
        reason=reason,
    )
    session.commit()
    return att


def correct(
    session: Session,
    actor: Actor,
    attendance_id: int,
    checked_in_at: dt.datetime | None,
    checked_out_at: dt.datetime | None,
    reason: str,
) -> Attendance:
    att = session.get(Attendance, attendance_id)
    if att is None:
        raise NotFound(
            f"考勤 {attendance_id} 不存在",
            f"attendance {attendance_id} does not exist",
            code="attendance_not_found",
        )
    return mark(
        session, actor, att.session_id, att.trainee_id, checked_in_at, checked_out_at, reason
    )


def sheet(
    session: Session, session_id: int
) -> tuple[ClassSession, list[tuple[Trainee, Attendance | None]]]:
    """The sign-in sheet: every enrolled trainee with their attendance record, if any."""
    row = get_session(session, session_id)
    trainees = session.exec(
        select(Trainee)
        .join(Enrolment, col(Enrolment.trainee_id) == Trainee.id)
        .where(Enrolment.course_id == row.course_id, Enrolment.status == EnrolmentStatus.enrolled)
        .order_by(col(Trainee.name))
    ).all()
    records = {
        a.trainee_id: a
        for a in session.exec(select(Attendance).where(Attendance.session_id == session_id)).all()
    }
    return row, [(t, records.get(t.id or 0)) for t in trainees]


def progress(session: Session, course: Course) -> list[TraineeProgress]:
    """Each enrolled trainee's credited minutes per kind against the curriculum's hours."""
    assert course.id is not None
    required = required_hours(curriculum_of(course))
    rows = session.exec(select(ClassSession).where(ClassSession.course_id == course.id)).all()
    by_id = {r.id: r for r in rows}
    trainees = session.exec(
        select(Trainee)
        .join(Enrolment, col(Enrolment.trainee_id) == Trainee.id)
        .where(Enrolment.course_id == course.id, Enrolment.status == EnrolmentStatus.enrolled)
        .order_by(col(Trainee.name))
    ).all()
    credited: dict[int, dict[SessionKind, int]] = defaultdict(lambda: defaultdict(int))
    if by_id:
        now = utcnow()
        for att in session.exec(
            select(Attendance).where(col(Attendance.session_id).in_(list(by_id)))
        ).all():
            row = by_id[att.session_id]
            credited[att.trainee_id][SessionKind(row.kind)] += credit(
                row, att.checked_in_at, att.checked_out_at, now
            ).minutes
    out = []
    for t in trainees:
        assert t.id is not None
        kinds = [
            KindProgress(
                kind=k, required_minutes=round(required[k] * 60), credited_minutes=credited[t.id][k]
            )
            for k in REQUIRED_KINDS
        ]
        out.append(
            TraineeProgress(
                trainee_id=t.id,
                trainee_name=t.name,
                kinds=kinds,
                complete=all(k.credited_minutes >= k.required_minutes for k in kinds),
            )
        )
    return out


@dataclass(frozen=True)
class DaySession:
    """One of a trainee's sessions on a day, with where it is and their attendance so far."""

    row: ClassSession
    course: Course
    room: Room | None
    attendance: Attendance | None

    def can_check_in(self, now: dt.datetime) -> bool:
        checked_in = self.attendance is not None and self.attendance.checked_in_at is not None
        return not checked_in and self.row.starts_at - EARLY_CHECK_IN <= now <= self.row.ends_at

    def can_check_out(self) -> bool:
        return self.attendance is not None and self.attendance.checked_in_at is not None


def trainee_day(session: Session, trainee_id: int, day: dt.date, tz: ZoneInfo) -> list[DaySession]:
    """The sessions of the courses a trainee is enrolled in that start on `day` (local time)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = start + dt.timedelta(days=1)
    rows = session.exec(
        select(ClassSession, Course)
        .join(Course, col(Course.id) == ClassSession.course_id)
        .join(Enrolment, col(Enrolment.course_id) == Course.id)
        .where(
            Enrolment.trainee_id == trainee_id,
            Enrolment.status == EnrolmentStatus.enrolled,
            col(ClassSession.starts_at) >= start,
            col(ClassSession.starts_at) < end,
        )
        .order_by(col(ClassSession.starts_at))
    ).all()
    out = []
    for row, course in rows:
        assert row.id is not None
        room = session.get(Room, row.room_id) if row.room_id is not None else None
        out.append(DaySession(row, course, room, _record(session, row.id, trainee_id)))
    return out


def trainee_attendance(session: Session, trainee_id: int, attendance_id: int) -> DaySession:
    """One attendance record of this trainee; another trainee's is "not found" (never shown)."""
    att = session.get(Attendance, attendance_id)
    if att is None or att.trainee_id != trainee_id:
        raise NotFound(
            f"考勤 {attendance_id} 不存在",
            f"attendance {attendance_id} does not exist",
            code="attendance_not_found",
        )
    row = get_session(session, att.session_id)
    course = session.get(Course, row.course_id)
    assert course is not None
    room = session.get(Room, row.room_id) if row.room_id is not None else None
    return DaySession(row, course, room, att)
