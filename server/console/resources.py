"""Console pages for the base's resources: rooms, stations and instructors' availability."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from curricula.model import StationKind
from server.console.pages import ConsoleLogin, ConsoleLoginDep, language, render
from server.console.schedule import (
    PLANNER_FORMS,
    PLANNER_PAGES,
    PLANNERS,
    STAFF_PAGES,
    FormReader,
    Submitted,
    _field_errors,
    _message,
    _pydantic_message,
    _span,
    _submitted,
    _translator,
    _tz,
)
from server.deps import SessionDep
from server.errors import InvalidInput, NotFound, SafetrainError
from server.scheduling import service
from server.scheduling.models import ClassSession, EnrolmentStatus, Room, SessionKind, Station
from server.scheduling.schemas import (
    AbsenceCreate,
    RoomCreate,
    RoomUpdate,
    StationCreate,
    StationUpdate,
)

router = APIRouter(prefix="/console/resources")
STATION_CODE = re.compile(r"[A-Z0-9-]{1,16}")
# Notices a page shows after a redirect, by the key in ?done=; anything else is ignored.
DONE_NOTICES = frozenset(
    {
        "room_added",
        "station_added",
        "saved",
        "deactivated",
        "reactivated",
        "absence_added",
        "absence_overlaps",
        "absence_removed",
    }
)


M = TypeVar("M", bound=BaseModel)


def _model(read: FormReader, model: type[M], data: dict[str, Any], whole: str) -> M | None:
    """Like FormReader.model, but every field is checked even when one is already wrong, so
    the page names all the mistakes at once."""
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else whole
            read.errors.setdefault(name, _pydantic_message(err, read.t))
        return None
    return None if read.errors else result


def _done(path: str, done: str, *, count: int | None = None) -> Response:
    query = f"done={done}" + (f"&count={count}" if count is not None else "")
    return RedirectResponse(f"{path}?{query}", status_code=303)


def _notice(done: str | None) -> str | None:
    return done if done in DONE_NOTICES else None


def _kind_options(request: Request) -> list[tuple[str, str]]:
    lang = language(request)
    return [(k.value, k.label(lang)) for k in StationKind]


def _room_options(request: Request, rooms: list[Room]) -> list[tuple[int | None, str]]:
    t = _translator(request)
    return [
        (
            r.id,
            f"{r.code} {r.name} · {t('seats_n', n=r.capacity)}"
            + ("" if r.is_active else f" · {t('res_out_of_service')}"),
        )
        for r in rooms
    ]


# --- the list: rooms, stations, instructors, and the forms to add -------------------------


def _resources_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    *,
    form_name: str | None = None,
    form: Submitted | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    rooms = service.list_rooms(session)
    instructors = service.active_staff(session, service.INSTRUCTOR_ROLES)
    forms = {"room": Submitted(), "station": Submitted()}
    form_errors: dict[str, dict[str, str]] = {"room": {}, "station": {}}
    if form_name is not None and form is not None:
        forms[form_name] = form
        form_errors[form_name] = errors or {}
    return render(
        request,
        "resources/index.html",
        {
            "rooms": rooms,
            "room_by_id": {r.id: r for r in rooms},
            "stations": service.list_stations(session),
            "StationKind": StationKind,
            "kind_options": _kind_options(request),
            "room_options": _room_options(request, [r for r in rooms if r.is_active]),
            "instructors": instructors,
            "absence_counts": service.upcoming_absence_counts(
                session, (u.id for u in instructors if u.id is not None)
            ),
            "can_change": login.role in PLANNERS,
            "forms": forms,
            "errors": form_errors,
            "done": _notice(done),
        },
        login=login,
        status_code=status_code,
    )


@router.get("", **STAFF_PAGES)
def resources(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Rooms, stations and instructors, with the forms to add rooms and stations."""
    return _resources_page(request, session, login, done=done)


