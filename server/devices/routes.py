"""Devices API: the registry, batches from the gateways, station bindings, unassigned results."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from server.accounts.models import Role
from server.deps import PrincipalDep, SessionDep, allow
from server.devices import bindings, ingest, registry, status
from server.devices.models import Device, DeviceFrame, StationBinding
from server.devices.registry import DeviceCreate
from server.errors import InvalidInput, NotPermitted, field_error
from server.scheduling.models import Station

router = APIRouter(prefix="/api/v1", tags=["devices"])
PLANNERS = (Role.admin, Role.trainer)


class DevicePublic(BaseModel):
    id: int
    code: str
    kind: str
    station: str
    is_active: bool
    last_boot: str | None
    last_seen_at: dt.datetime | None


class Batch(BaseModel):
    # Items are checked one by one (one bad item never fails the batch), so any JSON is taken.
    items: list[Any] = Field(max_length=ingest.MAX_ITEMS)


class ItemResult(BaseModel):
    key: str
    status: str
    reason: str | None


class BatchResult(BaseModel):
    results: list[ItemResult]


class BindingPublic(BaseModel):
    station: str
    trainee_id: int
    badge: str
    name: str
    bound_at: dt.datetime


class Bindings(BaseModel):
    data: list[BindingPublic]


class BindRequest(BaseModel):
    trainee_id: int | None = None  # a trainee binds themself; staff name the trainee


class BoundPublic(BaseModel):
    id: int
    station: str
    trainee_id: int
    bound_at: dt.datetime
    ended_at: dt.datetime | None


class AssignRequest(BaseModel):
    trainee_id: int
    reason: str = Field(min_length=1, max_length=500)


class DeviceResultPublic(BaseModel):
    id: int
    key: str
    station_id: int
    scenario: str | None
    occurred_at: dt.datetime | None
    received_at: dt.datetime
    trainee_id: int | None
    attribution: str | None
    frame: dict[str, Any]


def _device_public(session: SessionDep, device: Device) -> DevicePublic:
    station = session.get(Station, device.station_id)
    assert device.id is not None
    return DevicePublic(
        id=device.id,
        code=device.code,
        kind=str(device.kind),
        station=station.code if station else "",
        is_active=device.is_active,
        last_boot=device.last_boot,
        last_seen_at=device.last_seen_at,
    )


def _result_public(row: DeviceFrame) -> DeviceResultPublic:
    assert row.id is not None
    return DeviceResultPublic(
        id=row.id,
        key=row.key,
        station_id=row.station_id,
        scenario=row.scenario,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        trainee_id=row.trainee_id,
        attribution=row.attribution,
        frame=json.loads(row.frame),
    )


@router.get("/devices", response_model=list[DevicePublic], **allow(*PLANNERS, Role.gateway))
def list_devices(session: SessionDep) -> list[DevicePublic]:
    """Every registered device with its station and when a gateway last heard from it."""
    return [_device_public(session, d) for d in registry.list_devices(session)]


@router.post("/devices", response_model=DevicePublic, status_code=201, **allow(Role.admin))
def create_device(session: SessionDep, principal: PrincipalDep, data: DeviceCreate) -> DevicePublic:
    """Register a device at a station (its kind must match the station's)."""
    return _device_public(session, registry.create_device(session, principal.actor, data))


@router.post("/device-results", response_model=BatchResult, **allow(Role.gateway))
def post_device_results(session: SessionDep, principal: PrincipalDep, batch: Batch) -> Response:
    """A gateway's batch (≤ 500): each item accepted, duplicate or rejected, in order."""
    outcomes = ingest.ingest(session, principal.actor, batch.items)
    # Written directly (the shape is BatchResult's): 500 answers a batch, many batches a second.
    body = {"results": [{"key": o.key, "status": o.status, "reason": o.reason} for o in outcomes]}
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


@router.get(
    "/device-results/unassigned",
    response_model=list[DeviceResultPublic],
    **allow(*PLANNERS),
)
def unassigned_results(session: SessionDep) -> list[DeviceResultPublic]:
    """Results nobody could be found for: a trainer attributes them by hand."""
    return [_result_public(r) for r in ingest.unassigned(session)]


@router.post(
    "/device-results/{frame_id}/assign", response_model=DeviceResultPublic, **allow(*PLANNERS)
)
def assign_result(
    session: SessionDep, principal: PrincipalDep, frame_id: int, data: AssignRequest
) -> DeviceResultPublic:
    """Attribute an unassigned result to a trainee, with the reason (audited)."""
    row = bindings.resolve(session, principal.actor, frame_id, data.trainee_id, data.reason)
    return _result_public(row)


@router.get("/stations/bindings", response_model=Bindings, **allow(*PLANNERS, Role.gateway))
def current_bindings(session: SessionDep) -> Bindings:
    """Who is at which station now (the gateways send these to the devices as `bind`)."""
    return Bindings(
        data=[
            BindingPublic(
                station=b.station,
                trainee_id=b.trainee_id,
                badge=b.badge,
                name=b.name,
                bound_at=b.bound_at,
            )
            for b in bindings.current(session)
        ]
    )


def _who(principal: PrincipalDep, data: BindRequest | None) -> int:
    if principal.role is Role.trainee:
        own = principal.user.trainee_id
        if own is None or (data is not None and data.trainee_id not in (None, own)):
            raise NotPermitted("只能绑定本人", "you may bind only yourself", code="not_own_record")
        return own
    if data is None or data.trainee_id is None:
        raise InvalidInput(
            "请指定学员",
            "name the trainee",
            details=[field_error("trainee_id", "required", "必填", "required")],
        )
    return data.trainee_id


def _bound_public(session: SessionDep, row: StationBinding) -> BoundPublic:
    station = session.get(Station, row.station_id)
    assert row.id is not None
    return BoundPublic(
        id=row.id,
        station=station.code if station else "",
        trainee_id=row.trainee_id,
        bound_at=row.bound_at,
        ended_at=row.ended_at,
    )


@router.put(
    "/stations/{code}/binding",
    response_model=BoundPublic,
    **allow(*PLANNERS, Role.trainee),
)
def bind_station(
    session: SessionDep, principal: PrincipalDep, code: str, data: BindRequest
) -> BoundPublic:
    """Put a trainee at a station now (a trainee: themself, from the kiosk)."""
    trainee_id = _who(principal, data)
    source = "kiosk" if principal.role is Role.trainee else "console"
    row = bindings.bind(session, principal.actor, code, trainee_id, source=source)
    return _bound_public(session, row)


@router.delete("/stations/{code}/binding", status_code=204, **allow(*PLANNERS, Role.trainee))
def unbind_station(session: SessionDep, principal: PrincipalDep, code: str) -> Response:
    """End the station's binding (a trainee ends only their own)."""
    own = principal.user.trainee_id if principal.role is Role.trainee else None
    if principal.role is Role.trainee and own is None:
        raise NotPermitted(
            "只能解除本人绑定", "you may unbind only yourself", code="not_own_record"
        )
    bindings.unbind(session, principal.actor, code, trainee_id=own)
    return Response(status_code=204)


class GatewayStatus(BaseModel):
    """A gateway's status document: at least `devices`, each with its `station`."""

    model_config = {"extra": "allow"}

    devices: list[dict[str, Any]] = Field(max_length=status.MAX_DEVICES)


class HallPublic(BaseModel):
    gateway: str
    reported_at: dt.datetime
    stale: bool
    status: dict[str, Any]


@router.put("/gateways/status", status_code=204, **allow(Role.gateway))
def put_gateway_status(
    session: SessionDep, principal: PrincipalDep, data: GatewayStatus
) -> Response:
    """A gateway reports its devices (online, last seen, counters) and its spool depth."""
    status.report(session, principal.actor, data.model_dump())
    return Response(status_code=204)


@router.get("/gateways/status", response_model=list[HallPublic], **allow(*PLANNERS, Role.examiner))
def get_gateway_status(session: SessionDep) -> list[HallPublic]:
    """The latest report of every gateway; `stale` when a gateway has gone quiet."""
    return [
        HallPublic(gateway=h.gateway, reported_at=h.reported_at, stale=h.stale, status=h.document)
        for h in status.halls(session)
    ]
