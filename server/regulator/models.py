"""The log of every read of regulator data: who, when, what (path and filters), how many records."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from server.db import UTCDateTime, utcnow


class RegulatorAccess(SQLModel, table=True):
    """One call of a regulator route. An export's row is written before its first byte and
    updated as rows go out, so a download broken off (or a server killed) still leaves it."""

    __tablename__ = "regulator_access"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    token_id: int | None = Field(default=None, foreign_key="api_tokens.id")
    actor: str = Field(max_length=64)  # the username, kept should the user be renamed
    role: str = Field(max_length=16)
    address: str = Field(max_length=64)  # the client's address
    endpoint: str = Field(max_length=32)  # certificates, changes, results, export
    query: str = Field(sa_type=Text)  # the filters and paging, canonical JSON
    records: int = 0  # records returned (an export: rows sent so far)
    complete: bool = True  # an export: False until its last row was sent
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class RegulatorAccessPublic(SQLModel):
    id: int
    at: dt.datetime
    user_id: int | None
    token_id: int | None
    actor: str
    role: str
    address: str
    endpoint: str
    query: str
    records: int
    complete: bool
    finished_at: dt.datetime | None


class RegulatorAccessList(SQLModel):
    data: list[RegulatorAccessPublic]
    next_after: int | None
