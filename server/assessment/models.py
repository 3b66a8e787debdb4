"""Exam sittings, each trainee's theory paper and answers, and the attempts every part produces.

An attempt is the record a decision rests on: one sitting of one part (theory, practical, a VR
or rig scenario) by one trainee, with its score, veto items and the reasons. Once final it is
never changed: a correction is a new version that supersedes it, with a reason.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from server.db import UTCDateTime, utcnow


class SittingStatus(StrEnum):
    open = "open"
    closed = "closed"  # every paper graded


class AttemptStatus(StrEnum):
    draft = "draft"  # a practical checklist being filled in; may still change
    final = "final"  # graded (theory, device) or signed (practical): never changes again
    superseded = "superseded"  # replaced by a correction, kept for the history


class AttemptSource(StrEnum):
    theory = "theory"
    practical = "practical"
    device = "device"


class ExamSitting(SQLModel, table=True):
    """A theory exam an examiner opens for a course: every enrolled trainee gets a paper."""

    __tablename__ = "exam_sittings"

    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(foreign_key="courses.id", index=True)
    curriculum_code: str = Field(max_length=40)
    curriculum_version: str = Field(max_length=20)
    time_limit_minutes: int
    opens_at: dt.datetime = Field(sa_type=UTCDateTime)
    closes_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)  # no answer after this
    status: SittingStatus = Field(default=SittingStatus.open, sa_type=String(16))
    opened_by: int = Field(foreign_key="users.id")
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TheoryPaper(SQLModel, table=True):
    """One trainee's paper of a sitting: the drawn questions and option order, never the key."""

    __tablename__ = "theory_papers"
    __table_args__ = (UniqueConstraint("sitting_id", "trainee_id"),)

    id: int | None = Field(default=None, primary_key=True)
    sitting_id: int = Field(foreign_key="exam_sittings.id", index=True)
    trainee_id: int = Field(foreign_key="trainees.id", index=True)
    paper: str = Field(sa_type=Text)  # scoring.papers.Paper.to_dict() as JSON
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    deadline: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    position: int = 0  # the question the trainee was on, to resume there
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    graded_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempt_id: int | None = Field(default=None, foreign_key="attempts.id")


class TheoryAnswer(SQLModel, table=True):
    """The latest answer to one question of a paper, saved the moment it is given."""

    __tablename__ = "theory_answers"
    __table_args__ = (UniqueConstraint("paper_id", "question_id"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(foreign_key="theory_papers.id", index=True)
    question_id: str = Field(max_length=40)
    chosen: str = Field(max_length=200)  # option ids, comma-separated, sorted; "" = cleared
    answered_at: dt.datetime = Field(sa_type=UTCDateTime)
    changes: int = 0  # how often the answer was changed after it was first given


class Attempt(SQLModel, table=True):
    """One scored sitting of one part by one trainee: the record a decision rests on."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_trainee_part", "trainee_id", "curriculum_code", "part", "taken_at"),
        Index("ix_attempts_course", "course_id"),
        # A device result becomes at most one attempt (corrections supersede it, with the same
        # source_ref): the database says so, whoever attributes the result and however often.
        Index(
            "ux_attempts_device_result",
            "source_ref",
            unique=True,
            sqlite_where=text("source = 'device' AND supersedes_id IS NULL"),
            postgresql_where=text("source = 'device' AND supersedes_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    trainee_id: int = Field(foreign_key="trainees.id")
    course_id: int | None = Field(default=None, foreign_key="courses.id")
    curriculum_code: str = Field(max_length=40)
    curriculum_version: str = Field(max_length=20)
    part: str = Field(max_length=40)  # theory, practical or device:<scenario>
    source: AttemptSource = Field(sa_type=String(16))
    source_ref: str = Field(max_length=80)  # the paper id, or the device result's dev:boot:seq
    taken_at: dt.datetime = Field(sa_type=UTCDateTime)
    rule_set: str = Field(max_length=40)  # the regulation in force on the attempt's date
    status: AttemptStatus = Field(default=AttemptStatus.final, sa_type=String(16))
    score: str | None = Field(default=None, max_length=12)  # exact, e.g. "87.5"; None in draft
    passed: bool | None = None
    veto_failed: str = Field(default="", max_length=400)  # item or error codes, comma-separated
    result: str = Field(default="{}", sa_type=Text)  # the scoring result as JSON
    marks: str | None = Field(default=None, sa_type=Text)  # a practical checklist's marks, JSON
    version: int = 1
    supersedes_id: int | None = Field(default=None, foreign_key="attempts.id")
    correction_reason: str | None = Field(default=None, max_length=500)
    recorded_by: int | None = Field(default=None, foreign_key="users.id")
    signed_by: int | None = Field(default=None, foreign_key="users.id")
    signed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    cosigned_by: int | None = Field(default=None, foreign_key="users.id")
    cosigned_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A practical exam's station, named by the examiner: its camera records the exam.
    station_id: int | None = Field(default=None, foreign_key="stations.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExamRecording(SQLModel, table=True):
    """One video file of a practical exam from its station's camera, kept at least 3 years.

    The gateway announces the file (size, SHA-256), then sends it in chunks; it is stored once
    every byte is in and the hash matches, and only then may the gateway delete its copy.
    """

    __tablename__ = "exam_recordings"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=96, unique=True)  # the gateway's name for the file
    attempt_id: int = Field(foreign_key="attempts.id", index=True)
    station_id: int = Field(foreign_key="stations.id")
    started_at: dt.datetime = Field(sa_type=UTCDateTime)
    ended_at: dt.datetime = Field(sa_type=UTCDateTime)
    frames: int
    fps: float
    size_bytes: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    interrupted: bool = False  # the gateway stopped mid-exam; the file ends where it stopped
    received_bytes: int = Field(default=0, sa_type=BigInteger)
    path: str = Field(max_length=200)  # relative to the recordings directory (settings)
    stored_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    keep_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    pruned_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    gateway_user_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
