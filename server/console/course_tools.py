"""Console actions around a course: attendance downloads, roster files, cancelling a session,
calendar subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from server.accounts.models import Role
from server.console.pages import ConsoleLoginDep, console_allow, error_page, language, render
from server.console.schedule import (
    PLANNER_FORMS,
    STAFF_PAGES,
    FormReader,
    Refusal,
    _course_page,
    _done,
    _refused,
    _submitted,
    _translator,
    _tz,
    _when,
)
from server.deps import SessionDep
from server.errors import InvalidInput, NotFound, SafetrainError
from server.scheduling import enrolment, exports, feeds, service
from server.scheduling.feeds import FeedKeyCreate
from server.scheduling.models import Enrolment, FeedSubject
from server.trainees import service as trainees
from server.trainees.routes import FULL_IDENTITY
from server.uploads import read_upload

router = APIRouter(prefix="/console")
STAFF_FORMS = console_allow(Role.admin, Role.trainer, Role.examiner, form=True)
EXPORT_TYPES = {"csv": exports.CSV_MEDIA_TYPE, "xlsx": exports.XLSX_MEDIA_TYPE}


@router.get("/courses/{course_id}/attendance.{kind}", **STAFF_PAGES)
def attendance_download(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    course_id: int,
    kind: str,
) -> Response:
    """A course's attendance and hours as CSV or XLSX, ID numbers masked unless the role needs them."""
    if kind not in EXPORT_TYPES:
        raise NotFound("没有这种文件格式", "no such file format", code="format_not_found")
    table = exports.attendance_table(
        session, course_id, _tz(request), full_identity=login.role in FULL_IDENTITY
    )
    body = exports.to_csv(table) if kind == "csv" else exports.to_xlsx(table)
    return Response(
        body,
        media_type=EXPORT_TYPES[kind],
        headers={"content-disposition": exports.content_disposition(table.course, kind)},
    )


# --- a roster file ------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterLine:
    """One good row of the file and what became of it."""

    row: int
    trainee_id: int
    name: str
    status: str  # enrolled, waitlisted or refused
    reason: str


@router.post("/courses/{course_id}/enrolments/roster", **PLANNER_FORMS)
async def roster_upload(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    course_id: int,
    file: Annotated[UploadFile, File()],
    valid_only: Annotated[bool, Form()] = False,
) -> Response:
    """Enrol a roster file: every bad row is listed; each good row gets its own outcome."""
    course = service.get_course(session, course_id)
    try:
        data = await read_upload(file)
    except InvalidInput as exc:
        return error_page(request, exc)
    report, outcomes = enrolment.enrol_roster(
        session,
        login.actor,
        course_id,
        data,
        file.filename or "roster",
        _tz(request),
        valid_only=valid_only,
    )
    names = trainees.names(session, [r.trainee_id for r in report.rows])
    en = language(request) == "en"
    lines = [
        RosterLine(row, tid, names.get(tid, ""), outcome.status, "")
        if isinstance(outcome, Enrolment)
        else RosterLine(row, tid, names.get(tid, ""), "refused", outcome.en if en else outcome.zh)
        for row, tid, outcome in outcomes
    ]
    refused_file = bool(report.errors) and not valid_only
    return render(
        request,
        "schedule/roster_result.html",
        {
            "course": course,
            "report": report,
            "lines": lines,
            "refused_file": refused_file,
            "counts": {
                status: sum(1 for line in lines if line.status == status)
                for status in ("enrolled", "waitlisted", "refused")
            },
        },
        login=login,
        status_code=422 if refused_file else 200,
    )


# --- cancelling a session -----------------------------------------------------------------


@router.post("/sessions/{session_id}/cancel", **PLANNER_FORMS)
async def session_cancel(
    request: Request, session: SessionDep, login: ConsoleLoginDep, session_id: int
) -> Response:
    """Cancel a planned session (a reason is required); one with attendance is kept."""
    row = service.get_session(session, session_id)
    course_id = row.course_id
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    reason = read.text("reason", max_length=500)
    if read.errors:
        refusal = Refusal(
            f"cancel-{session_id}", form, read.errors, _translator(request)("err_form")
        )
        return _course_page(request, session, login, course_id, refusal)
    try:
        service.delete_session(session, login.actor, session_id, reason)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _refused(request, session, login, course_id, f"cancel-{session_id}", form, exc, {})
    return _done(course_id, "session_cancelled", "sessions")


# --- calendar subscriptions ---------------------------------------------------------------


@router.post("/calendar-feeds", **STAFF_FORMS)
async def feed_create(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    subject_type: Annotated[Literal["trainer", "course"], Form()],
    subject_id: Annotated[int, Form()],
) -> Response:
    """Make a secret calendar address (.ics) for oneself or a course; it is shown only once."""
    try:
        data = FeedKeyCreate(subject_type=FeedSubject(subject_type), subject_id=subject_id)
    except ValidationError as exc:
        raise InvalidInput("订阅对象无效", "not a valid feed subject", code="bad_subject") from exc
    key, secret = feeds.create_key(session, login.actor, data, own_trainee_id=login.user.trainee_id)
    course = (
        service.get_course(session, subject_id) if data.subject_type is FeedSubject.course else None
    )
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "schedule/feed_created.html",
        {
            "url": f"{base}/feeds/{secret}.ics",
            "key": key,
            "course": course,
            "back": f"/console/courses/{subject_id}" if course else "/console/calendar",
        },
        login=login,
        status_code=201,
    )


@dataclass(frozen=True)
class FeedLine:
    id: int
    subject: str
    created_at: str
    revoked_at: str


@router.get("/calendar-feeds", **STAFF_PAGES)
def feed_list(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    """The calendar addresses one has made (an admin: all of them), to revoke a leaked one."""
    keys = feeds.list_keys(session, login.actor)
    tz = _tz(request)
    lines = [
        FeedLine(
            id=k.id,
            subject=feeds.calendar_name(session, k),
            created_at=_when(k.created_at, tz),
            revoked_at=_when(k.revoked_at, tz),
        )
        for k in keys
        if k.id is not None
    ]
    done = request.query_params.get("done") == "revoked"
    return render(request, "schedule/feeds.html", {"lines": lines, "done": done}, login=login)


@router.post("/calendar-feeds/{key_id}/revoke", **STAFF_FORMS)
async def feed_revoke(
    request: Request, session: SessionDep, login: ConsoleLoginDep, key_id: int
) -> Response:
    """Revoke a calendar address at once: phones subscribed to it get nothing more."""
    form = await _submitted(request)
    feeds.revoke_key(session, login.actor, key_id, form.get("reason")[:500] or None)
    return RedirectResponse("/console/calendar-feeds?done=revoked", status_code=303)
