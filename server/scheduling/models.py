"""Rooms, stations, instructor absences, courses (班级), sessions (课次), enrolments, attendance."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from curricula.model import StationKind
from server.db import UTCDateTime, utcnow

# A session longer than this is refused; it also bounds the window the overlap queries scan.
MAX_SESSION_HOURS = 12


class SessionKind(StrEnum):
    theory = "theory"
    practical = "practical"
    vr = "vr"
    rig = "rig"
    exam = "exam"

    def label(self, lang: str) -> str:
        zh, en = _SESSION_LABELS[self]
        return en if lang == "en" else zh


_SESSION_LABELS = {
    SessionKind.theory: ("理论", "Theory"),
    SessionKind.practical: ("实操", "Practical"),
    SessionKind.vr: ("VR 仿真", "VR"),
    SessionKind.rig: ("体验装置", "Rig"),
    SessionKind.exam: ("考试", "Exam"),
}


class CourseStatus(StrEnum):
    planned = "planned"
    open = "open"  # accepting enrolments
    closed = "closed"
    cancelled = "cancelled"


class EnrolmentStatus(StrEnum):
    enrolled = "enrolled"
    waitlisted = "waitlisted"
    withdrawn = "withdrawn"


class Room(SQLModel, table=True):
    __tablename__ = "rooms"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    capacity: int = Field(gt=0)
    is_active: bool = True


class Station(SQLModel, table=True):
    __tablename__ = "stations"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)  # the device protocol's station id, e.g. VR-03
    kind: StationKind = Field(sa_type=String(16))
    name: str = Field(max_length=100)
    room_id: int | None = Field(default=None, foreign_key="rooms.id")
    is_active: bool = True


class InstructorAbsence(SQLModel, table=True):
    """A time an instructor cannot teach (leave, another duty): sessions then clash with it."""

    __tablename__ = "instructor_absences"
    __table_args__ = (Index("ix_instructor_absences_user_start", "user_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    starts_at: dt.datetime = Field(sa_type=UTCDateTime)
    ends_at: dt.datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=200)


class Course(SQLModel, table=True):
    __tablename__ = "courses"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    title: str = Field(max_length=100)
    curriculum_code: str = Field(max_length=40, index=True)
    curriculum_version: str = Field(max_length=20)
    starts_on: dt.date
    ends_on: dt.date
    lead_trainer_id: int = Field(foreign_key="users.id", index=True)
    capacity: int = Field(gt=0)
    status: CourseStatus = Field(default=CourseStatus.open, sa_type=String(16))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClassSession(SQLModel, table=True):
    """One timed meeting of a course (课次)."""

    __tablename__ = "class_sessions"
    __table_args__ = (
        Index("ix_class_sessions_room_start", "room_id", "starts_at"),
        Index("ix_class_sessions_instructor_start", "instructor_id", "starts_at"),
        Index("ix_class_sessions_course_start", "course_id", "starts_at"),
        Index("ix_class_sessions_start", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(foreign_key="courses.id")
    kind: SessionKind = Field(sa_type=String(16))
    title: str = Field(default="", max_length=100)
    starts_at: dt.datetime = Field(sa_type=UTCDateTime)
    ends_at: dt.datetime = Field(sa_type=UTCDateTime)
    room_id: int | None = Field(default=None, foreign_key="rooms.id")
    instructor_id: int | None = Field(default=None, foreign_key="users.id")


class SessionStation(SQLModel, table=True):
    """A station booked by a session; the times are copied here so overlaps use one index."""

    __tablename__ = "session_stations"
    __table_args__ = (Index("ix_session_stations_station_start", "station_id", "starts_at"),)

    session_id: int = Field(foreign_key="class_sessions.id", primary_key=True)
    station_id: int = Field(foreign_key="stations.id", primary_key=True)
    starts_at: dt.datetime = Field(sa_type=UTCDateTime)
    ends_at: dt.datetime = Field(sa_type=UTCDateTime)


class Enrolment(SQLModel, table=True):
    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("course_id", "trainee_id", name="uq_enrolments_course_trainee"),
        Index("ix_enrolments_trainee", "trainee_id", "status"),
        Index("ix_enrolments_course_status", "course_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(foreign_key="courses.id")
    trainee_id: int = Field(foreign_key="trainees.id")
    status: EnrolmentStatus = Field(sa_type=String(16))
    # Waitlist order: the time the trainee asked for a seat (ties broken by id).
    requested_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    enrolled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Attendance(SQLModel, table=True):
    """A trainee's presence at one session: check-in and check-out times (签到 / 签退)."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("session_id", "trainee_id", name="uq_attendance_session_trainee"),
        Index("ix_attendance_trainee", "trainee_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="class_sessions.id")
    trainee_id: int = Field(foreign_key="trainees.id")
    checked_in_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_out_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    source: str = Field(default="console", max_length=16)  # kiosk | console | api
    corrected: bool = False
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FeedSubject(StrEnum):
    trainer = "trainer"  # a user: the sessions they teach and the courses they lead
    trainee = "trainee"  # the sessions of the courses they are enrolled in
    course = "course"
    # Certificates falling due for review or renewal within `subject_id` days (admin, trainer).
    certificates_due = "certificates_due"


class FeedKey(SQLModel, table=True):
    """A secret calendar-feed address; only the SHA-256 of its secret is stored.

    Phones' calendar apps cannot send a bearer token, so the secret in the URL is the credential.
    """

    __tablename__ = "feed_keys"
    __table_args__ = (Index("ix_feed_keys_key_hash", "key_hash", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    subject_type: FeedSubject = Field(sa_type=String(16))
    subject_id: int  # a user, trainee or course id, or a number of days, by subject_type
    key_hash: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: int = Field(foreign_key="users.id", index=True)
