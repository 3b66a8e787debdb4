"""Settings from SAFETRAIN_* environment variables; one Settings object for the whole server."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


MIN_RECORDING_RETENTION_DAYS = 3 * 365 + 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFETRAIN_", env_file=".env", extra="ignore")

    environment: Environment = Environment.development
    # Relative to the working directory: `make run` keeps the embedded database in ./var/.
    database_url: str = "sqlite:///var/safetrain.db"
    db_pool_size: int = Field(default=5, ge=1)  # per process, PostgreSQL only
    db_max_overflow: int = Field(default=5, ge=0)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    display_timezone: str = "Asia/Shanghai"
    default_language: str = Field(default="zh", pattern="^(zh|en)$")

    # Console login sessions and API bearer tokens.
    session_hours: int = Field(default=12, gt=0)
    session_cookie_secure: bool = False
    token_default_days: int = Field(default=90, gt=0)
    # How long a passing exam score counts where the rule set in force leaves it open (MEM
    # Order No. 19's text is unverified here): 12 months as under Order 30; empty = no lapse.
    passing_score_valid_months: int | None = Field(default=12, gt=0)
    # How often each server process grades theory papers whose time is up (0: only on access).
    exam_grading_interval_seconds: float = Field(default=30, ge=0)
    token_max_days: int = Field(default=366, gt=0)

    # Certificates. The signing keys live in files outside the database (an admin rotates them
    # with `safetrain keys rotate`); a database dump alone cannot forge a certificate.
    keys_dir: str = "var/keys"
    # Certificate numbers read <prefix>-<year>-<serial>, gap-free per base and year.
    certificate_prefix: str = Field(default="SAFE", pattern="^[A-Z][A-Z0-9]{1,11}$")
    base_name_zh: str = "化工安全实训基地"
    base_name_en: str = "Chemical Safety Training Base"
    # Where the public verification page is reached from outside (the PDF's QR code opens it).
    public_url: str = "http://127.0.0.1:8000"
    # Public certificate look-ups per client address and minute (the verification page and API).
    verify_rate_per_minute: int = Field(default=60, gt=0)

    # The push outbox: certificate changes POSTed to the regulator's endpoint, in order, at
    # least once (docs/architecture.md). Empty URL: changes are queued but not sent.
    regulator_push_url: str = ""
    regulator_push_token: str = ""  # sent as "Authorization: Bearer …" when set
    regulator_push_interval_seconds: float = Field(default=5, gt=0)
    regulator_push_timeout_seconds: float = Field(default=10, gt=0)
    regulator_push_max_backoff_seconds: float = Field(default=600, gt=0)

    # Login rate limits: failures within the window, per account and per client address.
    login_window_minutes: int = Field(default=15, gt=0)
    login_max_failures_per_account: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    # The kiosk (docs/kiosk.md): ID number + PIN failures per ID number lock that ID for the
    # lockout; failures across IDs per kiosk pause that kiosk. A signed-in trainee is signed out
    # after this many seconds without a request (the page counts down the last 15).
    kiosk_idle_seconds: int = Field(default=90, ge=5)
    kiosk_pin_max_failures_per_id: int = Field(default=5, gt=0)
    kiosk_pin_lockout_minutes: int = Field(default=15, gt=0)
    kiosk_pin_max_failures_per_kiosk: int = Field(default=20, gt=0)
    # X-Forwarded-For is believed only when the direct peer is one of these (comma-separated).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"]
    )

    # Exam recordings from the stations' cameras (docs/cameras.md): where the files are kept,
    # and for how long after the exam. The regulation keeps exam video at least 3 years (1,096
    # days cover any 3 years); less is refused outside development.
    exam_recordings_dir: str = "var/exam-recordings"
    exam_recording_retention_days: int = Field(default=MIN_RECORDING_RETENTION_DAYS, gt=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("regulator_push_url")
    @classmethod
    def _push_url(cls, value: str) -> str:
        value = value.strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"not an http(s) URL: {value!r}, e.g. https://regulator.example/push"
                )
        return value

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Shanghai") from exc
        return value

    @model_validator(mode="after")
    def _recordings_kept_long_enough(self) -> Settings:
        days = self.exam_recording_retention_days
        if days < MIN_RECORDING_RETENTION_DAYS and self.environment != Environment.development:
            raise ValueError(
                f"SAFETRAIN_EXAM_RECORDING_RETENTION_DAYS={days}：考试录像至少保存 3 年"
                f"（{MIN_RECORDING_RETENTION_DAYS} 天）/ exam recordings are kept at least 3 years "
                f"({MIN_RECORDING_RETENTION_DAYS} days) outside development"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@cache
def get_settings() -> Settings:
    return Settings()
