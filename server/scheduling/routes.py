"""Scheduling API: rooms, stations, absences, courses, sessions, enrolment, attendance, hours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Query, Response, UploadFile
from sqlmodel import Session

from server.accounts.models import Role
from server.deps import STAFF, PrincipalDep, SessionDep, SettingsDep, allow
from server.errors import NotPermitted
from server.scheduling import attendance, enrolment, service
from server.scheduling.models import (
    ClassSession,
    Course,
    CourseStatus,
    Enrolment,
    EnrolmentStatus,
    SessionKind,
)
from server.scheduling.schemas import (
    AbsenceCreate,
    AbsencePublic,
    AttendanceCorrection,
    AttendanceMark,
    AttendancePublic,
    BulkEnrolItem,
    BulkEnrolRequest,
    BulkEnrolResult,
    CheckRequest,
    CourseCreate,
    CoursePublic,
    CoursesPublic,
    EnrolmentPublic,
    EnrolmentsPublic,
    EnrolRequest,
    HoursPlan,
    PatternCreate,
    RoomCreate,
    RoomPublic,
    RoomUpdate,
    RosterEnrolResult,
    SessionCreate,
    SessionPublic,
    SessionsPublic,
    SheetPublic,
    StationCreate,
    StationPublic,
    StationUpdate,
    TraineeProgress,
)
from server.uploads import read_upload

router = APIRouter(prefix="/api/v1", tags=["scheduling"])
PLANNERS = (Role.admin, Role.trainer)


def _course_public(session: Session, course: Course) -> CoursePublic:
    assert course.id is not None
    counts = service.enrolment_counts(session, [course.id])[course.id]
    return CoursePublic(
        **course.model_dump(exclude={"created_at", "status"}),
        status=CourseStatus(course.status),
        enrolled=counts[EnrolmentStatus.enrolled],
        waitlisted=counts[EnrolmentStatus.waitlisted],
    )


def _session_public(row: ClassSession, station_ids: list[int]) -> SessionPublic:
    return SessionPublic(
        **row.model_dump(exclude={"kind"}), kind=SessionKind(row.kind), station_ids=station_ids
    )


def _sessions_public(session: Session, rows: list[ClassSession]) -> list[SessionPublic]:
    stations = service.station_ids_of(session, [r.id for r in rows if r.id is not None])
    return [_session_public(r, stations[r.id or 0]) for r in rows]


def _enrolment_public(e: Enrolment, name: str, position: int | None) -> EnrolmentPublic:
    assert e.id is not None
    return EnrolmentPublic(
        id=e.id,
        course_id=e.course_id,
        trainee_id=e.trainee_id,
        trainee_name=name,
        status=EnrolmentStatus(e.status),
        waitlist_position=position,
        requested_at=e.requested_at,
        enrolled_at=e.enrolled_at,
        withdrawn_at=e.withdrawn_at,
    )


# --- resources ---------------------------------------------------------------------------


@router.get("/rooms", response_model=list[RoomPublic], **allow(*STAFF))
def list_rooms(session: SessionDep) -> list[RoomPublic]:
    """Rooms of the base."""
    return [RoomPublic.model_validate(r, from_attributes=True) for r in service.list_rooms(session)]


@router.post("/rooms", response_model=RoomPublic, status_code=201, **allow(*PLANNERS))
def create_room(session: SessionDep, principal: PrincipalDep, data: RoomCreate) -> RoomPublic:
    """Add a room."""
    return RoomPublic.model_validate(
        service.create_room(session, principal.actor, data), from_attributes=True
    )


@router.get("/stations", response_model=list[StationPublic], **allow(*STAFF, Role.gateway))
def list_stations(session: SessionDep) -> list[StationPublic]:
    """Stations: VR pods, rigs, exam seats, kiosks."""
    return [
        StationPublic.model_validate(s, from_attributes=True)
        for s in service.list_stations(session)
    ]


@router.post("/stations", response_model=StationPublic, status_code=201, **allow(*PLANNERS))
def create_station(
    session: SessionDep, principal: PrincipalDep, data: StationCreate
) -> StationPublic:
    """Add a station."""
    return StationPublic.model_validate(
        service.create_station(session, principal.actor, data), from_attributes=True
    )


@router.get("/instructors/{user_id}/absences", response_model=list[AbsencePublic], **allow(*STAFF))
def list_absences(session: SessionDep, user_id: int) -> list[AbsencePublic]:
    """When an instructor cannot teach."""
    return [
        AbsencePublic.model_validate(a, from_attributes=True)
        for a in service.list_absences(session, user_id)
    ]


@router.post(
    "/instructors/{user_id}/absences",
    response_model=AbsencePublic,
    status_code=201,
    **allow(*PLANNERS),
)
def add_absence(
    session: SessionDep, principal: PrincipalDep, user_id: int, data: AbsenceCreate
) -> AbsencePublic:
    """Record a time an instructor cannot teach."""
    absence = service.add_absence(session, principal.actor, user_id, data)
    return AbsencePublic.model_validate(absence, from_attributes=True)


@router.patch("/rooms/{room_id}", response_model=RoomPublic, **allow(*PLANNERS))
def update_room(
    session: SessionDep,
    principal: PrincipalDep,
    room_id: int,
    data: RoomUpdate,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> RoomPublic:
    """Correct a room's name or capacity, or take it out of service; booked sessions keep it."""
    room = service.update_room(session, principal.actor, room_id, data, reason=reason)
    return RoomPublic.model_validate(room, from_attributes=True)


