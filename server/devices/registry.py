"""The device registry: which pod computer or rig controller sits at which station."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from curricula.model import StationKind
from server.audit import service as audit
from server.audit.service import Actor
from server.devices.bindings import station_by_code
from server.devices.models import Device
from server.errors import Conflict, InvalidInput, field_error


class DeviceCreate(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")  # the frames' `dev`
    kind: StationKind
    station: str = Field(min_length=1, max_length=16)  # the station's code, e.g. VR-03


def create_device(session: Session, actor: Actor, data: DeviceCreate) -> Device:
    station = station_by_code(session, data.station)
    if data.kind is StationKind.kiosk or station.kind != data.kind:
        raise InvalidInput(
            f"设备类型 {data.kind.label('zh')} 与工位 {station.code}（{StationKind(station.kind).label('zh')}）不符",
            f"a {data.kind.label('en')} cannot sit at station {station.code} "
            f"({StationKind(station.kind).label('en')})",
            code="kind_mismatch",
            details=[field_error("kind", "kind_mismatch", "类型不符", "kind does not match")],
        )
    device = Device(code=data.code, kind=data.kind, station_id=station.id or 0)
    session.add(device)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"设备 {data.code} 已登记", f"device {data.code} is registered", code="device_exists"
        ) from None
    audit.record(
        session,
        actor,
        "device.create",
        "device",
        device.id,
        after={"code": data.code, "kind": data.kind.value, "station": station.code},
    )
    session.commit()
    session.refresh(device)
    return device


def list_devices(session: Session) -> list[Device]:
    return list(session.exec(select(Device).order_by(col(Device.code))).all())
