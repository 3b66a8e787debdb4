"""Trainees (学员) and the employers that send them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlmodel import Field, SQLModel

from curricula.model import EducationLevel
from server.db import UTCDateTime, utcnow
from server.trainees.identity import IdType, Sex


class Employer(SQLModel, table=True):
    __tablename__ = "employers"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EmployerPublic(SQLModel):
    id: int
    name: str


class EmployersPublic(SQLModel):
    data: list[EmployerPublic]
    count: int


class TraineeBase(SQLModel):
    name: str = Field(min_length=1, max_length=50)
    id_type: IdType = Field(default=IdType.resident_id, sa_type=String(24))
    phone: str = Field(min_length=1, max_length=32)
    job: str | None = Field(default=None, max_length=50)
    education: EducationLevel = Field(sa_type=String(24))


class Trainee(TraineeBase, table=True):
    __tablename__ = "trainees"
    __table_args__ = (UniqueConstraint("id_type", "id_number", name="uq_trainees_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    id_number: str = Field(max_length=32, index=True)
    birth_date: dt.date
    sex: Sex = Field(sa_type=String(8))
    employer_id: int = Field(foreign_key="employers.id", index=True)
    badge: str = Field(max_length=16, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TraineeCreate(TraineeBase):
    id_number: str = Field(min_length=1, max_length=40)
    employer: str = Field(min_length=1, max_length=100)
    # Derived from a resident ID number; required for other document types.
    birth_date: dt.date | None = None
    sex: Sex | None = None


class TraineeUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    phone: str | None = Field(default=None, min_length=1, max_length=32)
    employer: str | None = Field(default=None, min_length=1, max_length=100)
    job: str | None = Field(default=None, max_length=50)
    education: EducationLevel | None = None


class TraineePublic(SQLModel):
    id: int
    name: str
    id_type: IdType
    id_number_masked: str
    # Present only for roles that need the full number (admin, trainer, the trainee themself).
    id_number: str | None = None
    birth_date: dt.date
    sex: Sex
    phone: str
    employer: EmployerPublic
    job: str | None
    education: EducationLevel
    badge: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class TraineesPublic(SQLModel):
    data: list[TraineePublic]
    count: int


class RowErrorPublic(SQLModel):
    row: int
    column: str
    code: str
    message: str  # "中文 / English"
    message_zh: str
    message_en: str
    value: str


class RowTrainee(SQLModel):
    row: int
    trainee_id: int
    registered_now: bool


class ImportReport(SQLModel):
    """What a roster import did; `imported` is 0 whenever `errors` is non-empty and not valid_only."""

    filename: str
    rows_read: int
    valid_rows: int  # rows that passed every check: what an import (or valid_only) takes
    imported: int
    valid_only: bool
    dry_run: bool
    employers_created: list[str]
    errors: list[RowErrorPublic]
    trainee_ids: list[int]  # trainees this import registered
    rows: list[RowTrainee] = []  # with use_registered: every good row's trainee, in row order
