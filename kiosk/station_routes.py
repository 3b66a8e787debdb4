"""The kiosk's station page: "I am at VR-03 now" (bind) and "I have left" (unbind)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from kiosk.pages import KioskTraineeDep, kiosk_allow, render
from server.deps import SessionDep
from server.devices import bindings
from server.errors import NotFound

router = APIRouter(prefix="/kiosk")


def _page(request: Request, session: SessionDep, me: KioskTraineeDep, **extra: object) -> Response:
    assert me.trainee.id is not None
    stations = bindings.bindable_stations(session)
    groups: dict[str, list[object]] = {}
    for station in stations:
        groups.setdefault(str(station.room_id or "-"), []).append(station)
    context = {"me": me, "groups": groups, "current": bindings.binding_of(session, me.trainee.id)}
    return render(request, "station.html", context | extra, idle="session")


@router.get("/station", **kiosk_allow("trainee"))
def station_page(request: Request, session: SessionDep, me: KioskTraineeDep) -> Response:
    """Where am I: the current station, the stations to choose from, "I have left"."""
    return _page(request, session, me, done="done" in request.query_params)


@router.post("/station/bind", **kiosk_allow("trainee"))
def bind(
    session: SessionDep, me: KioskTraineeDep, code: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    """I am at this station now; its device results are mine."""
    assert me.trainee.id is not None
    if code.strip().upper() not in {s.code for s in bindings.bindable_stations(session)}:
        raise NotFound(f"工位 {code} 不存在", f"no station {code}", code="station_not_found")
    bindings.bind(session, me.actor, code, me.trainee.id, source="kiosk")
    return RedirectResponse("/kiosk/station?done=1", status_code=303)


@router.post("/station/leave", **kiosk_allow("trainee"))
def leave(session: SessionDep, me: KioskTraineeDep) -> Response:
    """I have left my station."""
    assert me.trainee.id is not None
    station = bindings.binding_of(session, me.trainee.id)
    if station is not None:
        bindings.unbind(session, me.actor, station.code, trainee_id=me.trainee.id)
    return RedirectResponse("/kiosk/station", status_code=303)
