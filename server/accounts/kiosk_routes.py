"""API for kiosk screens (admin only): enrol a screen for a kiosk station, list and stop them.

The same as `safetrain kiosk enrol|revoke|list`; the setup code is returned once, at enrolment.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel

from server.accounts import kiosk
from server.accounts.models import KioskDevice, Role
from server.db import utcnow
from server.deps import PrincipalDep, SessionDep, allow
from server.scheduling.models import Station

router = APIRouter(prefix="/api/v1", tags=["kiosks"])


class KioskDevicePublic(BaseModel):
    id: int
    station: str
    station_name: str
    state: str  # waiting | expired | active | revoked
    created_at: dt.datetime
    setup_expires_at: dt.datetime | None
    activated_at: dt.datetime | None
    revoked_at: dt.datetime | None


class KioskEnrolled(KioskDevicePublic):
    """Returned once, at enrolment: the only time the setup code is shown."""

    setup_code: str


class KioskDevicesPublic(BaseModel):
    data: list[KioskDevicePublic]
    count: int


class KiosksRevoked(BaseModel):
    station: str
    revoked: int


def _public(device: KioskDevice, station: Station, now: dt.datetime) -> KioskDevicePublic:
    assert device.id is not None
    return KioskDevicePublic(
        id=device.id,
        station=station.code,
        station_name=station.name,
        state=kiosk.device_state(device, now),
        created_at=device.created_at,
        setup_expires_at=device.setup_expires_at if device.activated_at is None else None,
        activated_at=device.activated_at,
        revoked_at=device.revoked_at,
    )


@router.get("/kiosks", response_model=KioskDevicesPublic, **allow(Role.admin))
def list_kiosks(session: SessionDep) -> KioskDevicesPublic:
    """Every kiosk screen enrolled, newest first, with its state (never a secret)."""
    now = utcnow()
    rows = [_public(d, s, now) for d, s in kiosk.list_devices(session)]
    return KioskDevicesPublic(data=rows, count=len(rows))


@router.post(
    "/kiosks/{code}/enrol", response_model=KioskEnrolled, status_code=201, **allow(Role.admin)
)
def enrol_kiosk(session: SessionDep, principal: PrincipalDep, code: str) -> KioskEnrolled:
    """A one-time setup code (24 h) for a new screen of kiosk station `code`, typed in at
    /kiosk/setup on that screen. Earlier screens of the station keep working."""
    device, setup_code = kiosk.enrol_device(session, principal.actor, code)
    station = session.get(Station, device.station_id)
    assert station is not None
    public = _public(device, station, utcnow())
    return KioskEnrolled(**public.model_dump(), setup_code=setup_code)


@router.post("/kiosks/{code}/revoke", response_model=KiosksRevoked, **allow(Role.admin))
def revoke_kiosk(session: SessionDep, principal: PrincipalDep, code: str) -> KiosksRevoked:
    """Stop every screen of kiosk station `code` at once; trainees signed in there are signed out."""
    count = kiosk.revoke_devices(session, principal.actor, code)
    return KiosksRevoked(station=code.upper(), revoked=count)
