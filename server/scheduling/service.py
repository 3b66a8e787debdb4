"""Rooms, stations, absences, courses and their sessions; each write commits once, audited."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from curricula import Curriculum, catalogue
from curricula.model import ModuleKind
from server.accounts.models import Role, User
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotFound, field_error
from server.scheduling import conflicts
from server.scheduling.conflicts import Planned
from server.scheduling.models import (
    MAX_SESSION_HOURS,
    ClassSession,
    Course,
    Enrolment,
    EnrolmentStatus,
    InstructorAbsence,
    Room,
    SessionKind,
    SessionStation,
    Station,
)
from server.scheduling.schemas import (
    AbsenceCreate,
    CourseCreate,
    HoursLine,
    HoursPlan,
    PatternCreate,
    RoomCreate,
    RoomUpdate,
    SessionCreate,
    StationCreate,
    StationUpdate,
)
from server.trainees.identity import fold_fullwidth
from server.trainees.models import Employer, Trainee

INSTRUCTOR_ROLES = (Role.trainer, Role.examiner, Role.admin)


def in_service(station: Station) -> Station:
    """The station, if it is in service; else a Conflict naming it (binding, recording)."""
    if not station.is_active:
        raise Conflict(
            f"工位 {station.code} 已停用",
            f"station {station.code} is out of service",
            code="station_out_of_service",
        )
    return station


def _invalid(field: str, code: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput(zh, en, code=code, details=[field_error(field, code, zh, en)])


# --- resources ---------------------------------------------------------------------------


def create_room(session: Session, actor: Actor, data: RoomCreate) -> Room:
    if session.exec(select(Room).where(Room.code == data.code)).first():
        raise Conflict(
            f"教室编号 {data.code} 已存在", f"room code {data.code} exists", code="room_exists"
        )
    room = Room(code=data.code, name=data.name, capacity=data.capacity)
    session.add(room)
    try:
        session.flush()
    except IntegrityError:  # the same code added at the same moment by someone else
        session.rollback()
        raise Conflict(
            f"教室编号 {data.code} 已存在", f"room code {data.code} exists", code="room_exists"
        ) from None
    audit.record(session, actor, "room.create", "room", room.id, after=data.model_dump())
    session.commit()
    return room


def list_rooms(session: Session) -> list[Room]:
    return list(session.exec(select(Room).order_by(col(Room.code))).all())


def get_room(session: Session, room_id: int) -> Room:
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(
            f"教室 {room_id} 不存在", f"room {room_id} does not exist", code="room_not_found"
        )
    return room


def create_station(session: Session, actor: Actor, data: StationCreate) -> Station:
    if session.exec(select(Station).where(Station.code == data.code)).first():
        raise Conflict(
            f"工位编号 {data.code} 已存在",
            f"station code {data.code} exists",
            code="station_exists",
        )
    if data.room_id is not None:
        room = session.get(Room, data.room_id)
        if room is None:
            raise _invalid("room_id", "room_not_found", "教室不存在", "no such room")
        if not room.is_active:
            raise _invalid(
                "room_id",
                "room_out_of_service",
                f"教室 {room.code} 已停用",
                f"room {room.code} is out of service",
            )
    station = Station(code=data.code, kind=data.kind, name=data.name, room_id=data.room_id)
    session.add(station)
    try:
        session.flush()
    except IntegrityError:  # the same code added at the same moment by someone else
        session.rollback()
        raise Conflict(
            f"工位编号 {data.code} 已存在",
            f"station code {data.code} exists",
            code="station_exists",
        ) from None
    audit.record(
        session, actor, "station.create", "station", station.id, after=data.model_dump(mode="json")
    )
    session.commit()
    return station


def list_stations(session: Session) -> list[Station]:
    return list(session.exec(select(Station).order_by(col(Station.code))).all())


def _instructor(session: Session, user_id: int, field: str = "instructor_id") -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active or Role(user.role) not in INSTRUCTOR_ROLES:
        raise _invalid(
            field,
            "not_an_instructor",
            f"用户 {user_id} 不是在职的培训教师或考评员",
            f"user {user_id} is not an active trainer or examiner",
        )
    return user


def add_absence(
    session: Session, actor: Actor, user_id: int, data: AbsenceCreate
) -> InstructorAbsence:
    _instructor(session, user_id, "user_id")
    absence = InstructorAbsence(
        user_id=user_id, starts_at=data.starts_at, ends_at=data.ends_at, reason=data.reason
    )
    session.add(absence)
    session.flush()
    audit.record(
        session,
        actor,
        "absence.create",
        "instructor_absence",
        absence.id,
        after=data.model_dump(mode="json") | {"user_id": user_id},
    )
    session.commit()
    return absence


def list_absences(session: Session, user_id: int) -> list[InstructorAbsence]:
    return list(
        session.exec(
            select(InstructorAbsence)
            .where(InstructorAbsence.user_id == user_id)
            .order_by(col(InstructorAbsence.starts_at))
        ).all()
    )


# --- courses -----------------------------------------------------------------------------


def curriculum_of(course: Course) -> Curriculum:
    found = catalogue().get(course.curriculum_code)
    assert found is not None, f"course {course.code} names a curriculum that is gone"
    return found


def create_course(session: Session, actor: Actor, data: CourseCreate) -> Course:
    curriculum = catalogue().get(data.curriculum_code.upper())
    if curriculum is None:
        raise _invalid(
            "curriculum_code",
            "curriculum_not_found",
            f"课程体系 {data.curriculum_code} 不存在",
            f"curriculum {data.curriculum_code} does not exist",
        )
    lead = session.get(User, data.lead_trainer_id)
    if lead is None or not lead.is_active or lead.role != Role.trainer:
        raise _invalid(
            "lead_trainer_id",
            "not_a_trainer",
            f"用户 {data.lead_trainer_id} 不是在职的培训教师",
            f"user {data.lead_trainer_id} is not an active trainer",
        )
    if session.exec(select(Course).where(Course.code == data.code)).first():
        raise Conflict(
            f"班级编号 {data.code} 已存在", f"course code {data.code} exists", code="course_exists"
        )
    course = Course(
        code=data.code,
        title=data.title or curriculum.title.zh,
        curriculum_code=curriculum.code,
        curriculum_version=curriculum.version,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        lead_trainer_id=data.lead_trainer_id,
        capacity=data.capacity,
    )
    session.add(course)
    session.flush()
    audit.record(
        session, actor, "course.create", "course", course.id, after=data.model_dump(mode="json")
    )
    session.commit()
    return course


def get_course(session: Session, course_id: int, *, lock: bool = False) -> Course:
    query = select(Course).where(Course.id == course_id)
    if lock:
        query = query.with_for_update()
    course = session.exec(query).first()
    if course is None:
        raise NotFound(
            f"班级 {course_id} 不存在",
            f"course {course_id} does not exist",
            code="course_not_found",
        )
    return course


def list_courses(
    session: Session, *, offset: int = 0, limit: int = 100
) -> tuple[list[Course], int]:
    total = int(session.exec(select(func.count()).select_from(Course)).one())
    rows = session.exec(
        select(Course)
        .order_by(col(Course.starts_on).desc(), col(Course.id))
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def enrolment_counts(session: Session, course_ids: list[int]) -> dict[int, Counter[str]]:
    counts: dict[int, Counter[str]] = {cid: Counter() for cid in course_ids}
    if course_ids:
        rows = session.exec(
            select(Enrolment.course_id, Enrolment.status, func.count())
            .where(col(Enrolment.course_id).in_(course_ids))
            .group_by(col(Enrolment.course_id), col(Enrolment.status))
        ).all()
        for cid, status, n in rows:
            counts[cid][status] = int(n)
    return counts


# --- sessions ----------------------------------------------------------------------------


def _check_plan(session: Session, course: Course, plan: Planned, tz: ZoneInfo) -> None:
    if plan.ends_at <= plan.starts_at:
        raise _invalid(
            "ends_at",
            "ends_before_start",
            "结束时间必须晚于开始时间",
            "ends_at must be after starts_at",
        )
    if plan.ends_at - plan.starts_at > dt.timedelta(hours=MAX_SESSION_HOURS):
        raise _invalid(
            "ends_at",
            "session_too_long",
            f"一次课最长 {MAX_SESSION_HOURS} 小时",
            f"a session lasts at most {MAX_SESSION_HOURS} hours",
        )
    first, last = plan.starts_at.astimezone(tz).date(), plan.ends_at.astimezone(tz).date()
    if first < course.starts_on or last > course.ends_on:
        raise _invalid(
            "starts_at",
            "outside_course_dates",
            f"课次须在班级日期 {course.starts_on} 至 {course.ends_on} 之内",
            f"a session must fall within the course dates {course.starts_on} to {course.ends_on}",
        )
    if plan.room_id is not None:
        room = session.get(Room, plan.room_id)
        if room is None:
            raise _invalid("room_id", "room_not_found", "教室不存在", f"no room {plan.room_id}")
        if not room.is_active:
            raise _invalid(
                "room_id",
                "room_out_of_service",
                f"教室 {room.code} 已停用",
                f"room {room.code} is out of service",
            )
    for station_id in plan.station_ids:
        station = session.get(Station, station_id)
        if station is None:
            raise _invalid(
                "station_ids",
                "station_not_found",
                f"工位 {station_id} 不存在",
                f"no station {station_id}",
            )
        if not station.is_active:
            raise _invalid(
                "station_ids",
                "station_out_of_service",
                f"工位 {station.code} 已停用",
                f"station {station.code} is out of service",
            )
    if plan.instructor_id is not None:
        _instructor(session, plan.instructor_id)


def _store(
    session: Session, course: Course, kind: SessionKind, title: str, plan: Planned
) -> ClassSession:
    assert course.id is not None
    row = ClassSession(
        course_id=course.id,
        kind=kind,
        title=title,
        starts_at=plan.starts_at,
        ends_at=plan.ends_at,
        room_id=plan.room_id,
        instructor_id=plan.instructor_id,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for station_id in dict.fromkeys(plan.station_ids):
        session.add(
            SessionStation(
                session_id=row.id,
                station_id=station_id,
                starts_at=plan.starts_at,
                ends_at=plan.ends_at,
            )
        )
    return row


def _snapshot(row: ClassSession, station_ids: list[int]) -> dict[str, object]:
    return {
        "course_id": row.course_id,
        "kind": row.kind,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "room_id": row.room_id,
        "instructor_id": row.instructor_id,
        "station_ids": station_ids,
    }


def add_session(
    session: Session, actor: Actor, course_id: int, data: SessionCreate, tz: ZoneInfo
) -> ClassSession:
    """Add one session; every clash is refused at once with HTTP 409 naming all of them."""
    course = get_course(session, course_id, lock=True)
    plan = Planned(
        data.starts_at, data.ends_at, data.room_id, tuple(data.station_ids), data.instructor_id
    )
    _check_plan(session, course, plan, tz)
    clashes = conflicts.clashes_for(session, course, plan, tz)
    if clashes:
        session.rollback()
        raise conflicts.refuse(clashes)
    row = _store(session, course, data.kind, data.title, plan)
    audit.record(
        session,
        actor,
        "session.create",
        "class_session",
        row.id,
        after=_snapshot(row, data.station_ids),
    )
    session.commit()
    return row


def expand_pattern(data: PatternCreate, tz: ZoneInfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """The occurrences of a pattern, in UTC, from local dates and times."""
    skip = set(data.skip_dates)
    days = set(data.weekdays)
    out = []
    day = data.from_date
    while day <= data.to_date:
        if day.isoweekday() in days and day not in skip:
            start = dt.datetime.combine(day, data.start_time, tz).astimezone(dt.UTC)
            end = dt.datetime.combine(day, data.end_time, tz).astimezone(dt.UTC)
            out.append((start, end))
        day += dt.timedelta(days=1)
    return out


def add_pattern(
    session: Session, actor: Actor, course_id: int, data: PatternCreate, tz: ZoneInfo
) -> list[ClassSession]:
    """Add a repeating series of sessions: all of them, or none with every clash named."""
    course = get_course(session, course_id, lock=True)
    occurrences = expand_pattern(data, tz)
    if not occurrences:
        raise _invalid(
            "weekdays", "empty_pattern", "该规则没有产生任何课次", "the pattern yields no sessions"
        )
    plans = [
        Planned(s, e, data.room_id, tuple(data.station_ids), data.instructor_id)
        for s, e in occurrences
    ]
    for plan in plans:
        _check_plan(session, course, plan, tz)
    found = [c for plan in plans for c in conflicts.clashes_for(session, course, plan, tz)]
    if found:
        session.rollback()
        raise conflicts.refuse(found)
    rows = [_store(session, course, data.kind, data.title, plan) for plan in plans]
    audit.record_many(
        session,
        actor,
        (
            audit.Change(
                "session.create",
                "class_session",
                r.id,
                after=_snapshot(r, data.station_ids),
                reason="pattern",
            )
            for r in rows
        ),
    )
    session.commit()
    return rows


def get_session(session: Session, session_id: int) -> ClassSession:
    row = session.get(ClassSession, session_id)
    if row is None:
        raise NotFound(
            f"课次 {session_id} 不存在",
            f"session {session_id} does not exist",
            code="session_not_found",
        )
    return row


def station_ids_of(session: Session, session_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {sid: [] for sid in session_ids}
    if session_ids:
        for sid, station_id in session.exec(
            select(SessionStation.session_id, SessionStation.station_id).where(
                col(SessionStation.session_id).in_(session_ids)
            )
        ).all():
            out[sid].append(station_id)
    return out


def course_sessions(session: Session, course_id: int) -> list[ClassSession]:
    return list(
        session.exec(
            select(ClassSession)
            .where(ClassSession.course_id == course_id)
            .order_by(col(ClassSession.starts_at))
        ).all()
    )


def delete_session(session: Session, actor: Actor, session_id: int, reason: str | None) -> None:
    from server.scheduling.models import Attendance

    row = get_session(session, session_id)
    if session.exec(select(Attendance.id).where(Attendance.session_id == session_id)).first():
        raise Conflict(
            "该课次已有考勤记录，不能删除",
            "the session has attendance records and cannot be deleted",
            code="session_has_attendance",
        )
    stations = station_ids_of(session, [session_id])[session_id]
    for link in session.exec(
        select(SessionStation).where(SessionStation.session_id == session_id)
    ).all():
        session.delete(link)
    audit.record(
        session,
        actor,
        "session.delete",
        "class_session",
        row.id,
        before=_snapshot(row, stations),
        reason=reason,
    )
    session.delete(row)
    session.commit()


# --- hours -------------------------------------------------------------------------------

REQUIRED_KINDS = (SessionKind.theory, SessionKind.practical, SessionKind.vr, SessionKind.rig)


def required_hours(curriculum: Curriculum) -> dict[SessionKind, float]:
    by_module = curriculum.module_hours()
    return {kind: float(by_module[ModuleKind(kind.value)]) for kind in REQUIRED_KINDS}


def hours_plan(session: Session, course: Course) -> HoursPlan:
    """Planned session hours per kind against the curriculum's required hours."""
    assert course.id is not None
    planned: dict[SessionKind, float] = dict.fromkeys(SessionKind, 0.0)
    for row in course_sessions(session, course.id):
        planned[SessionKind(row.kind)] += (row.ends_at - row.starts_at).total_seconds() / 3600
    required = required_hours(curriculum_of(course))
    lines = [
        HoursLine(
            kind=kind,
            required_hours=required[kind],
            planned_hours=round(planned[kind], 2),
            difference_hours=round(planned[kind] - required[kind], 2),
        )
        for kind in REQUIRED_KINDS
    ]
    return HoursPlan(
        course_id=course.id,
        lines=lines,
        complete=all(abs(line.difference_hours) < 1e-6 for line in lines),
    )


