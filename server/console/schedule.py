"""Console pages for planning: week calendar, courses, sessions, sign-in sheets."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from curricula import catalogue
from server.accounts.models import Role
from server.console.pages import ConsoleLogin, ConsoleLoginDep, console_allow, language, render
from server.deps import SessionDep
from server.errors import InvalidInput, NotFound, SafetrainError
from server.i18n import translate
from server.scheduling import attendance, enrolment, service
from server.scheduling.models import (
    ClassSession,
    Course,
    CourseStatus,
    EnrolmentStatus,
    SessionKind,
)
from server.scheduling.schemas import CourseCreate, PatternCreate, SessionCreate
from server.trainees.identity import mask_id_number

router = APIRouter(prefix="/console")
STAFF_PAGES = console_allow(Role.admin, Role.trainer, Role.examiner)
PLANNER_PAGES = console_allow(Role.admin, Role.trainer)
PLANNER_FORMS = console_allow(Role.admin, Role.trainer, form=True)
PLANNERS = frozenset({Role.admin, Role.trainer})
PAGE_SIZE = 50
WEEK_FORMAT = r"^[0-9]{4}-W[0-9]{2}$"
# Notices a page shows after a redirect, by the key in ?done=; anything else is ignored.
DONE_NOTICES = frozenset(
    {
        "session_added",
        "pattern_added",
        "session_cancelled",
        "enrolled",
        "waitlisted",
        "withdrawn",
        "promoted",
        "marked",
    }
)

# The planned resource each kind of clash is about, as the service names the field.
CLASH_FIELDS = {
    "room_over_capacity": "room_id",
    "room_double_booked": "room_id",
    "station_double_booked": "station_ids",
    "instructor_double_booked": "instructor_id",
    "instructor_unavailable": "instructor_id",
    "trainee_double_booked": "trainee_id",
}

Translate = Callable[..., str]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _translator(request: Request) -> Translate:
    lang = language(request)

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    return t


def _message(request: Request, exc: SafetrainError) -> str:
    return exc.en if language(request) == "en" else exc.zh


def _tz(request: Request) -> ZoneInfo:
    tz: ZoneInfo = request.app.state.settings.tz
    return tz


def _hhmm(value: dt.datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%H:%M")


def _span(starts_at: dt.datetime, ends_at: dt.datetime, tz: ZoneInfo) -> str:
    """2026-12-01 09:00–12:00 (the end's date only when it is another day)."""
    a, b = starts_at.astimezone(tz), ends_at.astimezone(tz)
    end = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%Y-%m-%d %H:%M}"
    return f"{a:%Y-%m-%d %H:%M}–{end}"


def _hours(value: float) -> str:
    return f"{round(value, 1):g}"


# --- forms -------------------------------------------------------------------------------


