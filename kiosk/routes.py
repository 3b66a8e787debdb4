"""Kiosk pages under /kiosk: set-up, welcome, signing in, today's sessions, check-in and out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from kiosk.certificate_routes import router as certificate_router
from kiosk.exam_routes import router as exam_router
from kiosk.pages import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_MAX_AGE,
    SESSION_COOKIE,
    KioskDep,
    KioskTraineeDep,
    kiosk_allow,
    render,
    set_cookie,
)
from kiosk.progress_routes import router as progress_router
from kiosk.scan_routes import router as scan_router
from kiosk.station_routes import router as station_router
from server.accounts import kiosk as kiosks
from server.assessment import sittings
from server.deps import SessionDep, SettingsDep, client_address
from server.errors import SafetrainError
from server.scheduling import attendance

router = APIRouter(prefix="/kiosk", tags=["kiosk"])


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/setup", **kiosk_allow("public"))
def setup_form(request: Request) -> Response:
    """The form an admin types a kiosk's setup code into, once, on the kiosk's screen."""
    return render(request, "setup.html")


@router.post("/setup", **kiosk_allow("public"))
def setup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str, Form(max_length=40)],
) -> Response:
    """Set this screen up as the kiosk the code was made for."""
    try:
        secret = kiosks.activate_device(session, settings, code, client_address(request, settings))
    except SafetrainError as exc:
        return render(request, "setup.html", {"error": exc}, status_code=exc.status)
    response = _see_other("/kiosk")
    set_cookie(request, response, DEVICE_COOKIE, secret, max_age=DEVICE_COOKIE_MAX_AGE)
    return response


@router.get("", **kiosk_allow("kiosk"))
def welcome(request: Request, kiosk: KioskDep) -> Response:
    """The welcome screen: scan a badge or enter an ID number."""
    return render(
        request,
        "welcome.html",
        {
            "kiosk": kiosk,
            "timed_out": "timeout" in request.query_params,
            "signed_out": "signed_out" in request.query_params,
        },
    )


@router.get("/sign-in", **kiosk_allow("kiosk"))
def sign_in_form(request: Request, kiosk: KioskDep) -> Response:
    """ID number and PIN, with an on-screen keypad."""
    return render(request, "sign_in.html", {"kiosk": kiosk}, idle="page")


@router.post("/sign-in", **kiosk_allow("kiosk"))
def sign_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    kiosk: KioskDep,
    id_number: Annotated[str, Form(max_length=40)] = "",
    pin: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Sign a trainee in at this kiosk."""
    try:
        user = kiosks.sign_in(session, settings, kiosk, id_number, pin)
        started = kiosks.start_session(session, settings, kiosk, user)
    except SafetrainError as exc:
        page = render(
            request,
            "sign_in.html",
            {"kiosk": kiosk, "error": exc, "id_number": kiosks.normalize_id_number(id_number)},
            status_code=exc.status,
            idle="page",
        )
        page.headers.update(exc.headers())
        return page
    response = _see_other("/kiosk/home")
    set_cookie(request, response, SESSION_COOKIE, started.cookie)
    return response


@router.get("/home", **kiosk_allow("trainee"))
def home(
    request: Request, session: SessionDep, settings: SettingsDep, me: KioskTraineeDep
) -> Response:
    """Today's sessions, each with its check-in or check-out button."""
    assert me.trainee.id is not None
    now = me.row.last_seen_at
    today = now.astimezone(settings.tz).date()
    day = attendance.trainee_day(session, me.trainee.id, today, settings.tz)
    return render(
        request,
        "home.html",
        {
            "me": me,
            "kiosk": me.kiosk,
            "today": today,
            "day": day,
            "now": now,
            "exams": _exams_now(session, me.trainee.id, now),
        },
        idle="session",
    )


def _exams_now(session: Session, trainee_id: int, now: dt.datetime) -> list[tuple[int, str]]:
    """The papers a trainee can go on with (in progress, time left) or start now: a signed-in
    trainee whose exam was cut off by a reboot finds it on the first screen."""
    found = []
    for row, sitting in sittings.papers_of_trainee(session, trainee_id):
        status = sittings.paper_status(row, sitting, now)
        if status == "in_progress" and (sittings.remaining_seconds(row, now) or 0) > 0:
            found.append((row.id, "resume"))
        elif status == "not_started":
            found.append((row.id, "start"))
    return [(paper_id, what) for paper_id, what in found if paper_id is not None]


@router.post("/sessions/{session_id}/check-in", **kiosk_allow("trainee"))
def check_in(session: SessionDep, me: KioskTraineeDep, session_id: int) -> Response:
    """签到 at this kiosk, then the confirmation."""
    assert me.trainee.id is not None
    att = attendance.check_in(session, me.actor, session_id, me.trainee.id, None, "kiosk")
    return _see_other(f"/kiosk/attendance/{att.id}")


@router.post("/sessions/{session_id}/check-out", **kiosk_allow("trainee"))
def check_out(session: SessionDep, me: KioskTraineeDep, session_id: int) -> Response:
    """签退 at this kiosk, then the confirmation."""
    assert me.trainee.id is not None
    att = attendance.check_out(session, me.actor, session_id, me.trainee.id, None, "kiosk")
    return _see_other(f"/kiosk/attendance/{att.id}")


@router.get("/attendance/{attendance_id}", **kiosk_allow("trainee"))
def attendance_done(
    request: Request, session: SessionDep, me: KioskTraineeDep, attendance_id: int
) -> Response:
    """The big confirmation of a check-in or check-out (the trainee's own record only)."""
    assert me.trainee.id is not None
    item = attendance.trainee_attendance(session, me.trainee.id, attendance_id)
    return render(
        request, "attendance.html", {"me": me, "kiosk": me.kiosk, "item": item}, idle="session"
    )


@router.post("/still-here", status_code=204, **kiosk_allow("trainee"))
def still_here(me: KioskTraineeDep) -> Response:
    """The trainee touched "still here": their idle time starts again."""
    return Response(status_code=204)


@router.post("/sign-out", **kiosk_allow("kiosk"))
def sign_out(request: Request, session: SessionDep, kiosk: KioskDep) -> Response:
    """Sign out (the big button, or the page when the idle time is up)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        kiosks.end_session(session, cookie)
    response = _see_other("/kiosk")
    response.delete_cookie(SESSION_COOKIE, path="/kiosk")
    return response


# Each area of the kiosk has its own module of routes (all under /kiosk): import its router
# at the top and add it to AREAS — not router.include_router(): FastAPI nests an included
# router, and the roles tests read every app router's routes flat. server/app.py includes AREAS.
AREAS: tuple[APIRouter, ...] = (
    router,
    exam_router,
    scan_router,
    station_router,
    progress_router,
    certificate_router,
)
