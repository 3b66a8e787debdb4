"""What the scheduling API takes and gives."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from curricula.model import StationKind
from server.scheduling.models import CourseStatus, EnrolmentStatus, SessionKind
from server.trainees.models import ImportReport


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs its UTC offset, e.g. 2026-12-01T09:00:00+08:00")
    return value.astimezone(dt.UTC)


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class RoomCreate(BaseModel):
    code: Code
    name: str = Field(min_length=1, max_length=100)
    capacity: int = Field(gt=0, le=1000)


class RoomPublic(RoomCreate):
    id: int
    is_active: bool


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may be left out but not null")
    return value


class RoomUpdate(BaseModel):
    """Correct a room, or take it out of service (is_active false); its code never changes."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    capacity: int | None = Field(default=None, gt=0, le=1000)
    is_active: bool | None = None

    @field_validator("name", "capacity", "is_active")
    @classmethod
    def _given(cls, value: object) -> object:
        return _not_null(value)


class StationCreate(BaseModel):
    code: Annotated[str, Field(pattern=r"^[A-Z0-9-]{1,16}$")]  # as devices name it, e.g. VR-03
    kind: StationKind
    name: str = Field(min_length=1, max_length=100)
    room_id: int | None = None


class StationPublic(StationCreate):
    id: int
    is_active: bool


class StationUpdate(BaseModel):
    """Correct a station or take it out of service; room_id null takes it out of its room."""

    model_config = ConfigDict(extra="forbid")

    kind: StationKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)
    room_id: int | None = None
    is_active: bool | None = None

    @field_validator("kind", "name", "is_active")
    @classmethod
    def _given(cls, value: object) -> object:
        return _not_null(value)


class AbsenceCreate(BaseModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AbsencePublic(AbsenceCreate):
    id: int
    user_id: int


class CourseCreate(BaseModel):
    code: Code
    title: str | None = Field(default=None, max_length=100)
    curriculum_code: str = Field(min_length=1, max_length=40)
    starts_on: dt.date
    ends_on: dt.date
    lead_trainer_id: int
    capacity: int = Field(gt=0, le=500)

    @model_validator(mode="after")
    def _ordered(self) -> CourseCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class CoursePublic(BaseModel):
    id: int
    code: str
    title: str
    curriculum_code: str
    curriculum_version: str
    starts_on: dt.date
    ends_on: dt.date
    lead_trainer_id: int
    capacity: int
    status: CourseStatus
    enrolled: int
    waitlisted: int


class CoursesPublic(BaseModel):
    data: list[CoursePublic]
    count: int


class SessionCreate(BaseModel):
    kind: SessionKind
    title: str = Field(default="", max_length=100)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    room_id: int | None = None
    station_ids: list[int] = Field(default_factory=list, max_length=100)
    instructor_id: int | None = None


class PatternCreate(BaseModel):
    """Repeat a session: on these weekdays (1 = Monday … 7 = Sunday), local times, a date range."""

    kind: SessionKind
    title: str = Field(default="", max_length=100)
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1, max_length=7)
    start_time: dt.time
    end_time: dt.time
    from_date: dt.date
    to_date: dt.date
    skip_dates: list[dt.date] = Field(default_factory=list)
    room_id: int | None = None
    station_ids: list[int] = Field(default_factory=list, max_length=100)
    instructor_id: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PatternCreate:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if self.to_date < self.from_date:
            raise ValueError("to_date must not be before from_date")
        if (self.to_date - self.from_date).days > 366:
            raise ValueError("a pattern spans at most a year")
        return self


class SessionPublic(BaseModel):
    id: int
    course_id: int
    kind: SessionKind
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    room_id: int | None
    station_ids: list[int]
    instructor_id: int | None


class SessionsPublic(BaseModel):
    data: list[SessionPublic]
    count: int


class HoursLine(BaseModel):
    kind: SessionKind
    required_hours: float
    planned_hours: float
    difference_hours: float  # planned − required: negative is a shortfall


class HoursPlan(BaseModel):
    course_id: int
    lines: list[HoursLine]
    complete: bool


class EnrolRequest(BaseModel):
    trainee_id: int


class BulkEnrolRequest(BaseModel):
    trainee_ids: list[int] = Field(min_length=1, max_length=500)


class EnrolmentPublic(BaseModel):
    id: int
    course_id: int
    trainee_id: int
    trainee_name: str
    status: EnrolmentStatus
    waitlist_position: int | None
    requested_at: dt.datetime
    enrolled_at: dt.datetime | None
    withdrawn_at: dt.datetime | None


class EnrolmentsPublic(BaseModel):
    data: list[EnrolmentPublic]
    count: int


class BulkEnrolItem(BaseModel):
    trainee_id: int
    row: int | None = None  # the roster file's row, when enrolling from a file
    status: str  # enrolled | waitlisted | refused
    error: str | None = None
    message: str | None = None
    details: Any = None


class BulkEnrolResult(BaseModel):
    results: list[BulkEnrolItem]


class RosterEnrolResult(BaseModel):
    registry: ImportReport  # what the file did to the trainee registry
    results: list[BulkEnrolItem]


class CheckRequest(BaseModel):
    trainee_id: int
    at: AwareDatetime | None = None  # default: now


class AttendanceMark(BaseModel):
    trainee_id: int
    checked_in_at: AwareDatetime | None
    checked_out_at: AwareDatetime | None
    reason: str | None = Field(default=None, max_length=500)


class AttendanceCorrection(BaseModel):
    checked_in_at: AwareDatetime | None
    checked_out_at: AwareDatetime | None
    reason: str = Field(min_length=2, max_length=500)


class AttendancePublic(BaseModel):
    id: int
    session_id: int
    trainee_id: int
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None
    credited_minutes: int
    late_minutes: int
    early_leave_minutes: int
    missing_check_out: bool
    source: str
    corrected: bool


class SheetPublic(BaseModel):
    session: SessionPublic
    data: list[AttendancePublic]


class KindProgress(BaseModel):
    kind: SessionKind
    required_minutes: int
    credited_minutes: int


class TraineeProgress(BaseModel):
    trainee_id: int
    trainee_name: str
    kinds: list[KindProgress]
    complete: bool