def enrolled_ids(session: Session, course_id: int) -> list[int]:
    return list(
        session.exec(
            select(Enrolment.trainee_id).where(
                Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.enrolled
            )
        ).all()
    )


# --- look-ups for the console's pages -----------------------------------------------------


def week_sessions(
    session: Session, starts_at: dt.datetime, ends_at: dt.datetime
) -> list[ClassSession]:
    """Every session that starts in [starts_at, ends_at), in time order: one indexed query."""
    return list(
        session.exec(
            select(ClassSession)
            .where(col(ClassSession.starts_at) >= starts_at, col(ClassSession.starts_at) < ends_at)
            .order_by(col(ClassSession.starts_at), col(ClassSession.id))
        ).all()
    )


def station_bookings(
    session: Session, starts_at: dt.datetime, ends_at: dt.datetime
) -> list[tuple[int, int]]:
    """(session id, station id) of every station booked by a session starting in the window."""
    rows = session.exec(
        select(SessionStation.session_id, SessionStation.station_id)
        .join(ClassSession, col(ClassSession.id) == SessionStation.session_id)
        .where(col(ClassSession.starts_at) >= starts_at, col(ClassSession.starts_at) < ends_at)
    ).all()
    return [(sid, station_id) for sid, station_id in rows]


def courses_by_id(session: Session, course_ids: Iterable[int]) -> dict[int, Course]:
    """The named courses, by id, in one query."""
    wanted = set(course_ids)
    if not wanted:
        return {}
    rows = session.exec(select(Course).where(col(Course.id).in_(wanted))).all()
    return {c.id: c for c in rows if c.id is not None}


