"""One row per certificate change to push to the regulator, written with the change itself.

`seq` is the audit sequence number of the change. The audit head stays locked until the
writing transaction commits, so a row with a higher seq is never visible before every row with
a lower one: delivering in seq order is delivering in commit order.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from server.db import UTCDateTime, utcnow


class OutboxState(StrEnum):
    pending = "pending"  # not yet accepted by the receiver: waiting, or retrying after errors
    rejected = "rejected"  # the receiver answered 4xx: blocks the queue until it accepts
    delivered = "delivered"  # the receiver answered 2xx; never sent again


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_state_seq", "state", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)  # the change's audit seq: the delivery order
    kind: str = Field(max_length=40)  # certificate.issue, certificate.revoke …
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    certificate_number: str = Field(max_length=32)
    payload: str = Field(sa_type=Text)  # the event as JSON, exactly as it will be sent
    idempotency_key: str = Field(max_length=80, unique=True)
    state: OutboxState = Field(default=OutboxState.pending, sa_type=String(16))
    attempts: int = 0
    last_status: int | None = None  # the receiver's last HTTP status, if it answered
    last_error_code: str | None = Field(default=None, max_length=24)  # timeout, rejected …
    last_error: str | None = Field(default=None, max_length=500)
    last_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
