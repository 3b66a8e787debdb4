"""Certificates the base issues, their numbers, reviews, and the authority's operation certificates.

A certificate's facts (number, trainee, curriculum, dates, rule set) are signed once, at issue,
into `document` (a compact JWS); what changes afterwards — suspended, reinstated, revoked, a
review recorded — is its live `status` and history, each change audit-logged. `change_seq` is
the audit sequence number of the certificate's latest change: the audit head is locked until
the writing transaction commits, so these numbers appear in commit order and a regulator who
syncs with `since=<seq>` never misses one (see docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from server.db import UTCDateTime, utcnow


class CertificateStatus(StrEnum):
    """The stored state; `expiring` and `expired` follow from the dates (see lifecycle)."""

    valid = "valid"
    suspended = "suspended"
    revoked = "revoked"


class Certificate(SQLModel, table=True):
    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("prefix", "year", "serial", name="uq_certificates_serial"),
        # Issuing is idempotent: one original certificate per trainee and course (a re-issue
        # after renewal supersedes it, with a number of its own).
        Index(
            "ux_certificates_original",
            "trainee_id",
            "course_id",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL"),
            postgresql_where=text("supersedes_id IS NULL"),
        ),
        Index("ix_certificates_change_seq", "change_seq"),
        Index("ix_certificates_valid_until", "valid_until"),
        # The regulator's filters, and whether a certificate was superseded (server/regulator).
        Index("ix_certificates_supersedes_id", "supersedes_id"),
        Index("ix_certificates_status_id", "status", "id"),
        Index("ix_certificates_issued_on", "issued_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)  # e.g. SAFE-2026-000123
    prefix: str = Field(max_length=12)
    year: int
    serial: int
    trainee_id: int = Field(foreign_key="trainees.id", index=True)
    course_id: int = Field(foreign_key="courses.id", index=True)
    curriculum_code: str = Field(max_length=40)
    curriculum_version: str = Field(max_length=20)
    operation_category: str | None = Field(default=None, max_length=40)
    rule_set: str = Field(max_length=40)  # the regulation in force on the issue date
    issued_on: dt.date
    valid_until: dt.date  # the last day it is valid
    review_due: dt.date | None = None  # 复审, only where the rule set in force then has one
    status: CertificateStatus = Field(default=CertificateStatus.valid, sa_type=String(16))
    status_reason: str | None = Field(default=None, max_length=500)
    status_changed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    document: str = Field(sa_type=Text)  # the signed certificate, compact JWS
    kid: str = Field(max_length=64)  # the signing key's id
    supersedes_id: int | None = Field(default=None, foreign_key="certificates.id")
    issued_by: int | None = Field(default=None, foreign_key="users.id")
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    change_seq: int = 0  # the audit sequence number of the latest change


class CertificateCounter(SQLModel, table=True):
    """The last serial used per prefix and year: numbers are gap-free (see service.issue)."""

    __tablename__ = "certificate_counters"

    prefix: str = Field(max_length=12, primary_key=True)
    year: int = Field(primary_key=True)
    last_serial: int = 0


class CertificateReview(SQLModel, table=True):
    """A review (复审) under Order 30: the refresher hours it rests on, and the next due date."""

    __tablename__ = "certificate_reviews"

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    reviewed_on: dt.date
    refresher_minutes: int
    refresher_course_id: int | None = Field(default=None, foreign_key="courses.id")
    next_due: dt.date | None = None
    recorded_by: int | None = Field(default=None, foreign_key="users.id")
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OperationCertificate(SQLModel, table=True):
    """The official special-operation certificate (特种作业操作证) the authority issued."""

    __tablename__ = "operation_certificates"
    __table_args__ = (UniqueConstraint("authority", "number", name="uq_operation_certificates"),)

    id: int | None = Field(default=None, primary_key=True)
    trainee_id: int = Field(foreign_key="trainees.id", index=True)
    certificate_id: int | None = Field(default=None, foreign_key="certificates.id")
    operation_category: str | None = Field(default=None, max_length=40)
    number: str = Field(max_length=40)
    authority: str = Field(max_length=100)
    issued_on: dt.date
    valid_until: dt.date
    recorded_by: int | None = Field(default=None, foreign_key="users.id")
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