def user_names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Display names of the named users (instructors, lead trainers), in one query."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = session.exec(select(User.id, User.display_name).where(col(User.id).in_(wanted))).all()
    return {i: name for i, name in rows if i is not None}


def active_staff(session: Session, roles: Iterable[Role]) -> list[User]:
    """Active users of the given roles, by display name: who can lead a course or teach."""
    return list(
        session.exec(
            select(User)
            .where(col(User.is_active), col(User.role).in_([r.value for r in roles]))
            .order_by(col(User.display_name), col(User.id))
        ).all()
    )


def find_trainee(session: Session, text: str) -> list[Trainee]:
    """Trainees whose document number or badge is exactly `text` (spaces and case ignored)."""
    term = "".join(fold_fullwidth(text).split()).upper()
    if not term:
        return []
    return list(
        session.exec(
            select(Trainee)
            .where((col(Trainee.id_number) == term) | (col(Trainee.badge) == term))
            .order_by(col(Trainee.id))
        ).all()
    )


def employer_names(session: Session, employer_ids: Iterable[int]) -> dict[int, str]:
    """Names of the named employers (工作单位), in one query."""
    wanted = set(employer_ids)
    if not wanted:
        return {}
    rows = session.exec(
        select(Employer.id, Employer.name).where(col(Employer.id).in_(wanted))
    ).all()
    return {i: name for i, name in rows if i is not None}


