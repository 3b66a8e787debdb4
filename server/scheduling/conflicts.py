"""Find every clash of a planned session: rooms, stations, instructors, trainees, capacity.

Each check is one indexed query over a bounded window: a session lasts at most
MAX_SESSION_HOURS, so an overlapping session started after `start − MAX_SESSION_HOURS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from server.accounts.models import User
from server.errors import Conflict
from server.scheduling.models import (
    MAX_SESSION_HOURS,
    ClassSession,
    Course,
    Enrolment,
    EnrolmentStatus,
    InstructorAbsence,
    Room,
    SessionStation,
    Station,
)
from server.trainees.models import Trainee

WINDOW = dt.timedelta(hours=MAX_SESSION_HOURS)


@dataclass(frozen=True)
class Planned:
    """A session as planned, before it is stored (or an existing one being checked again)."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    room_id: int | None = None
    station_ids: Sequence[int] = ()
    instructor_id: int | None = None
    session_id: int | None = None  # an existing session does not clash with itself


@dataclass(frozen=True)
class Clash:
    kind: str
    subject: str
    zh: str
    en: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    other_session_id: int | None = None
    other_course_id: int | None = None

    def detail(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "message": f"{self.zh} / {self.en}",
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "other_session_id": self.other_session_id,
            "other_course_id": self.other_course_id,
        }


def _when(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> str:
    a, b = start.astimezone(tz), end.astimezone(tz)
    return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}"


def _overlapping_sessions(plan: Planned, query: Any = None) -> Any:
    query = select(ClassSession) if query is None else query
    query = query.where(
        col(ClassSession.starts_at) > plan.starts_at - WINDOW,
        col(ClassSession.starts_at) < plan.ends_at,
        col(ClassSession.ends_at) > plan.starts_at,
    )
    if plan.session_id is not None:
        query = query.where(col(ClassSession.id) != plan.session_id)
    return query


def _course_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.exec(select(Course.id, Course.code).where(col(Course.id).in_(wanted))).all()
    return {i: c for i, c in rows if i is not None}


def clashes_for(session: Session, course: Course, plan: Planned, tz: ZoneInfo) -> list[Clash]:
    """Every clash of one planned session of `course`, as a trainer needs to see them."""
    found: list[Clash] = []

    if plan.room_id is not None:
        room = session.get(Room, plan.room_id)
        assert room is not None
        if course.capacity > room.capacity:
            found.append(
                Clash(
                    "room_over_capacity",
                    room.code,
                    f"教室 {room.code} 只能容纳 {room.capacity} 人，班级人数上限为 {course.capacity}",
                    f"room {room.code} holds {room.capacity}, the course takes up to {course.capacity}",
                    plan.starts_at,
                    plan.ends_at,
                )
            )
        others = session.exec(
            _overlapping_sessions(plan).where(ClassSession.room_id == plan.room_id)
        ).all()
        codes = _course_codes(session, (o.course_id for o in others))
        for other in others:
            found.append(
                Clash(
                    "room_double_booked",
                    room.code,
                    f"教室 {room.code} 在 {_when(other.starts_at, other.ends_at, tz)} 已被班级 {codes[other.course_id]} 占用",
                    f"room {room.code} is taken by course {codes[other.course_id]} at {_when(other.starts_at, other.ends_at, tz)}",
                    other.starts_at,
                    other.ends_at,
                    other.id,
                    other.course_id,
                )
            )

    if plan.station_ids:
        rows = session.exec(
            select(SessionStation, ClassSession, Station)
            .join(ClassSession, col(ClassSession.id) == SessionStation.session_id)
            .join(Station, col(Station.id) == SessionStation.station_id)
            .where(
                col(SessionStation.station_id).in_(list(plan.station_ids)),
                col(SessionStation.starts_at) > plan.starts_at - WINDOW,
                col(SessionStation.starts_at) < plan.ends_at,
                col(SessionStation.ends_at) > plan.starts_at,
                col(SessionStation.session_id) != (plan.session_id or -1),
            )
        ).all()
        codes = _course_codes(session, (s.course_id for _, s, _ in rows))
        for _, other, station in rows:
            found.append(
                Clash(
                    "station_double_booked",
                    station.code,
                    f"工位 {station.code} 在 {_when(other.starts_at, other.ends_at, tz)} 已被班级 {codes[other.course_id]} 占用",
                    f"station {station.code} is taken by course {codes[other.course_id]} at {_when(other.starts_at, other.ends_at, tz)}",
                    other.starts_at,
                    other.ends_at,
                    other.id,
                    other.course_id,
                )
            )

    if plan.instructor_id is not None:
        instructor = session.get(User, plan.instructor_id)
        assert instructor is not None
        name = instructor.display_name
        others = session.exec(
            _overlapping_sessions(plan).where(ClassSession.instructor_id == plan.instructor_id)
        ).all()
        codes = _course_codes(session, (o.course_id for o in others))
        for other in others:
            found.append(
                Clash(
                    "instructor_double_booked",
                    name,
                    f"教师 {name} 在 {_when(other.starts_at, other.ends_at, tz)} 要给班级 {codes[other.course_id]} 上课",
                    f"instructor {name} teaches course {codes[other.course_id]} at {_when(other.starts_at, other.ends_at, tz)}",
                    other.starts_at,
                    other.ends_at,
                    other.id,
                    other.course_id,
                )
            )
        absences = session.exec(
            select(InstructorAbsence).where(
                InstructorAbsence.user_id == plan.instructor_id,
                col(InstructorAbsence.starts_at) < plan.ends_at,
                col(InstructorAbsence.ends_at) > plan.starts_at,
            )
        ).all()
        for absence in absences:
            found.append(
                Clash(
                    "instructor_unavailable",
                    name,
                    f"教师 {name} 在 {_when(absence.starts_at, absence.ends_at, tz)} 不能上课：{absence.reason}",
                    f"instructor {name} is unavailable at {_when(absence.starts_at, absence.ends_at, tz)}: {absence.reason}",
                    absence.starts_at,
                    absence.ends_at,
                )
            )

    found += trainee_clashes(session, course, [plan], tz)
    return found


