"""Users, API tokens, console and kiosk sessions, kiosk devices and recorded login failures."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, String
from sqlmodel import Field, SQLModel

from server.db import UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    trainer = "trainer"
    examiner = "examiner"
    trainee = "trainee"
    regulator = "regulator"
    gateway = "gateway"

    def label(self, lang: str) -> str:
        zh, en = ROLE_LABELS[self]
        return en if lang == "en" else zh


ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.admin: ("系统管理员", "Administrator"),
    Role.trainer: ("培训教师", "Trainer"),
    Role.examiner: ("考评员", "Examiner"),
    Role.trainee: ("学员", "Trainee"),
    Role.regulator: ("监管部门", "Regulator"),
    Role.gateway: ("设备网关", "Device gateway"),
}

# Roles that log in to the web console with a password; the others use tokens or the kiosk.
CONSOLE_ROLES = frozenset({Role.admin, Role.trainer, Role.examiner})


class UserBase(SQLModel):
    username: str = Field(
        max_length=64,
        # lower-case letters, digits, dot, underscore, hyphen; 2 to 64 characters
        schema_extra={"pattern": r"^[a-z0-9][a-z0-9._-]{1,63}$"},
    )
    display_name: str = Field(min_length=1, max_length=100)
    role: Role = Field(sa_type=String(16))


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    # A trainee's 6-digit kiosk PIN (argon2); set and reset by staff, never shown back.
    pin_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    trainee_id: int | None = Field(default=None, foreign_key="trainees.id", unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserCreate(UserBase):
    password: str | None = Field(default=None, min_length=10, max_length=128)
    # A trainee account belongs to one registered trainee (their own records, the kiosk).
    trainee_id: int | None = None


class UserUpdate(SQLModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=128)


class UserPublic(UserBase):
    id: int
    is_active: bool
    trainee_id: int | None
    created_at: dt.datetime


class UsersPublic(SQLModel):
    data: list[UserPublic]
    count: int


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class TokenCreate(SQLModel):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(default=None, gt=0)


class TokenPublic(SQLModel):
    id: int
    user_id: int
    username: str
    state: str  # active, expired, revoked, user_inactive, role_changed
    name: str
    role: Role
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenPublic):
    """Returned once, at creation: the only time the secret is shown."""

    token: str


class TokensPublic(SQLModel):
    data: list[TokenPublic]
    count: int


class LoginSession(SQLModel, table=True):
    """A console login; the cookie holds a random secret, the table only its SHA-256."""

    __tablename__ = "login_sessions"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(max_length=64)
    address: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


class LoginFailure(SQLModel, table=True):
    """One failed login; counted per account and per address over a sliding window."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_at", "account", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=64)
    address: str = Field(max_length=64)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class KioskDevice(SQLModel, table=True):
    """A screen set up as one kiosk station; its cookie holds a secret, the table its SHA-256."""

    __tablename__ = "kiosk_devices"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="stations.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    # One-time setup code (its SHA-256) an admin types into the screen; cleared once used.
    setup_hash: str | None = Field(default=None, max_length=64, unique=True)
    setup_expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    activated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class KioskSession(SQLModel, table=True):
    """A trainee signed in at one kiosk; ends after the idle timeout or at sign-out."""

    __tablename__ = "kiosk_sessions"

    id: str = Field(primary_key=True, max_length=64)  # SHA-256 of the cookie's secret
    user_id: int = Field(foreign_key="users.id", index=True)
    trainee_id: int = Field(foreign_key="trainees.id")
    device_id: int = Field(foreign_key="kiosk_devices.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


class Badge(SQLModel, table=True):
    """A trainee's badge: its QR carries a random secret, kept here only as a SHA-256 digest.
    Issuing a new badge revokes the one before; a revoked badge signs no one in."""

    __tablename__ = "badges"

    id: int | None = Field(default=None, primary_key=True)
    trainee_id: int = Field(foreign_key="trainees.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    secret_hash: str = Field(max_length=64, unique=True)
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    issued_by: str = Field(max_length=64)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