# --- resources pages: correcting rooms and stations, instructors' availability -----------
# (appended for the console's resources pages; add further sections below this one)


def get_station(session: Session, station_id: int) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise NotFound(
            f"工位 {station_id} 不存在",
            f"station {station_id} does not exist",
            code="station_not_found",
        )
    return station


def upcoming_room_sessions(
    session: Session, room_id: int, now: dt.datetime | None = None
) -> list[ClassSession]:
    """Sessions in the room that have not ended yet, in time order."""
    return list(
        session.exec(
            select(ClassSession)
            .where(ClassSession.room_id == room_id, col(ClassSession.ends_at) > (now or utcnow()))
            .order_by(col(ClassSession.starts_at), col(ClassSession.id))
        ).all()
    )


def upcoming_station_sessions(
    session: Session, station_id: int, now: dt.datetime | None = None
) -> list[ClassSession]:
    """Sessions booked on the station that have not ended yet, in time order."""
    return list(
        session.exec(
            select(ClassSession)
            .join(SessionStation, col(SessionStation.session_id) == ClassSession.id)
            .where(
                SessionStation.station_id == station_id,
                col(SessionStation.ends_at) > (now or utcnow()),
            )
            .order_by(col(ClassSession.starts_at), col(ClassSession.id))
        ).all()
    )


