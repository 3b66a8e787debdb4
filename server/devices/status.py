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
from server.devices.models import GatewayReport
from server.errors import InvalidInput

STALE_AFTER = dt.timedelta(seconds=60)
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