@router.patch("/stations/{station_id}", response_model=StationPublic, **allow(*PLANNERS))
def update_station(
    session: SessionDep,
    principal: PrincipalDep,
    station_id: int,
    data: StationUpdate,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> StationPublic:
    """Correct a station's name, kind or room, or take it out of service."""
    station = service.update_station(session, principal.actor, station_id, data, reason=reason)
    return StationPublic.model_validate(station, from_attributes=True)


@router.delete("/instructors/{user_id}/absences/{absence_id}", status_code=204, **allow(*PLANNERS))
def remove_absence(
    session: SessionDep,
    principal: PrincipalDep,
    user_id: int,
    absence_id: int,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Remove a recorded absence."""
    service.remove_absence(session, principal.actor, user_id, absence_id, reason)
    return Response(status_code=204)


# --- courses and sessions ----------------------------------------------------------------


@router.get("/courses", response_model=CoursesPublic, **allow(*STAFF))
def list_courses(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CoursesPublic:
    """Courses, newest first."""
    rows, count = service.list_courses(session, offset=offset, limit=limit)
    return CoursesPublic(data=[_course_public(session, c) for c in rows], count=count)


@router.post("/courses", response_model=CoursePublic, status_code=201, **allow(*PLANNERS))
def create_course(session: SessionDep, principal: PrincipalDep, data: CourseCreate) -> CoursePublic:
    """Create a course (班级) from a curriculum."""
    return _course_public(session, service.create_course(session, principal.actor, data))


@router.get("/courses/{course_id}", response_model=CoursePublic, **allow(*STAFF))
def get_course(session: SessionDep, course_id: int) -> CoursePublic:
    """One course with its seat counts."""
    return _course_public(session, service.get_course(session, course_id))


@router.get("/courses/{course_id}/sessions", response_model=SessionsPublic, **allow(*STAFF))
def list_sessions(session: SessionDep, course_id: int) -> SessionsPublic:
    """A course's sessions in time order."""
    service.get_course(session, course_id)
    rows = service.course_sessions(session, course_id)
    return SessionsPublic(data=_sessions_public(session, rows), count=len(rows))


@router.post(
    "/courses/{course_id}/sessions",
    response_model=SessionPublic,
    status_code=201,
    **allow(*PLANNERS),
)
def add_session(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    data: SessionCreate,
) -> SessionPublic:
    """Add a session; 409 names every clash (room, station, instructor, trainee, capacity)."""
    row = service.add_session(session, principal.actor, course_id, data, settings.tz)
    return _session_public(row, list(dict.fromkeys(data.station_ids)))


@router.post(
    "/courses/{course_id}/session-patterns",
    response_model=SessionsPublic,
    status_code=201,
    **allow(*PLANNERS),
)
def add_pattern(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    data: PatternCreate,
) -> SessionsPublic:
    """Add repeating sessions (weekdays, local times, a date range, skipped dates): all or none."""
    rows = service.add_pattern(session, principal.actor, course_id, data, settings.tz)
    return SessionsPublic(data=_sessions_public(session, rows), count=len(rows))


@router.delete("/sessions/{session_id}", status_code=204, **allow(*PLANNERS))
def delete_session(
    session: SessionDep,
    principal: PrincipalDep,
    session_id: int,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Remove a session that has no attendance yet."""
    service.delete_session(session, principal.actor, session_id, reason)
    return Response(status_code=204)


@router.get("/courses/{course_id}/hours", response_model=HoursPlan, **allow(*STAFF))
def hours(session: SessionDep, course_id: int) -> HoursPlan:
    """Planned hours per kind against the curriculum: shortfall or excess."""
    return service.hours_plan(session, service.get_course(session, course_id))


# --- enrolment ---------------------------------------------------------------------------


@router.get("/courses/{course_id}/enrolments", response_model=EnrolmentsPublic, **allow(*STAFF))
def list_enrolments(session: SessionDep, course_id: int) -> EnrolmentsPublic:
    """Roster and waitlist, in the order people asked."""
    service.get_course(session, course_id)
    rows = enrolment.roster(session, course_id)
    return EnrolmentsPublic(
        data=[_enrolment_public(e, t.name, p) for e, t, p in rows], count=len(rows)
    )


@router.post(
    "/courses/{course_id}/enrolments",
    response_model=EnrolmentPublic,
    status_code=201,
    **allow(*PLANNERS),
)
def enrol(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    data: EnrolRequest,
) -> EnrolmentPublic:
    """Enrol a trainee; a full course puts them on the waitlist."""
    e = enrolment.enrol(session, principal.actor, course_id, data.trainee_id, settings.tz)
    rows = enrolment.roster(session, course_id)
    name, position = next((t.name, p) for x, t, p in rows if x.id == e.id)
    return _enrolment_public(e, name, position)


@router.post(
    "/courses/{course_id}/enrolments/bulk", response_model=BulkEnrolResult, **allow(*PLANNERS)
)
def enrol_many(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    data: BulkEnrolRequest,
) -> BulkEnrolResult:
    """Enrol several trainees in order; each gets its own result, one refusal stops none."""
    from server.errors import SafetrainError

    results = []
    for trainee_id in dict.fromkeys(data.trainee_ids):
        try:
            e = enrolment.enrol(session, principal.actor, course_id, trainee_id, settings.tz)
            results.append(BulkEnrolItem(trainee_id=trainee_id, status=e.status))
        except SafetrainError as exc:
            session.rollback()
            if exc.code == "course_not_found":
                raise
            results.append(
                BulkEnrolItem(
                    trainee_id=trainee_id,
                    status="refused",
                    error=exc.code,
                    message=exc.message,
                    details=exc.details,
                )
            )
    return BulkEnrolResult(results=results)


@router.post(
    "/courses/{course_id}/enrolments/roster", response_model=RosterEnrolResult, **allow(*PLANNERS)
)
async def enrol_roster(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    course_id: int,
    file: Annotated[UploadFile, File(description="CSV or XLSX roster")],
    valid_only: bool = False,
) -> RosterEnrolResult:
    """Enrol a roster file: new people are registered, then every row is enrolled in file order."""
    data = await read_upload(file)
    report, outcomes = enrolment.enrol_roster(
        session,
        principal.actor,
        course_id,
        data,
        file.filename or "roster",
        settings.tz,
        valid_only=valid_only,
    )
    results = [
        BulkEnrolItem(row=row, trainee_id=tid, status=o.status)
        if isinstance(o, Enrolment)
        else BulkEnrolItem(
            row=row,
            trainee_id=tid,
            status="refused",
            error=o.code,
            message=o.message,
            details=o.details,
        )
        for row, tid, o in outcomes
    ]
    return RosterEnrolResult(registry=report, results=results)


@router.post(
    "/enrolments/{enrolment_id}/withdraw", response_model=EnrolmentPublic | None, **allow(*PLANNERS)
)
def withdraw(
    session: SessionDep,
    principal: PrincipalDep,
    enrolment_id: int,
    reason: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> EnrolmentPublic | None:
    """Withdraw from a course; answers with whoever was promoted from the waitlist, if anyone."""
    promoted = enrolment.withdraw(session, principal.actor, enrolment_id, reason)
    if promoted is None:
        return None
    trainee = enrolment._trainee(session, promoted.trainee_id)
    return _enrolment_public(promoted, trainee.name, None)


# --- attendance --------------------------------------------------------------------------


def _self_or_staff(principal: PrincipalDep, trainee_id: int) -> None:
    if principal.role is Role.trainee and principal.user.trainee_id != trainee_id:
        raise NotPermitted(
            "学员只能为自己签到", "trainees check in only themselves", code="not_own_record"
        )


@router.post(
    "/sessions/{session_id}/check-in",
    response_model=AttendancePublic,
    **allow(*PLANNERS, Role.trainee),
)
def check_in(
    session: SessionDep, principal: PrincipalDep, session_id: int, data: CheckRequest
) -> AttendancePublic:
    """签到: check a trainee in (a trainee only themselves)."""
    _self_or_staff(principal, data.trainee_id)
    source = "kiosk" if principal.role is Role.trainee else "api"
    att = attendance.check_in(
        session, principal.actor, session_id, data.trainee_id, data.at, source
    )
    return attendance.public(att, service.get_session(session, session_id))


@router.post(
    "/sessions/{session_id}/check-out",
    response_model=AttendancePublic,
    **allow(*PLANNERS, Role.trainee),
)
def check_out(
    session: SessionDep, principal: PrincipalDep, session_id: int, data: CheckRequest
) -> AttendancePublic:
    """签退: check a trainee out (a trainee only themselves)."""
    _self_or_staff(principal, data.trainee_id)
    source = "kiosk" if principal.role is Role.trainee else "api"
    att = attendance.check_out(
        session, principal.actor, session_id, data.trainee_id, data.at, source
    )
    return attendance.public(att, service.get_session(session, session_id))


@router.get("/sessions/{session_id}/attendance", response_model=SheetPublic, **allow(*STAFF))
def attendance_sheet(session: SessionDep, session_id: int) -> SheetPublic:
    """The session's attendance: every record with credited, late and early-leave minutes."""
    row, entries = attendance.sheet(session, session_id)
    stations = service.station_ids_of(session, [session_id])[session_id]
    return SheetPublic(
        session=_session_public(row, stations),
        data=[attendance.public(a, row) for _, a in entries if a is not None],
    )


@router.put(
    "/sessions/{session_id}/attendance", response_model=AttendancePublic, **allow(*PLANNERS)
)
def mark_attendance(
    session: SessionDep, principal: PrincipalDep, session_id: int, data: AttendanceMark
) -> AttendancePublic:
    """A trainer records a trainee's times; changing recorded times needs a reason."""
    att = attendance.mark(
        session,
        principal.actor,
        session_id,
        data.trainee_id,
        data.checked_in_at,
        data.checked_out_at,
        data.reason,
    )
    return attendance.public(att, service.get_session(session, session_id))


@router.patch("/attendance/{attendance_id}", response_model=AttendancePublic, **allow(*PLANNERS))
def correct_attendance(
    session: SessionDep, principal: PrincipalDep, attendance_id: int, data: AttendanceCorrection
) -> AttendancePublic:
    """Correct an attendance record, with a reason (audit-logged)."""
    att = attendance.correct(
        session,
        principal.actor,
        attendance_id,
        data.checked_in_at,
        data.checked_out_at,
        data.reason,
    )
    return attendance.public(att, service.get_session(session, att.session_id))


@router.get("/courses/{course_id}/progress", response_model=list[TraineeProgress], **allow(*STAFF))
def course_progress(session: SessionDep, course_id: int) -> list[TraineeProgress]:
    """Each trainee's credited hours per kind against the curriculum."""
    return attendance.progress(session, service.get_course(session, course_id))