@dataclass
class Submitted:
    """A posted form as the page shows it again: every value as typed, lists for checkboxes."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def has(self, name: str, value: object) -> bool:
        return str(value) in self.values.get(name, [])


async def _submitted(request: Request) -> Submitted:
    out: dict[str, list[str]] = {}
    for key, value in (await request.form()).multi_items():
        if key != "csrf_token" and isinstance(value, str):
            out.setdefault(key, []).append(value.strip())
    return Submitted(out)


class FormReader:
    """Turns a submitted form into typed values, noting a translated error per bad field."""

    def __init__(self, form: Submitted, t: Translate) -> None:
        self.form = form
        self.t = t
        self.errors: dict[str, str] = {}

    def fail(self, name: str, key: str, **values: object) -> None:
        self.errors.setdefault(name, self.t(key, **values))

    def text(self, name: str, *, required: bool = True, max_length: int = 100) -> str:
        value = self.form.get(name)
        if required and not value:
            self.fail(name, "err_required")
        elif len(value) > max_length:
            self.fail(name, "err_too_long", max=max_length)
        return value

    def _parse(self, name: str, parse: Callable[[str], T], key: str, required: bool) -> T | None:
        raw = self.form.get(name)
        if not raw:
            if required:
                self.fail(name, "err_required")
            return None
        try:
            return parse(raw)
        except ValueError:
            self.fail(name, key)
            return None

    def date(self, name: str, *, required: bool = True) -> dt.date | None:
        return self._parse(name, dt.date.fromisoformat, "err_date", required)

    def time(self, name: str, *, required: bool = True) -> dt.time | None:
        return self._parse(name, _time, "err_time", required)

    def moment(self, name: str, tz: ZoneInfo) -> dt.datetime | None:
        """A local date and time (an <input type=datetime-local>) as an aware datetime."""
        return self._parse(name, lambda raw: _local_moment(raw, tz), "err_datetime", False)

    def integer(self, name: str, *, required: bool = True) -> int | None:
        return self._parse(name, int, "err_number", required)

    def integers(self, name: str) -> list[int]:
        out = []
        for raw in self.form.all(name):
            try:
                out.append(int(raw))
            except ValueError:
                self.fail(name, "err_number")
        return out

    def kind(self, name: str) -> SessionKind | None:
        return self._parse(name, SessionKind, "err_choice", True)

    def dates(self, name: str) -> list[dt.date]:
        """A list of dates separated by commas (ASCII or Chinese), 、 or spaces."""
        out = []
        for part in re.split(r"[,，、;；\s]+", self.form.get(name)):
            if not part:
                continue
            try:
                out.append(dt.date.fromisoformat(part))
            except ValueError:
                self.fail(name, "err_date_list", value=part)
        return out

    def model(self, model: type[M], data: dict[str, Any], whole: str) -> M | None:
        """Validate `data`; errors of the whole model (an order of dates) go to field `whole`."""
        if self.errors:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                name = str(err["loc"][0]) if err["loc"] else whole
                self.errors.setdefault(name, _pydantic_message(err, self.t))
            return None


def _time(raw: str) -> dt.time:
    value = dt.time.fromisoformat(raw)
    return value.replace(second=0, microsecond=0)


def _local_moment(raw: str, tz: ZoneInfo) -> dt.datetime:
    value = dt.datetime.fromisoformat(raw.replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(dt.UTC)


def _pydantic_message(err: Any, t: Translate) -> str:
    kind = str(err.get("type", ""))
    if kind == "missing":
        return t("err_required")
    if kind == "string_pattern_mismatch":
        return t("err_code_format")
    if kind in ("string_too_long", "too_long"):
        return t("err_too_long", max=(err.get("ctx") or {}).get("max_length", ""))
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return t("err_out_of_range")
    if kind == "value_error":
        return t("err_order")
    return str(err.get("msg", kind))


def _field_errors(exc: SafetrainError, fields: dict[str, str], message: str) -> dict[str, str]:
    """A refusal's message next to the form field it names, and at the top of the form."""
    errors = {"_": message}
    if isinstance(exc.details, list):
        for detail in exc.details:
            name = fields.get(str(detail.get("field")))
            if name:
                errors.setdefault(name, message)
    return errors


# --- week calendar -----------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    session_id: int
    course_id: int
    time: str
    course_code: str
    course_title: str
    kind: str
    kind_label: str
    title: str
    instructor: str


@dataclass(frozen=True)
class CalendarRow:
    label: str
    detail: str
    cells: list[list[CalendarEntry]]
    unplaced: bool = False


def _monday(week: str | None, tz: ZoneInfo) -> dt.date:
    if week is None:
        today = dt.datetime.now(tz).date()
        return today - dt.timedelta(days=today.weekday())
    try:
        return dt.date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
    except ValueError:
        raise InvalidInput(
            f"没有这一周：{week}", f"no such week: {week}", code="week_not_found"
        ) from None