def _changed(
    row: Room | Station, changes: dict[str, object]
) -> tuple[dict[str, object], dict[str, object]]:
    """Apply the changes that differ from the row; (before, after) of just those fields."""
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    for name, value in changes.items():
        old = getattr(row, name)
        if old != value:
            before[name], after[name] = old, value
            setattr(row, name, value)
    return before, after


def _edit_action(entity: str, after: dict[str, object]) -> str:
    # Taking a resource out of service (or back) is its own action, so history shows it plainly.
    if "is_active" in after:
        return f"{entity}.{'reactivate' if after['is_active'] else 'deactivate'}"
    return f"{entity}.update"


def update_room(
    session: Session,
    actor: Actor,
    room_id: int,
    data: RoomUpdate,
    *,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Room:
    """Correct a room's name or capacity, or take it out of service (or back).

    Sessions already booked keep the room. A capacity below the trainees already enrolled in a
    course with a session still to come in the room is refused, naming those sessions: they
    would not fit. Past sessions do not count; their record stays as it was.
    """
    room = get_room(session, room_id)
    session.refresh(room, with_for_update=True)
    assert room.id is not None
    if data.capacity is not None and data.capacity < room.capacity:
        _refuse_if_overfull(session, room, data.capacity, now)
    before, after = _changed(room, data.model_dump(exclude_unset=True))
    if not after:
        session.rollback()
        return room
    session.add(room)
    audit.record(
        session,
        actor,
        _edit_action("room", after),
        "room",
        room.id,
        before=before,
        after=after,
        reason=reason,
    )
    session.commit()
    return room


def _refuse_if_overfull(
    session: Session, room: Room, capacity: int, now: dt.datetime | None
) -> None:
    assert room.id is not None
    upcoming = upcoming_room_sessions(session, room.id, now)
    course_ids = sorted({s.course_id for s in upcoming})
    if not course_ids:
        return
    # Lock the courses as enrolment does, so no trainee enrols past the new capacity meanwhile.
    courses = {
        c.id: c
        for c in session.exec(
            select(Course)
            .where(col(Course.id).in_(course_ids))
            .order_by(col(Course.id))
            .with_for_update()
        ).all()
    }
    counts = enrolment_counts(session, course_ids)
    overfull = [
        (s, counts[s.course_id][EnrolmentStatus.enrolled])
        for s in upcoming
        if counts[s.course_id][EnrolmentStatus.enrolled] > capacity
    ]
    if not overfull:
        return
    first, enrolled = overfull[0]
    code = courses[first.course_id].code
    raise Conflict(
        f"教室 {room.code} 改为 {capacity} 座后坐不下：班级 {code} 已有 {enrolled} 人报名，"
        f"还有 {len(overfull)} 次课安排在这间教室",
        f"room {room.code} would not seat course {code} at {capacity} seats: {enrolled} are "
        f"enrolled and {len(overfull)} sessions still to come are booked in the room",
        code="room_capacity_below_enrolment",
        details={
            "field": "capacity",
            "sessions": [
                {
                    "session_id": s.id,
                    "course_id": s.course_id,
                    "course_code": courses[s.course_id].code,
                    "starts_at": s.starts_at.isoformat(),
                    "ends_at": s.ends_at.isoformat(),
                    "enrolled": n,
                }
                for s, n in overfull
            ],
        },
    )


def update_station(
    session: Session,
    actor: Actor,
    station_id: int,
    data: StationUpdate,
    *,
    reason: str | None = None,
) -> Station:
    """Correct a station's name, kind or room, or take it out of service (or back).

    Sessions already booked keep the station. A station may move only into an active room
    (or out of any room, with room_id null); its code, the devices' name for it, never changes.
    """
    station = get_station(session, station_id)
    session.refresh(station, with_for_update=True)
    assert station.id is not None
    changes = data.model_dump(exclude_unset=True)
    room_id = changes.get("room_id")
    if room_id is not None and room_id != station.room_id:
        room = session.get(Room, room_id)
        if room is None or not room.is_active:
            session.rollback()
            raise _invalid("room_id", "room_not_found", "教室不存在或已停用", "no such active room")
    before, after = _changed(station, changes)
    if not after:
        session.rollback()
        return station
    session.add(station)
    audit.record(
        session,
        actor,
        _edit_action("station", after),
        "station",
        station.id,
        before=before,
        after=after,
        reason=reason,
    )
    session.commit()
    return station


def get_instructor(session: Session, user_id: int) -> User:
    """A trainer, examiner or admin: someone who can teach and so has availability."""
    user = session.get(User, user_id)
    if user is None or Role(user.role) not in INSTRUCTOR_ROLES:
        raise NotFound(
            f"用户 {user_id} 不是培训教师或考评员",
            f"user {user_id} is not a trainer or examiner",
            code="instructor_not_found",
        )
    return user


def sessions_during_absences(
    session: Session, user_id: int, absences: list[InstructorAbsence]
) -> dict[int, list[ClassSession]]:
    """By absence id, the sessions the instructor teaches that overlap it (one query).

    Recording an absence does not move or refuse these sessions; only sessions planned later
    clash with it. Whoever plans must give them another instructor.
    """
    out: dict[int, list[ClassSession]] = {a.id: [] for a in absences if a.id is not None}
    if not out:
        return out
    first = min(a.starts_at for a in absences)
    last = max(a.ends_at for a in absences)
    taught = session.exec(
        select(ClassSession)
        .where(
            ClassSession.instructor_id == user_id,
            col(ClassSession.starts_at) < last,
            col(ClassSession.ends_at) > first,
        )
        .order_by(col(ClassSession.starts_at), col(ClassSession.id))
    ).all()
    for absence in absences:
        assert absence.id is not None
        out[absence.id] = [
            s for s in taught if s.starts_at < absence.ends_at and s.ends_at > absence.starts_at
        ]
    return out


def upcoming_absence_counts(
    session: Session, user_ids: Iterable[int], now: dt.datetime | None = None
) -> dict[int, int]:
    """How many absences not yet over each of the named instructors has (one query)."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = session.exec(
        select(InstructorAbsence.user_id, func.count())
        .where(
            col(InstructorAbsence.user_id).in_(wanted),
            col(InstructorAbsence.ends_at) > (now or utcnow()),
        )
        .group_by(col(InstructorAbsence.user_id))
    ).all()
    return {user_id: int(n) for user_id, n in rows}


def remove_absence(
    session: Session, actor: Actor, user_id: int, absence_id: int, reason: str | None = None
) -> None:
    """Remove an absence (the instructor can teach then after all); audit-logged."""
    absence = session.get(InstructorAbsence, absence_id)
    if absence is None or absence.user_id != user_id:
        raise NotFound(
            f"教师 {user_id} 没有编号为 {absence_id} 的不可上课时段",
            f"instructor {user_id} has no absence {absence_id}",
            code="absence_not_found",
        )
    audit.record(
        session,
        actor,
        "absence.delete",
        "instructor_absence",
        absence.id,
        before={
            "user_id": absence.user_id,
            "starts_at": absence.starts_at.isoformat(),
            "ends_at": absence.ends_at.isoformat(),
            "reason": absence.reason,
        },
        reason=reason,
    )
    session.delete(absence)
    session.commit()
