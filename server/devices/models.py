"""The device registry, who is bound to which station, and every frame the gateways forwarded.

A frame is stored once under its key `dev:boot:seq` (a unique index, so retries, duplicates and
two gateways racing all end as one row). A `result` frame is then attributed to a trainee — by
the badge it names, else by the station binding at the result's time — or left unassigned for
a trainer to resolve; it is never dropped.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, String, Text, text
from sqlmodel import Field, SQLModel

from curricula.model import StationKind
from server.db import UTCDateTime, utcnow


class Attribution(StrEnum):
    badge = "badge"  # the frame named the trainee's badge
    binding = "binding"  # the trainee bound to the station at the result's time
    unassigned = "unassigned"  # nobody to attribute: a trainer resolves it
    resolved = "resolved"  # a trainer attributed it by hand (audited)


class Device(SQLModel, table=True):
    """A pod computer or rig controller, known by the id it sends as `dev`."""

    __tablename__ = "devices"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)  # the frame's `dev`, e.g. VR-03
    kind: StationKind = Field(sa_type=String(16))
    station_id: int = Field(foreign_key="stations.id", index=True)
    is_active: bool = True
    last_boot: str | None = Field(default=None, max_length=8)
    last_seen_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StationBinding(SQLModel, table=True):
    """A trainee at a station from `bound_at` until `ended_at` (open while they are there)."""

    __tablename__ = "station_bindings"
    __table_args__ = (Index("ix_station_bindings_station_bound", "station_id", "bound_at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="stations.id")
    trainee_id: int = Field(foreign_key="trainees.id", index=True)
    bound_at: dt.datetime = Field(sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    source: str = Field(max_length=16)  # kiosk or console
    bound_by: int | None = Field(default=None, foreign_key="users.id")


UNASSIGNED_RESULT = "frame_type = 'result' AND attribution = 'unassigned'"


class DeviceFrame(SQLModel, table=True):
    """One spooled frame (start, step, result, fault) as a gateway forwarded it."""

    __tablename__ = "device_frames"
    __table_args__ = (
        Index("ix_device_frames_station_received", "station_id", "received_at"),
        # Only the results waiting for a trainer: most frames never enter this index.
        Index(
            "ix_device_frames_unassigned",
            "id",
            sqlite_where=text(UNASSIGNED_RESULT),
            postgresql_where=text(UNASSIGNED_RESULT),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)  # dev:boot:seq
    device_id: int = Field(foreign_key="devices.id")
    station_id: int = Field(foreign_key="stations.id")
    boot: str = Field(max_length=8)
    seq: int
    frame_type: str = Field(max_length=8)
    source: str = Field(max_length=16)  # serial, camera-qr, camera-7seg
    scenario: str | None = Field(default=None, max_length=16)
    occurred_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # the frame's ts
    received_at: dt.datetime = Field(sa_type=UTCDateTime)  # at the gateway
    stored_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    frame: str = Field(sa_type=Text)  # the decoded frame as JSON
    gateway_user_id: int | None = Field(default=None, foreign_key="users.id")
    # Results only (the attempt a result became names the frame's key as its source_ref):
    trainee_id: int | None = Field(default=None, foreign_key="trainees.id")
    attribution: str | None = Field(default=None, max_length=16)


class GatewayReport(SQLModel, table=True):
    """The latest status a gateway reported: its devices online or not, counters, spool depth."""

    __tablename__ = "gateway_reports"

    id: int | None = Field(default=None, primary_key=True)
    gateway_user_id: int = Field(foreign_key="users.id", unique=True)
    reported_at: dt.datetime = Field(sa_type=UTCDateTime)
    status: str = Field(sa_type=Text)  # the gateway's status document as JSON