def trainee_clashes(
    session: Session,
    course: Course,
    plans: Sequence[Planned],
    tz: ZoneInfo,
    trainee_ids: Sequence[int] | None = None,
) -> list[Clash]:
    """Trainees of `course` (or the given ones) who are enrolled elsewhere at the planned times."""
    if trainee_ids is None:
        trainee_ids = list(
            session.exec(
                select(Enrolment.trainee_id).where(
                    Enrolment.course_id == course.id, Enrolment.status == EnrolmentStatus.enrolled
                )
            ).all()
        )
    if not trainee_ids or not plans:
        return []
    found: list[Clash] = []
    names: dict[int, str] = {}
    for plan in plans:
        rows = session.exec(
            _overlapping_sessions(plan, select(ClassSession, Enrolment.trainee_id))
            .join(Enrolment, col(Enrolment.course_id) == ClassSession.course_id)
            .where(
                col(Enrolment.trainee_id).in_(list(trainee_ids)),
                Enrolment.status == EnrolmentStatus.enrolled,
                col(ClassSession.course_id) != course.id,
            )
        ).all()
        if not rows:
            continue
        codes = _course_codes(session, (s.course_id for s, _ in rows))
        missing = {t for _, t in rows} - names.keys()
        if missing:
            for tid, name in session.exec(
                select(Trainee.id, Trainee.name).where(col(Trainee.id).in_(missing))
            ).all():
                if tid is not None:
                    names[tid] = name
        for other, trainee_id in rows:
            who = names.get(trainee_id, str(trainee_id))
            found.append(
                Clash(
                    "trainee_double_booked",
                    who,
                    f"学员 {who} 在 {_when(other.starts_at, other.ends_at, tz)} 已在班级 {codes[other.course_id]} 上课",
                    f"trainee {who} is in course {codes[other.course_id]} at {_when(other.starts_at, other.ends_at, tz)}",
                    other.starts_at,
                    other.ends_at,
                    other.id,
                    other.course_id,
                )
            )
    return found


def refuse(clashes: list[Clash]) -> Conflict:
    first = clashes[0]
    more = len(clashes) - 1
    suffix_zh = f"（另有 {more} 处冲突）" if more else ""
    suffix_en = f" (and {more} more)" if more else ""
    return Conflict(
        first.zh + suffix_zh,
        first.en + suffix_en,
        code="schedule_conflict",
        details={"clashes": [c.detail() for c in clashes]},
    )
