"""The kiosk's station page: "I am at VR-03 now" (bind, by touch or by scanning the station's
label) and "I have left" (unbind), each confirmed on a full screen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from kiosk.pages import KioskTraineeDep, kiosk_allow, render
from kiosk.scan_routes import frame_bytes, refusal
from server.accounts import badges
from server.deps import SessionDep
from server.devices import bindings, labels
from server.errors import SafetrainError
from server.scheduling import service as scheduling
from server.scheduling.models import Station

router = APIRouter(prefix="/kiosk")


@router.get("/station", **kiosk_allow("trainee"))
def station_page(request: Request, session: SessionDep, me: KioskTraineeDep) -> Response:
    """Where am I: the current station, scan a station's label or choose one, "I have left"."""
    assert me.trainee.id is not None
    rooms: dict[int | None, str] = {r.id: r.name for r in scheduling.list_rooms(session)}
    groups: dict[int | None, list[Station]] = {}
    for station in bindings.bindable_stations(session):
        groups.setdefault(station.room_id, []).append(station)
    if None in groups:  # stations in no room come last, whatever the database sorts NULL as
        groups[None] = groups.pop(None)
    context = {
        "me": me,
        "kiosk": me.kiosk,
        "groups": [(rooms.get(room_id), group) for room_id, group in groups.items()],
        "current": bindings.binding_of(session, me.trainee.id),
    }
    return render(request, "station.html", context, idle="session")


def _bind(session: SessionDep, me: KioskTraineeDep, code: str) -> int:
    assert me.trainee.id is not None
    station = bindings.bindable_station(session, code)
    binding = bindings.bind(session, me.actor, station.code, me.trainee.id, source="kiosk")
    assert binding.id is not None
    return binding.id


@router.post("/station/bind", **kiosk_allow("trainee"))
def bind(
    session: SessionDep, me: KioskTraineeDep, code: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    """I am at this station now; its device results are mine."""
    binding_id = _bind(session, me, code)
    return RedirectResponse(f"/kiosk/station/binding/{binding_id}", status_code=303)


@router.post("/station/scan", **kiosk_allow("trainee"))
def scan(
    request: Request,
    session: SessionDep,
    me: KioskTraineeDep,
    data: Annotated[bytes | None, Depends(frame_bytes)],
) -> Response:
    """One camera frame (JPEG) showing a station's label (STS1:<code>): I am at that station."""
    try:
        texts = badges.read_frame(data)  # the badge scan's limits: too large, not an image
        code = next((c for c in map(labels.station_code, texts) if c), None)
        if code is None:
            return JSONResponse({"status": "none" if not texts else "not_a_station"})
        binding_id = _bind(session, me, code)
    except SafetrainError as exc:
        return refusal(request, exc)
    return JSONResponse({"status": "bound", "next": f"/kiosk/station/binding/{binding_id}"})


@router.post("/station/leave", **kiosk_allow("trainee"))
def leave(session: SessionDep, me: KioskTraineeDep) -> Response:
    """I have left my station."""
    assert me.trainee.id is not None
    station = bindings.binding_of(session, me.trainee.id)
    ended = None
    if station is not None:
        ended = bindings.unbind(session, me.actor, station.code, trainee_id=me.trainee.id)
    if ended is None:
        return RedirectResponse("/kiosk/station", status_code=303)
    return RedirectResponse(f"/kiosk/station/binding/{ended.id}", status_code=303)


@router.get("/station/binding/{binding_id}", **kiosk_allow("trainee"))
def binding_done(
    request: Request, session: SessionDep, me: KioskTraineeDep, binding_id: int
) -> Response:
    """The big confirmation: you are at VR-03 now, or you have left it (your own binding only)."""
    assert me.trainee.id is not None
    binding, station = bindings.trainee_binding(session, me.trainee.id, binding_id)
    context = {
        "me": me,
        "kiosk": me.kiosk,
        "binding": binding,
        "station": station,
        "room": scheduling.get_room(session, station.room_id).name if station.room_id else None,
    }
    return render(request, "station_done.html", context, idle="session")
