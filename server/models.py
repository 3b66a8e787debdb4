"""Every table model, imported in one place so metadata (and Alembic) sees the whole schema."""

from sqlmodel import SQLModel

from server.accounts.models import (
    ApiToken,
    KioskDevice,
    KioskSession,
    LoginFailure,
    LoginSession,
    User,
)
from server.assessment.models import Attempt, ExamSitting, TheoryAnswer, TheoryPaper
from server.audit.models import AuditEvent, AuditHead
from server.certificates.models import (
    Certificate,
    CertificateCounter,
    CertificateReview,
    OperationCertificate,
)
from server.devices.models import Device, DeviceFrame, GatewayReport, StationBinding
from server.outbox.models import OutboxEvent
from server.regulator.models import RegulatorAccess
from server.scheduling.models import (
    Attendance,
    ClassSession,
    Course,
    Enrolment,
    FeedKey,
    InstructorAbsence,
    Room,
    SessionStation,
    Station,
)
from server.trainees.models import Employer, Trainee

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "Attempt",
    "Attendance",
    "AuditEvent",
    "AuditHead",
    "Certificate",
    "CertificateCounter",
    "CertificateReview",
    "ClassSession",
    "Course",
    "Device",
    "DeviceFrame",
    "Employer",
    "Enrolment",
    "ExamSitting",
    "FeedKey",
    "GatewayReport",
    "InstructorAbsence",
    "KioskDevice",
    "KioskSession",
    "LoginFailure",
    "LoginSession",
    "OperationCertificate",
    "OutboxEvent",
    "RegulatorAccess",
    "Room",
    "SessionStation",
    "Station",
    "StationBinding",
    "TheoryAnswer",
    "TheoryPaper",
    "Trainee",
    "User",
    "metadata",
]
