"""What the gateways say about their halls: devices online or not, counters, spool depth.

Heartbeats stay at the gateway (forwarding one every five seconds per device would be most of
the traffic); each gateway instead reports its status document every few seconds, and the
console's device page reads the latest report of each gateway. A report older than
`STALE_AFTER` means the gateway itself is not heard from, and its devices are shown as unknown.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server.accounts.models import User
from server.audit.service import Actor
from server.db import utcnow
from server.devices import bindings
from server.devices.models import Device, DeviceFrame, GatewayReport
from server.errors import InvalidInput
from server.scheduling.models import Station

STALE_AFTER = dt.timedelta(seconds=60)
STATES = ("online", "offline", "unknown", "no_device")
MAX_DEVICES = 1000


def _check(document: dict[str, Any]) -> None:
    devices = document.get("devices")
    if not isinstance(devices, list) or len(devices) > MAX_DEVICES:
        raise InvalidInput(
            "状态报告应含设备列表", "a status report needs a list of devices", code="bad_status"
        )
    for d in devices:
        if not isinstance(d, dict) or not isinstance(d.get("station"), str):
            raise InvalidInput(
                "每台设备都要有工位编号",
                "every device in the report needs its station",
                code="bad_status",
            )


def report(
    session: Session, gateway: Actor, document: dict[str, Any], *, now: dt.datetime | None = None
) -> GatewayReport:
    """Keep a gateway's latest status (one row per gateway, replaced each time)."""
    now = now or utcnow()
    _check(document)
    assert gateway.user_id is not None
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    row = session.exec(
        select(GatewayReport)
        .where(GatewayReport.gateway_user_id == gateway.user_id)
        .with_for_update()
    ).first()
    if row is None:
        row = GatewayReport(gateway_user_id=gateway.user_id, reported_at=now, status=body)
    else:
        row.reported_at, row.status = now, body
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the first two reports of a gateway raced: keep the later one
        session.rollback()
        row = session.exec(
            select(GatewayReport).where(GatewayReport.gateway_user_id == gateway.user_id)
        ).one()
        row.reported_at, row.status = now, body
        session.add(row)
        session.commit()
    return row


@dataclass(frozen=True)
class HallStatus:
    gateway: str
    reported_at: dt.datetime
    stale: bool
    document: dict[str, Any]


def halls(session: Session, *, now: dt.datetime | None = None) -> list[HallStatus]:
    now = now or utcnow()
    rows = session.exec(
        select(GatewayReport, User.display_name)
        .join(User, col(User.id) == GatewayReport.gateway_user_id)
        .order_by(col(User.display_name))
    ).all()
    return [
        HallStatus(name, r.reported_at, now - r.reported_at > STALE_AFTER, json.loads(r.status))
        for r, name in rows
    ]


@dataclass(frozen=True)
class StationLine:
    """One station of the device page: its device, what its hall's gateway says, last results."""

    station: str
    station_name: str
    kind: str
    device: str | None
    gateway: str | None
    state: str  # online, offline, unknown (no report, or the gateway went quiet), no_device
    last_seen: str | None
    frames_ok: int | None
    frames_bad: int | None
    bound: str | None  # who is at the station now
    last_results: list[DeviceFrame]


def station_lines(
    session: Session, *, per_station: int = 3, now: dt.datetime | None = None
) -> list[StationLine]:
    """Every station in service with its device's state and its last results (few queries)."""
    now = now or utcnow()
    stations = session.exec(
        select(Station).where(col(Station.is_active)).order_by(col(Station.code))
    ).all()
    devices = {d.station_id: d for d in session.exec(select(Device)).all()}
    reported: dict[str, tuple[str, bool, dict[str, Any]]] = {}
    for hall in halls(session, now=now):
        for entry in hall.document.get("devices", []):
            if isinstance(entry, dict) and isinstance(entry.get("station"), str):
                reported[entry["station"]] = (hall.gateway, hall.stale, entry)
    bound = {b.station: b.name for b in bindings.current(session)}
    recent: dict[int, list[DeviceFrame]] = {}
    station_ids = [s.id for s in stations if s.id is not None]
    if station_ids:
        window = now - dt.timedelta(days=7)
        for row in session.exec(
            select(DeviceFrame)
            .where(
                col(DeviceFrame.station_id).in_(station_ids),
                DeviceFrame.frame_type == "result",
                col(DeviceFrame.received_at) >= window,
            )
            .order_by(col(DeviceFrame.received_at).desc())
            .limit(per_station * len(station_ids) * 4)
        ).all():
            shown = recent.setdefault(row.station_id, [])
            if len(shown) < per_station:
                shown.append(row)
    lines = []
    for s in stations:
        device = devices.get(s.id or 0)
        gateway, stale, entry = reported.get(s.code, (None, True, {}))
        if device is None:
            state = "no_device"
        elif gateway is None or stale:
            state = "unknown"
        else:
            state = "online" if entry.get("online") else "offline"
        lines.append(
            StationLine(
                station=s.code,
                station_name=s.name,
                kind=str(s.kind),
                device=device.code if device else None,
                gateway=gateway,
                state=state,
                last_seen=entry.get("last_seen")
                if isinstance(entry.get("last_seen"), str)
                else None,
                frames_ok=entry.get("frames_ok")
                if isinstance(entry.get("frames_ok"), int)
                else None,
                frames_bad=entry.get("frames_bad")
                if isinstance(entry.get("frames_bad"), int)
                else None,
                bound=bound.get(s.code),
                last_results=recent.get(s.id or 0, []),
            )
        )
    return lines
