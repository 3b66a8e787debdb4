"""Every table model, imported in one place so metadata (and Alembic) sees the whole schema."""

from sqlmodel import SQLModel

from server.accounts.models import ApiToken, LoginFailure, LoginSession, User
from server.audit.models import AuditEvent, AuditHead
from server.trainees.models import Employer, Trainee

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Employer",
    "LoginFailure",
    "LoginSession",
    "Trainee",
    "User",
    "metadata",
]