@router.post("/rooms", **PLANNER_FORMS)
async def room_add(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    """Add a room; bad input is shown by its field and nothing is stored."""
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    data = _model(
        read,
        RoomCreate,
        {
            "code": read.text("code", max_length=32),
            "name": read.text("name"),
            "capacity": read.integer("capacity"),
        },
        whole="capacity",
    )
    if data is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _resources_page(
            request, session, login, form_name="room", form=form, errors=errors, status_code=422
        )
    try:
        service.create_room(session, login.actor, data)
    except SafetrainError as exc:
        session.rollback()
        errors = _field_errors(exc, {}, _message(request, exc))
        if exc.code == "room_exists":
            errors["code"] = errors["_"]
        return _resources_page(
            request,
            session,
            login,
            form_name="room",
            form=form,
            errors=errors,
            status_code=exc.status,
        )
    return _done("/console/resources", "room_added")


def _active_room(session: Session, read: FormReader, name: str) -> int | None:
    """The room picked in field `name`, which must exist and be in service (or none)."""
    room_id = read.integer(name, required=False)
    if room_id is not None:
        try:
            room = service.get_room(session, room_id)
        except NotFound:
            read.fail(name, "err_choice")
            return None
        if not room.is_active:
            read.fail(name, "res_err_room_inactive")
    return room_id


def _station_kind(read: FormReader, name: str) -> StationKind | None:
    raw = read.form.get(name)
    try:
        return StationKind(raw)
    except ValueError:
        read.fail(name, "err_required" if not raw else "err_choice")
        return None


@router.post("/stations", **PLANNER_FORMS)
async def station_add(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    """Add a station (a VR pod, a rig, an exam seat, a kiosk) with the code its devices use."""
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    # Devices name stations in capitals (VR-03); a code typed in lower case means the same.
    code = read.text("code", max_length=16).upper()
    if code and not STATION_CODE.fullmatch(code):
        read.fail("code", "res_err_station_code")
    fields = {
        "code": code,
        "name": read.text("name"),
        "kind": _station_kind(read, "kind"),
        "room_id": _active_room(session, read, "room_id"),
    }
    data = _model(read, StationCreate, fields, whole="code")
    if data is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _resources_page(
            request,
            session,
            login,
            form_name="station",
            form=form,
            errors=errors,
            status_code=422,
        )
    try:
        service.create_station(session, login.actor, data)
    except SafetrainError as exc:
        session.rollback()
        errors = _field_errors(exc, {"room_id": "room_id"}, _message(request, exc))
        if exc.code == "station_exists":
            errors["code"] = errors["_"]
        return _resources_page(
            request,
            session,
            login,
            form_name="station",
            form=form,
            errors=errors,
            status_code=exc.status,
        )
    return _done("/console/resources", "station_added")


# --- one room or station: correct it, take it out of service -------------------------------


@dataclass(frozen=True)
class BookedRow:
    """A session still to come that uses the room or station, as its page lists it."""

    when: str
    course_id: int
    course_code: str
    kind_label: str
    enrolled: int
    course_capacity: int
    may_not_fit: bool = False  # the course may enrol more than the room seats
    does_not_fit: bool = False  # it already has


def _booked_rows(
    request: Request, session: Session, rows: list[ClassSession], seats: int | None = None
) -> list[BookedRow]:
    tz, lang = _tz(request), language(request)
    courses = service.courses_by_id(session, (r.course_id for r in rows))
    counts = service.enrolment_counts(session, list(courses))
    out = []
    for r in rows:
        course = courses[r.course_id]
        enrolled = counts[r.course_id][EnrolmentStatus.enrolled]
        out.append(
            BookedRow(
                when=_span(r.starts_at, r.ends_at, tz),
                course_id=r.course_id,
                course_code=course.code,
                kind_label=SessionKind(r.kind).label(lang),
                enrolled=enrolled,
                course_capacity=course.capacity,
                may_not_fit=seats is not None and course.capacity > seats,
                does_not_fit=seats is not None and enrolled > seats,
            )
        )
    return out


@dataclass(frozen=True)
class Unfit:
    """A session that a refused capacity would not seat."""

    when: str
    course_id: int
    course_code: str
    enrolled: int


def _unfit(request: Request, exc: SafetrainError) -> list[Unfit]:
    sessions = exc.details.get("sessions", []) if isinstance(exc.details, dict) else []
    tz = _tz(request)
    return [
        Unfit(
            when=_span(
                dt.datetime.fromisoformat(s["starts_at"]),
                dt.datetime.fromisoformat(s["ends_at"]),
                tz,
            ),
            course_id=int(s["course_id"]),
            course_code=str(s["course_code"]),
            enrolled=int(s["enrolled"]),
        )
        for s in sessions
    ]


def _room_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    room: Room,
    *,
    form: Submitted | None = None,
    errors: dict[str, str] | None = None,
    unfit: list[Unfit] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    assert room.id is not None
    if form is None:
        form = Submitted({"name": [room.name], "capacity": [str(room.capacity)]})
    upcoming = service.upcoming_room_sessions(session, room.id)
    return render(
        request,
        "resources/room.html",
        {
            "room": room,
            "form": form,
            "errors": errors or {},
            "unfit": unfit or [],
            "blank": Submitted(),
            "booked": _booked_rows(request, session, upcoming, room.capacity),
            "done": _notice(done),
        },
        login=login,
        status_code=status_code,
    )


@router.get("/rooms/{room_id}", **PLANNER_PAGES)
def room_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    room_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A room: correct its name or seats, take it out of service, see what is booked in it."""
    return _room_page(request, session, login, service.get_room(session, room_id), done=done)


@router.post("/rooms/{room_id}", **PLANNER_FORMS)
async def room_save(
    request: Request, session: SessionDep, login: ConsoleLoginDep, room_id: int
) -> Response:
    """Correct a room's name or seats; fewer seats than a coming session's trainees is refused."""
    room = service.get_room(session, room_id)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    data = _model(
        read,
        RoomUpdate,
        {"name": read.text("name"), "capacity": read.integer("capacity")},
        whole="capacity",
    )
    if data is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _room_page(request, session, login, room, form=form, errors=errors, status_code=422)
    try:
        service.update_room(session, login.actor, room_id, data)
    except SafetrainError as exc:
        session.rollback()
        errors = _field_errors(
            exc, {"capacity": "capacity", "name": "name"}, _message(request, exc)
        )
        if exc.code == "room_capacity_below_enrolment":
            errors["capacity"] = errors["_"]
        room = service.get_room(session, room_id)
        return _room_page(
            request,
            session,
            login,
            room,
            form=form,
            errors=errors,
            unfit=_unfit(request, exc),
            status_code=exc.status,
        )
    return _done(f"/console/resources/rooms/{room_id}", "saved")


def _wanted_state(form: Submitted) -> bool | None:
    return {"1": True, "0": False}.get(form.get("active"))


def _reason(form: Submitted) -> str | None:
    return form.get("reason")[:500] or None


@router.post("/rooms/{room_id}/service", **PLANNER_FORMS)
async def room_service(
    request: Request, session: SessionDep, login: ConsoleLoginDep, room_id: int
) -> Response:
    """Take a room out of service, or return it; sessions already booked keep it."""
    service.get_room(session, room_id)
    form = await _submitted(request)
    active = _wanted_state(form)
    if active is None:
        raise InvalidInput("没有这种使用状态", "no such service state", code="invalid_state")
    service.update_room(
        session, login.actor, room_id, RoomUpdate(is_active=active), reason=_reason(form)
    )
    done = "reactivated" if active else "deactivated"
    return _done(f"/console/resources/rooms/{room_id}", done)


def _station_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    station: Station,
    *,
    form: Submitted | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    assert station.id is not None
    if form is None:
        form = Submitted(
            {
                "name": [station.name],
                "kind": [str(station.kind)],
                "room_id": [str(station.room_id) if station.room_id else ""],
            }
        )
    rooms = service.list_rooms(session)
    upcoming = service.upcoming_station_sessions(session, station.id)
    return render(
        request,
        "resources/station.html",
        {
            "station": station,
            "kind_label": StationKind(station.kind).label(language(request)),
            "room": next((r for r in rooms if r.id == station.room_id), None),
            # The station's own room stays choosable even when it is out of service.
            "room_options": _room_options(
                request, [r for r in rooms if r.is_active or r.id == station.room_id]
            ),
            "kind_options": _kind_options(request),
            "form": form,
            "blank": Submitted(),
            "errors": errors or {},
            "booked": _booked_rows(request, session, upcoming),
            "done": _notice(done),
        },
        login=login,
        status_code=status_code,
    )


@router.get("/stations/{station_id}", **PLANNER_PAGES)
def station_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    station_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A station: correct its name, kind or room, take it out of service, see its bookings."""
    station = service.get_station(session, station_id)
    return _station_page(request, session, login, station, done=done)


@router.post("/stations/{station_id}", **PLANNER_FORMS)
async def station_save(
    request: Request, session: SessionDep, login: ConsoleLoginDep, station_id: int
) -> Response:
    """Correct a station's name, kind or room (a room in service, or none)."""
    station = service.get_station(session, station_id)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    room_id = read.integer("room_id", required=False)
    if room_id is not None and room_id != station.room_id:
        room_id = _active_room(session, read, "room_id")
    data = _model(
        read,
        StationUpdate,
        {"name": read.text("name"), "kind": _station_kind(read, "kind"), "room_id": room_id},
        whole="name",
    )
    if data is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _station_page(
            request, session, login, station, form=form, errors=errors, status_code=422
        )
    try:
        service.update_station(session, login.actor, station_id, data)
    except SafetrainError as exc:
        session.rollback()
        fields = {"room_id": "room_id", "name": "name", "kind": "kind"}
        errors = _field_errors(exc, fields, _message(request, exc))
        station = service.get_station(session, station_id)
        return _station_page(
            request, session, login, station, form=form, errors=errors, status_code=exc.status
        )
    return _done(f"/console/resources/stations/{station_id}", "saved")


@router.post("/stations/{station_id}/service", **PLANNER_FORMS)
async def station_service(
    request: Request, session: SessionDep, login: ConsoleLoginDep, station_id: int
) -> Response:
    """Take a station out of service, or return it; sessions already booked keep it."""
    service.get_station(session, station_id)
    form = await _submitted(request)
    active = _wanted_state(form)
    if active is None:
        raise InvalidInput("没有这种使用状态", "no such service state", code="invalid_state")
    service.update_station(
        session, login.actor, station_id, StationUpdate(is_active=active), reason=_reason(form)
    )
    done = "reactivated" if active else "deactivated"
    return _done(f"/console/resources/stations/{station_id}", done)


# --- instructors' availability -----------------------------------------------------------


@dataclass(frozen=True)
class AbsenceRow:
    id: int
    when: str
    reason: str
    overlapping: list[BookedRow]


def _instructor_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    user_id: int,
    *,
    form: Submitted | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    done: str | None = None,
    count: int | None = None,
) -> Response:
    tz = _tz(request)
    instructor = service.get_instructor(session, user_id)
    absences = service.list_absences(session, user_id)
    overlaps = service.sessions_during_absences(session, user_id, absences)
    rows = []
    for a in absences:
        assert a.id is not None
        rows.append(
            AbsenceRow(
                id=a.id,
                when=_span(a.starts_at, a.ends_at, tz),
                reason=a.reason,
                overlapping=_booked_rows(request, session, overlaps[a.id]),
            )
        )
    return render(
        request,
        "resources/instructor.html",
        {
            "instructor": instructor,
            "absences": rows,
            "can_change": login.role in PLANNERS,
            "form": form or Submitted(),
            "errors": errors or {},
            "done": _notice(done),
            "done_count": count or 0,
        },
        login=login,
        status_code=status_code,
    )


@router.get("/instructors/{user_id}", **STAFF_PAGES)
def instructor_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    user_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
    count: Annotated[int | None, Query(ge=0, le=10000)] = None,
) -> Response:
    """An instructor's absences and the sessions each one overlaps."""
    return _instructor_page(request, session, login, user_id, done=done, count=count)