def _iso_week(day: dt.date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


def _calendar_rows(
    session: Session,
    view: str,
    sessions: list[ClassSession],
    entries: dict[int, tuple[int, CalendarEntry]],
    window: tuple[dt.datetime, dt.datetime],
    t: Translate,
) -> list[CalendarRow]:
    """Rooms (or stations) as rows, seven day cells each, every session in its place."""
    placed: dict[int | None, list[list[CalendarEntry]]] = {}

    def put(resource: int | None, session_id: int) -> None:
        day, entry = entries[session_id]
        placed.setdefault(resource, [[] for _ in range(7)])[day].append(entry)

    rows: list[CalendarRow] = []
    if view == "rooms":
        for row in sessions:
            assert row.id is not None
            put(row.room_id, row.id)
        for room in service.list_rooms(session):
            if room.is_active or room.id in placed:
                cells = placed.get(room.id) or [[] for _ in range(7)]
                rows.append(CalendarRow(room.code, room.name, cells))
        rows.append(
            CalendarRow(t("no_room"), "", placed.get(None) or [[] for _ in range(7)], unplaced=True)
        )
    else:
        for session_id, station_id in service.station_bookings(session, *window):
            if session_id in entries:
                put(station_id, session_id)
        for station in service.list_stations(session):
            if station.is_active or station.id in placed:
                cells = placed.get(station.id) or [[] for _ in range(7)]
                rows.append(CalendarRow(station.code, station.name, cells))
    return rows


@router.get("/calendar", **STAFF_PAGES)
def calendar(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    week: Annotated[str | None, Query(pattern=WEEK_FORMAT)] = None,
    view: Annotated[Literal["rooms", "stations"], Query()] = "rooms",
) -> Response:
    """The week's sessions by room or station and day."""
    tz, lang, t = _tz(request), language(request), _translator(request)
    monday = _monday(week, tz)
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    window = (
        dt.datetime.combine(monday, dt.time(0), tz),
        dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(0), tz),
    )
    sessions = service.week_sessions(session, *window)
    courses = service.courses_by_id(session, (s.course_id for s in sessions))
    names = service.user_names(session, (s.instructor_id for s in sessions if s.instructor_id))
    entries: dict[int, tuple[int, CalendarEntry]] = {}
    for row in sessions:
        assert row.id is not None
        start = row.starts_at.astimezone(tz)
        course = courses[row.course_id]
        kind = SessionKind(row.kind)
        entries[row.id] = (
            (start.date() - monday).days,
            CalendarEntry(
                session_id=row.id,
                course_id=row.course_id,
                time=f"{start:%H:%M}–{_hhmm(row.ends_at, tz)}",
                course_code=course.code,
                course_title=course.title,
                kind=kind.value,
                kind_label=kind.label(lang),
                title=row.title,
                instructor=names.get(row.instructor_id, "") if row.instructor_id else "",
            ),
        )
    today = dt.datetime.now(tz).date()
    return render(
        request,
        "schedule/calendar.html",
        {
            "week": _iso_week(monday),
            "view": view,
            "days": days,
            "today": today,
            "first": days[0],
            "last": days[-1],
            "previous_week": _iso_week(monday - dt.timedelta(days=7)),
            "next_week": _iso_week(monday + dt.timedelta(days=7)),
            "this_week": _iso_week(today),
            "rows": _calendar_rows(session, view, sessions, entries, window, t),
            "session_count": len(sessions),
        },
        login=login,
    )


# --- courses -----------------------------------------------------------------------------


def _curriculum_title(code: str, lang: str) -> str:
    found = catalogue().get(code)
    return found.title.get(lang) if found else code


