"""Who is at which station: bindings set from the kiosk or the console, and result attribution.

A station has at most one open binding and a trainee at most one: binding someone ends the
station's previous binding and the trainee's binding elsewhere, at the same moment. A result is
attributed to the trainee whose badge it names, else to the trainee bound to its station at the
result's time (`ts`), else it stays unassigned until a trainer resolves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, or_, select

from curricula.model import StationKind
from server.assessment import device_attempts
from server.audit import service as audit
from server.audit.service import Actor
from server.db import utcnow
from server.devices.models import Attribution, DeviceFrame, StationBinding
from server.errors import Conflict, InvalidInput, NotFound, field_error
from server.scheduling import service as scheduling
from server.scheduling.models import Station
from server.trainees.models import Trainee


def station_by_code(session: Session, code: str) -> Station:
    station = session.exec(select(Station).where(Station.code == code.strip().upper())).first()
    if station is None:
        raise NotFound(f"工位 {code} 不存在", f"no station {code}", code="station_not_found")
    return station


def _open_bindings(session: Session, station_id: int, trainee_id: int) -> list[StationBinding]:
    return list(
        session.exec(
            select(StationBinding)
            .where(
                col(StationBinding.ended_at).is_(None),
                or_(
                    StationBinding.station_id == station_id, StationBinding.trainee_id == trainee_id
                ),
            )
            .with_for_update()
        ).all()
    )


def bind(
    session: Session,
    actor: Actor,
    station_code: str,
    trainee_id: int,
    *,
    source: str,
    now: dt.datetime | None = None,
) -> StationBinding:
    """Put a trainee at a station now; whoever was there, and wherever they were, ends now."""
    now = now or utcnow()
    station = scheduling.in_service(station_by_code(session, station_code))
    trainee = session.get(Trainee, trainee_id)
    if trainee is None:
        raise InvalidInput(
            f"学员 {trainee_id} 不存在",
            f"trainee {trainee_id} does not exist",
            code="trainee_not_found",
            details=[
                field_error("trainee_id", "trainee_not_found", "学员不存在", "no such trainee")
            ],
        )
    assert station.id is not None
    for open_one in _open_bindings(session, station.id, trainee_id):
        if open_one.station_id == station.id and open_one.trainee_id == trainee_id:
            session.rollback()
            return open_one  # already here: binding again changes nothing
        open_one.ended_at = now
        session.add(open_one)
    binding = StationBinding(
        station_id=station.id,
        trainee_id=trainee_id,
        bound_at=now,
        source=source,
        bound_by=actor.user_id,
    )
    session.add(binding)
    session.flush()
    audit.record(
        session,
        actor,
        "station.bind",
        "station_binding",
        binding.id,
        after={"station": station.code, "trainee_id": trainee_id, "source": source},
    )
    session.commit()
    session.refresh(binding)
    return binding


def unbind(
    session: Session,
    actor: Actor,
    station_code: str,
    *,
    trainee_id: int | None = None,
    now: dt.datetime | None = None,
) -> StationBinding | None:
    """End the station's open binding (only the given trainee's, when one is named)."""
    now = now or utcnow()
    station = station_by_code(session, station_code)
    query = select(StationBinding).where(
        StationBinding.station_id == station.id, col(StationBinding.ended_at).is_(None)
    )
    if trainee_id is not None:
        query = query.where(StationBinding.trainee_id == trainee_id)
    found = session.exec(query.with_for_update()).first()
    if found is None:
        session.rollback()
        return None
    found.ended_at = now
    session.add(found)
    audit.record(
        session,
        actor,
        "station.unbind",
        "station_binding",
        found.id,
        after={"station": station.code, "trainee_id": found.trainee_id},
    )
    session.commit()
    return found


@dataclass(frozen=True)
class CurrentBinding:
    station: str
    trainee_id: int
    badge: str
    name: str
    bound_at: dt.datetime


def current(session: Session) -> list[CurrentBinding]:
    rows = session.exec(
        select(StationBinding, Station.code, Trainee)
        .join(Station, col(Station.id) == StationBinding.station_id)
        .join(Trainee, col(Trainee.id) == StationBinding.trainee_id)
        .where(col(StationBinding.ended_at).is_(None))
        .order_by(col(Station.code))
    ).all()
    return [
        CurrentBinding(code, b.trainee_id, t.badge, t.name, b.bound_at)
        for b, code, t in rows
        if t.id is not None
    ]


def bound_at(session: Session, station_id: int, moment: dt.datetime) -> int | None:
    """The trainee bound to the station at that moment, if any."""
    return session.exec(
        select(StationBinding.trainee_id)
        .where(
            StationBinding.station_id == station_id,
            col(StationBinding.bound_at) <= moment,
            or_(col(StationBinding.ended_at).is_(None), col(StationBinding.ended_at) > moment),
        )
        .order_by(col(StationBinding.bound_at).desc())
    ).first()


def attribute(
    session: Session, rows: list[dict[str, Any]], frames: Mapping[str, Mapping[str, Any]]
) -> None:
    """Set `trainee_id` and `attribution` on result rows about to be stored (see the module
    docstring): two queries for the whole batch, whatever its size. `frames` are the decoded
    frames by key."""
    results = [r for r in rows if r["frame_type"] == "result"]
    if not results:
        return
    badge_of = {id(r): frames[r["key"]].get("badge") for r in results}
    badges = {b for b in badge_of.values() if isinstance(b, str) and b}
    by_badge: dict[str, int] = {}
    if badges:
        by_badge = {
            t.badge: t.id
            for t in session.exec(select(Trainee).where(col(Trainee.badge).in_(badges))).all()
            if t.id is not None
        }
    unbadged = [r for r in results if not (isinstance(badge_of[id(r)], str) and badge_of[id(r)])]
    spans: dict[int, list[StationBinding]] = {}
    if unbadged:
        moments = [r["occurred_at"] or r["received_at"] for r in unbadged]
        for b in session.exec(
            select(StationBinding)
            .where(
                col(StationBinding.station_id).in_({r["station_id"] for r in unbadged}),
                col(StationBinding.bound_at) <= max(moments),
                or_(
                    col(StationBinding.ended_at).is_(None),
                    col(StationBinding.ended_at) > min(moments),
                ),
            )
            .order_by(col(StationBinding.bound_at).desc())
        ).all():
            spans.setdefault(b.station_id, []).append(b)
    for r in results:
        badge = badge_of[id(r)]
        if isinstance(badge, str) and badge:
            trainee_id = by_badge.get(badge)
            r["attribution"] = Attribution.badge if trainee_id else Attribution.unassigned
        else:
            moment = r["occurred_at"] or r["received_at"]
            trainee_id = next(
                (
                    b.trainee_id
                    for b in spans.get(r["station_id"], [])
                    if b.bound_at <= moment and (b.ended_at is None or b.ended_at > moment)
                ),
                None,
            )
            r["attribution"] = Attribution.binding if trainee_id else Attribution.unassigned
        r["trainee_id"] = trainee_id


def resolve(
    session: Session, actor: Actor, frame_id: int, trainee_id: int, reason: str
) -> DeviceFrame:
    """A trainer attributes an unassigned result by hand (audited with the reason)."""
    row = session.exec(
        select(DeviceFrame).where(DeviceFrame.id == frame_id).with_for_update()
    ).first()
    if row is None or row.frame_type != "result":
        raise NotFound(
            f"设备结果 {frame_id} 不存在", f"no device result {frame_id}", code="result_not_found"
        )
    if row.attribution != Attribution.unassigned:
        raise Conflict(
            "该结果已归属学员，不能再分配",
            "this result already belongs to a trainee",
            code="already_attributed",
        )
    if session.get(Trainee, trainee_id) is None:
        raise InvalidInput(
            f"学员 {trainee_id} 不存在",
            f"trainee {trainee_id} does not exist",
            code="trainee_not_found",
            details=[
                field_error("trainee_id", "trainee_not_found", "学员不存在", "no such trainee")
            ],
        )
    row.trainee_id = trainee_id
    row.attribution = Attribution.resolved
    session.add(row)
    device_attempts.record(session, row)
    audit.record(
        session,
        actor,
        "device_result.assign",
        "device_frame",
        row.id,
        before={"trainee_id": None},
        after={"trainee_id": trainee_id},
        reason=reason,
    )
    session.commit()
    session.refresh(row)
    return row


NOT_BINDABLE = (StationKind.kiosk, StationKind.exam_seat)  # no device result comes from these


def bindable_stations(session: Session) -> list[Station]:
    """The active stations a trainee can be at with a device (VR pods, rigs; not kiosks or exam
    seats), by room and code."""
    return list(
        session.exec(
            select(Station)
            .where(col(Station.is_active), col(Station.kind).not_in(NOT_BINDABLE))
            .order_by(col(Station.room_id), col(Station.code))
        ).all()
    )


def bindable_station(session: Session, code: str) -> Station:
    """The station of that code if a trainee can be at it; else why not, naming the code."""
    station = station_by_code(session, code)
    if station.kind in NOT_BINDABLE:
        kind = StationKind(station.kind)
        raise NotFound(
            f"{station.code} 是{kind.label('zh')}，不是可以绑定的工位",
            f"{station.code} is not a station to bind to ({kind.label('en')})",
            code="station_not_bindable",
        )
    return scheduling.in_service(station)


def trainee_binding(
    session: Session, trainee_id: int, binding_id: int
) -> tuple[StationBinding, Station]:
    """One of the trainee's own bindings and its station; another trainee's is not found."""
    row = session.exec(
        select(StationBinding, Station)
        .join(Station, col(Station.id) == StationBinding.station_id)
        .where(StationBinding.id == binding_id, StationBinding.trainee_id == trainee_id)
    ).first()
    if row is None:
        raise NotFound(
            f"绑定记录 {binding_id} 不存在",
            f"no station binding {binding_id}",
            code="binding_not_found",
        )
    return row[0], row[1]


def binding_of(session: Session, trainee_id: int) -> Station | None:
    """Where the trainee is bound now, if anywhere."""
    return session.exec(
        select(Station)
        .join(StationBinding, col(StationBinding.station_id) == Station.id)
        .where(StationBinding.trainee_id == trainee_id, col(StationBinding.ended_at).is_(None))
    ).first()