ABSENCE_FIELDS = {"starts_at": "starts_at", "ends_at": "ends_at", "reason": "reason"}


@router.post("/instructors/{user_id}/absences", **PLANNER_FORMS)
async def absence_add(
    request: Request, session: SessionDep, login: ConsoleLoginDep, user_id: int
) -> Response:
    """Record a time the instructor cannot teach; sessions it overlaps are named, not moved."""
    service.get_instructor(session, user_id)
    tz = _tz(request)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    fields: dict[str, Any] = {}
    for name in ("starts_at", "ends_at"):
        if not form.get(name):
            read.fail(name, "err_required")
        fields[name] = read.moment(name, tz)
    fields["reason"] = read.text("reason", max_length=200)
    if fields["starts_at"] and fields["ends_at"] and fields["ends_at"] <= fields["starts_at"]:
        read.fail("ends_at", "err_order")
    data = _model(read, AbsenceCreate, fields, whole="ends_at")
    if data is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _instructor_page(
            request, session, login, user_id, form=form, errors=errors, status_code=422
        )
    try:
        absence = service.add_absence(session, login.actor, user_id, data)
    except SafetrainError as exc:
        session.rollback()
        errors = _field_errors(exc, ABSENCE_FIELDS, _message(request, exc))
        return _instructor_page(
            request, session, login, user_id, form=form, errors=errors, status_code=exc.status
        )
    assert absence.id is not None
    taught = service.sessions_during_absences(session, user_id, [absence])[absence.id]
    path = f"/console/resources/instructors/{user_id}"
    if taught:
        return _done(path, "absence_overlaps", count=len(taught))
    return _done(path, "absence_added")


@router.post("/instructors/{user_id}/absences/{absence_id}/remove", **PLANNER_FORMS)
async def absence_remove(
    request: Request, session: SessionDep, login: ConsoleLoginDep, user_id: int, absence_id: int
) -> Response:
    """Remove a recorded absence."""
    service.get_instructor(session, user_id)
    await _submitted(request)
    service.remove_absence(session, login.actor, user_id, absence_id)
    return _done(f"/console/resources/instructors/{user_id}", "absence_removed")