@router.get("/courses", **STAFF_PAGES)
def course_list(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Courses with their seat counts, newest first."""
    courses, count = service.list_courses(session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    ids = [c.id for c in courses if c.id is not None]
    return render(
        request,
        "schedule/courses.html",
        {
            "courses": courses,
            "count": count,
            "counts": service.enrolment_counts(session, ids),
            "leads": service.user_names(session, (c.lead_trainer_id for c in courses)),
            "curriculum_title": _curriculum_title,
            "page": page,
            "pages": max(1, (count + PAGE_SIZE - 1) // PAGE_SIZE),
            "EnrolmentStatus": EnrolmentStatus,
        },
        login=login,
    )


def _course_form(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    form: Submitted,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    curricula = sorted(catalogue().curricula.values(), key=lambda c: c.code)
    return render(
        request,
        "schedule/course_new.html",
        {
            "form": form,
            "errors": errors,
            "curricula": curricula,
            "trainers": service.active_staff(session, [Role.trainer]),
        },
        login=login,
        status_code=status_code,
    )


@router.get("/courses/new", **PLANNER_PAGES)
def course_new(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    """The form to create a course."""
    form = Submitted(
        {"lead_trainer_id": [str(login.user.id)]} if login.role is Role.trainer else {}
    )
    return _course_form(request, session, login, form, {})


@router.post("/courses/new", **PLANNER_FORMS)
async def course_create(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    """Create a course from the form."""
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    data = read.model(
        CourseCreate,
        {
            "code": read.text("code", max_length=32),
            "title": read.text("title", required=False) or None,
            "curriculum_code": read.text("curriculum_code", max_length=40),
            "starts_on": read.date("starts_on"),
            "ends_on": read.date("ends_on"),
            "lead_trainer_id": read.integer("lead_trainer_id"),
            "capacity": read.integer("capacity"),
        },
        whole="ends_on",
    )
    if data is None:
        return _course_form(request, session, login, form, read.errors, 422)
    try:
        course = service.create_course(session, login.actor, data)
    except SafetrainError as exc:
        session.rollback()
        fields = {"curriculum_code": "curriculum_code", "lead_trainer_id": "lead_trainer_id"}
        errors = _field_errors(exc, fields, _message(request, exc))
        if exc.code == "course_exists":
            errors["code"] = errors["_"]
        return _course_form(request, session, login, form, errors, exc.status)
    return RedirectResponse(f"/console/courses/{course.id}", status_code=303)


# --- one course --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    id: int
    when: str
    kind_label: str
    title: str
    room: str
    stations: str
    instructor: str


@dataclass(frozen=True)
class ClashRow:
    kind: str
    kind_label: str
    subject: str
    when: str
    course_id: int | None
    course_code: str
    # Where the other session sits on the week calendar, so the planner can see and fix it.
    calendar_url: str = ""


def _clash_rows(session: Session, details: Any, tz: ZoneInfo, t: Translate) -> list[ClashRow]:
    clashes = details.get("clashes", []) if isinstance(details, dict) else []
    codes = service.courses_by_id(
        session, (c["other_course_id"] for c in clashes if c.get("other_course_id"))
    )
    rows = []
    for c in clashes:
        other = c.get("other_course_id")
        other_session = c.get("other_session_id")
        kind = str(c.get("kind"))
        starts_at = dt.datetime.fromisoformat(c["starts_at"])
        calendar_url = ""
        if other_session:
            view = "stations" if kind == "station_double_booked" else "rooms"
            week = _iso_week(starts_at.astimezone(tz).date())
            calendar_url = f"/console/calendar?week={week}&view={view}#s{other_session}"
        rows.append(
            ClashRow(
                kind=kind,
                kind_label=t(f"clash_{kind}") if kind in CLASH_FIELDS else kind,
                subject=str(c.get("subject", "")),
                when=_span(starts_at, dt.datetime.fromisoformat(c["ends_at"]), tz),
                course_id=other,
                course_code=codes[other].code if other in codes else "",
                calendar_url=calendar_url,
            )
        )
    return rows


def _session_rows(
    session: Session, rows: list[ClassSession], tz: ZoneInfo, lang: str
) -> list[SessionRow]:
    ids = [r.id for r in rows if r.id is not None]
    rooms = {r.id: r.code for r in service.list_rooms(session)}
    stations = {s.id: s.code for s in service.list_stations(session)}
    booked = service.station_ids_of(session, ids)
    names = service.user_names(session, (r.instructor_id for r in rows if r.instructor_id))
    out = []
    for r in rows:
        assert r.id is not None
        out.append(
            SessionRow(
                id=r.id,
                when=_span(r.starts_at, r.ends_at, tz),
                kind_label=SessionKind(r.kind).label(lang),
                title=r.title,
                room=rooms.get(r.room_id, "") if r.room_id else "",
                stations="、".join(sorted(stations.get(s, str(s)) for s in booked[r.id])),
                instructor=names.get(r.instructor_id, "") if r.instructor_id else "",
            )
        )
    return out


@dataclass
class Refusal:
    """What the course page shows after a refused action: which form, why, and every clash."""

    form_name: str
    form: Submitted
    errors: dict[str, str]
    message: str
    clashes: list[ClashRow] = field(default_factory=list)
    status_code: int = 422


def _course_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    course_id: int,
    refusal: Refusal | None = None,
    done: str | None = None,
    count: int | None = None,
) -> Response:
    tz, lang = _tz(request), language(request)
    course = service.get_course(session, course_id)
    assert course.id is not None
    roster = enrolment.roster(session, course.id)
    can_plan = login.role in PLANNERS
    forms: dict[str, Submitted] = {}
    errors: dict[str, dict[str, str]] = {}
    if refusal is not None:
        forms[refusal.form_name] = refusal.form
        errors[refusal.form_name] = refusal.errors
    forms.setdefault("enrol", Submitted())
    if "session" not in forms:
        forms["session"] = Submitted({"instructor_id": [str(course.lead_trainer_id)]})
    if "pattern" not in forms:
        forms["pattern"] = Submitted(
            {
                "instructor_id": [str(course.lead_trainer_id)],
                "from_date": [course.starts_on.isoformat()],
                "to_date": [course.ends_on.isoformat()],
            }
        )
    context: dict[str, Any] = {
        "course": course,
        "status_label": _course_status(course, _translator(request)),
        "curriculum": _curriculum_title(course.curriculum_code, lang),
        "lead": service.user_names(session, [course.lead_trainer_id]).get(
            course.lead_trainer_id, ""
        ),
        "counts": service.enrolment_counts(session, [course.id])[course.id],
        "plan": service.hours_plan(session, course),
        "sessions": _session_rows(session, service.course_sessions(session, course.id), tz, lang),
        "enrolled": [(e, tr) for e, tr, _ in roster if e.status == EnrolmentStatus.enrolled],
        "waitlist": [(e, tr, p) for e, tr, p in roster if e.status == EnrolmentStatus.waitlisted],
        "withdrawn": [(e, tr) for e, tr, _ in roster if e.status == EnrolmentStatus.withdrawn],
        "progress": attendance.progress(session, course),
        "can_plan": can_plan,
        "forms": forms,
        "errors": errors,
        "refusal": refusal,
        "done": done if done in DONE_NOTICES else None,
        "done_count": count,
        "hours": _hours,
        "mask": mask_id_number,
        "kinds": list(SessionKind),
        "weekdays": range(1, 8),
        "EnrolmentStatus": EnrolmentStatus,
    }
    if can_plan:
        context |= {
            "rooms": [r for r in service.list_rooms(session) if r.is_active],
            "stations": [s for s in service.list_stations(session) if s.is_active],
            "instructors": service.active_staff(session, service.INSTRUCTOR_ROLES),
        }
    return render(
        request,
        "schedule/course.html",
        context,
        login=login,
        status_code=refusal.status_code if refusal else 200,
    )


def _course_status(course: Course, t: Translate) -> str:
    return t(f"course_status_{CourseStatus(course.status).value}")


@router.get("/courses/{course_id}", **STAFF_PAGES)
def course_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    course_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
    count: Annotated[int | None, Query(ge=0, le=10000)] = None,
) -> Response:
    """A course: facts, hours plan, sessions, roster and waitlist, progress."""
    return _course_page(request, session, login, course_id, done=done, count=count)


def _refused(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    course_id: int,
    form_name: str,
    form: Submitted,
    exc: SafetrainError,
    fields: dict[str, str],
) -> Response:
    """Show the course page again with the refusal: its message, its fields, every clash."""
    session.rollback()
    t = _translator(request)
    message = _message(request, exc)
    errors = _field_errors(exc, fields, message)
    clashes = _clash_rows(session, exc.details, _tz(request), t)
    for clash in clashes:
        name = fields.get(CLASH_FIELDS.get(clash.kind, ""))
        if name:
            errors.setdefault(name, t(f"clash_{clash.kind}"))
    refusal = Refusal(form_name, form, errors, message, clashes, exc.status)
    return _course_page(request, session, login, course_id, refusal)


def _invalid_form(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    course_id: int,
    form_name: str,
    read: FormReader,
) -> Response:
    refusal = Refusal(form_name, read.form, read.errors, _translator(request)("err_form"))
    return _course_page(request, session, login, course_id, refusal)


def _done(course_id: int, done: str, anchor: str, count: int | None = None) -> Response:
    query = f"done={done}" + (f"&count={count}" if count is not None else "")
    return RedirectResponse(f"/console/courses/{course_id}?{query}#{anchor}", status_code=303)


# Where a service's refusal of a session or pattern belongs on the form.
SESSION_FIELDS = {
    "starts_at": "day",
    "ends_at": "end_time",
    "room_id": "room_id",
    "station_ids": "station_ids",
    "instructor_id": "instructor_id",
}
PATTERN_FIELDS = {
    "starts_at": "from_date",
    "ends_at": "end_time",
    "room_id": "room_id",
    "station_ids": "station_ids",
    "instructor_id": "instructor_id",
    "weekdays": "weekdays",
}


def _resources(read: FormReader) -> dict[str, Any]:
    return {
        "title": read.text("title", required=False),
        "room_id": read.integer("room_id", required=False),
        "station_ids": read.integers("station_ids"),
        "instructor_id": read.integer("instructor_id", required=False),
    }


@router.post("/courses/{course_id}/sessions", **PLANNER_FORMS)
async def session_add(
    request: Request, session: SessionDep, login: ConsoleLoginDep, course_id: int
) -> Response:
    """Add one session from the course page; a clash shows every clash and stores nothing."""
    service.get_course(session, course_id)
    tz = _tz(request)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    kind = read.kind("kind")
    day, start, end = read.date("day"), read.time("start_time"), read.time("end_time")
    resources = _resources(read)
    if start and end and end <= start:
        read.fail("end_time", "err_order")
    data = None
    if day and start and end:
        data = read.model(
            SessionCreate,
            {
                "kind": kind,
                "starts_at": dt.datetime.combine(day, start, tz),
                "ends_at": dt.datetime.combine(day, end, tz),
                **resources,
            },
            whole="end_time",
        )
    if data is None:
        return _invalid_form(request, session, login, course_id, "session", read)
    try:
        service.add_session(session, login.actor, course_id, data, tz)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _refused(request, session, login, course_id, "session", form, exc, SESSION_FIELDS)
    return _done(course_id, "session_added", "sessions")


@router.post("/courses/{course_id}/patterns", **PLANNER_FORMS)
async def pattern_add(
    request: Request, session: SessionDep, login: ConsoleLoginDep, course_id: int
) -> Response:
    """Add repeating sessions from the course page: all of them, or none with every clash."""
    service.get_course(session, course_id)
    tz = _tz(request)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    kind = read.kind("kind")
    weekdays = read.integers("weekdays")
    if not weekdays:
        read.fail("weekdays", "err_weekdays")
    start, end = read.time("start_time"), read.time("end_time")
    first, last = read.date("from_date"), read.date("to_date")
    skip = read.dates("skip_dates")
    resources = _resources(read)
    if start and end and end <= start:
        read.fail("end_time", "err_order")
    if first and last and last < first:
        read.fail("to_date", "err_order")
    data = read.model(
        PatternCreate,
        {
            "kind": kind,
            "weekdays": weekdays,
            "start_time": start,
            "end_time": end,
            "from_date": first,
            "to_date": last,
            "skip_dates": skip,
            **resources,
        },
        whole="to_date",
    )
    if data is None:
        return _invalid_form(request, session, login, course_id, "pattern", read)
    try:
        rows = service.add_pattern(session, login.actor, course_id, data, tz)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _refused(request, session, login, course_id, "pattern", form, exc, PATTERN_FIELDS)
    return _done(course_id, "pattern_added", "sessions", len(rows))


@router.post("/courses/{course_id}/enrolments", **PLANNER_FORMS)
async def enrol(
    request: Request, session: SessionDep, login: ConsoleLoginDep, course_id: int
) -> Response:
    """Enrol a trainee found by ID number or badge; a full course puts them on the waitlist."""
    service.get_course(session, course_id)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    key = read.text("trainee", max_length=40)
    found = service.find_trainee(session, key) if key else []
    if key and not found:
        read.fail("trainee", "err_trainee_not_found")
    elif len(found) > 1:
        read.fail("trainee", "err_trainee_ambiguous")
    if read.errors:
        return _invalid_form(request, session, login, course_id, "enrol", read)
    trainee_id = found[0].id
    assert trainee_id is not None
    try:
        made = enrolment.enrol(session, login.actor, course_id, trainee_id, _tz(request))
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        fields = {"trainee_id": "trainee"}
        return _refused(request, session, login, course_id, "enrol", form, exc, fields)
    return _done(course_id, str(made.status), "roster")


@router.post("/courses/{course_id}/enrolments/{enrolment_id}/withdraw", **PLANNER_FORMS)
async def withdraw(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    course_id: int,
    enrolment_id: int,
) -> Response:
    """Withdraw a trainee; the first on the waitlist takes the freed seat."""
    service.get_course(session, course_id)
    found = enrolment.get(session, enrolment_id)
    if found.course_id != course_id:
        raise NotFound(
            f"报名 {enrolment_id} 不属于班级 {course_id}",
            f"enrolment {enrolment_id} is not in course {course_id}",
            code="enrolment_not_found",
        )
    form = await _submitted(request)
    reason = form.get("reason")[:500] or None
    try:
        promoted = enrolment.withdraw(session, login.actor, enrolment_id, reason)
    except SafetrainError as exc:
        return _refused(request, session, login, course_id, "withdraw", form, exc, {})
    return _done(course_id, "promoted" if promoted else "withdrawn", "roster")


# --- one session: attendance and the sign-in sheet ---------------------------------------


@dataclass(frozen=True)
class SessionFacts:
    row: ClassSession
    course: Course
    kind_label: str
    when: str
    date: str
    time: str
    room: str
    stations: str
    instructor: str


def _session_facts(session: Session, row: ClassSession, tz: ZoneInfo, lang: str) -> SessionFacts:
    assert row.id is not None
    course = service.get_course(session, row.course_id)
    room = service.get_room(session, row.room_id) if row.room_id else None
    booked = set(service.station_ids_of(session, [row.id])[row.id])
    stations = [s for s in service.list_stations(session) if s.id in booked]
    names = service.user_names(session, [row.instructor_id] if row.instructor_id else [])
    a = row.starts_at.astimezone(tz)
    return SessionFacts(
        row=row,
        course=course,
        kind_label=SessionKind(row.kind).label(lang),
        when=_span(row.starts_at, row.ends_at, tz),
        date=f"{a:%Y-%m-%d}",
        time=f"{a:%H:%M}–{_hhmm(row.ends_at, tz)}",
        room=f"{room.code} {room.name}" if room else "",
        stations="、".join(f"{s.code} {s.name}" for s in stations),
        instructor=names.get(row.instructor_id, "") if row.instructor_id else "",
    )


@dataclass(frozen=True)
class SheetLine:
    trainee_id: int
    name: str
    id_masked: str
    checked_in: str
    checked_out: str
    in_value: str
    out_value: str
    recorded: bool
    credited: int
    late: int
    early: int
    missing_check_out: bool
    corrected: bool
    source: str


def _input_value(value: dt.datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if value else ""


def _sheet_page(
    request: Request,
    session: Session,
    login: ConsoleLogin,
    session_id: int,
    *,
    form: tuple[int, Submitted, dict[str, str]] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    tz, lang = _tz(request), language(request)
    row, entries = attendance.sheet(session, session_id)
    lines = []
    for trainee, att in entries:
        assert trainee.id is not None
        shown = attendance.public(att, row) if att is not None else None
        lines.append(
            SheetLine(
                trainee_id=trainee.id,
                name=trainee.name,
                id_masked=mask_id_number(trainee.id_number),
                checked_in=_when(att.checked_in_at if att else None, tz),
                checked_out=_when(att.checked_out_at if att else None, tz),
                in_value=_input_value(att.checked_in_at if att else None, tz),
                out_value=_input_value(att.checked_out_at if att else None, tz),
                recorded=att is not None
                and (att.checked_in_at is not None or att.checked_out_at is not None),
                credited=shown.credited_minutes if shown else 0,
                late=shown.late_minutes if shown else 0,
                early=shown.early_leave_minutes if shown else 0,
                missing_check_out=shown.missing_check_out if shown else False,
                corrected=shown.corrected if shown else False,
                source=shown.source if shown else "",
            )
        )
    return render(
        request,
        "schedule/session.html",
        {
            "facts": _session_facts(session, row, tz, lang),
            "lines": lines,
            "can_mark": login.role in PLANNERS,
            "form": form,
            "done": done if done in DONE_NOTICES else None,
        },
        login=login,
        status_code=status_code,
    )


def _when(value: dt.datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


@router.get("/sessions/{session_id}", **STAFF_PAGES)
def session_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    session_id: int,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A session's attendance: check-in, check-out, credited, late and early-leave minutes."""
    return _sheet_page(request, session, login, session_id, done=done)


ATTENDANCE_FIELDS = {
    "checked_in_at": "checked_in_at",
    "checked_out_at": "checked_out_at",
    "reason": "reason",
}


@router.post("/sessions/{session_id}/attendance", **PLANNER_FORMS)
async def attendance_mark(
    request: Request, session: SessionDep, login: ConsoleLoginDep, session_id: int
) -> Response:
    """Record or correct a trainee's times on the sheet (a reason when changing a record)."""
    service.get_session(session, session_id)
    tz = _tz(request)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    trainee_id = read.integer("trainee_id")
    checked_in = read.moment("checked_in_at", tz)
    checked_out = read.moment("checked_out_at", tz)
    reason = read.text("reason", required=False, max_length=500) or None
    if trainee_id is None:
        raise InvalidInput("没有指定学员", "no trainee given", code="trainee_required")
    if read.errors:
        return _sheet_page(
            request,
            session,
            login,
            session_id,
            form=(trainee_id, form, read.errors),
            status_code=422,
        )
    try:
        attendance.mark(
            session, login.actor, session_id, trainee_id, checked_in, checked_out, reason
        )
    except SafetrainError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            raise
        errors = _field_errors(exc, ATTENDANCE_FIELDS, _message(request, exc))
        return _sheet_page(
            request,
            session,
            login,
            session_id,
            form=(trainee_id, form, errors),
            status_code=exc.status,
        )
    return RedirectResponse(
        f"/console/sessions/{session_id}?done=marked#t{trainee_id}", status_code=303
    )


@dataclass(frozen=True)
class SignInLine:
    number: int
    name: str
    employer: str
    id_masked: str


@router.get("/sessions/{session_id}/sign-in", **STAFF_PAGES)
def sign_in_sheet(
    request: Request, session: SessionDep, login: ConsoleLoginDep, session_id: int
) -> Response:
    """The printable sign-in sheet (签到表) with blank columns for handwriting."""
    tz, lang = _tz(request), language(request)
    row, entries = attendance.sheet(session, session_id)
    employers = service.employer_names(session, (tr.employer_id for tr, _ in entries))
    lines = [
        SignInLine(i, tr.name, employers.get(tr.employer_id, ""), mask_id_number(tr.id_number))
        for i, (tr, _) in enumerate(entries, start=1)
    ]
    return render(
        request,
        "schedule/sign_in.html",
        {
            "facts": _session_facts(session, row, tz, lang),
            "lines": lines,
            "printed_at": dt.datetime.now(tz).strftime("%Y-%m-%d %H:%M"),
        },
        login=login,
    )
