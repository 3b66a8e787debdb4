"""Settings from SAFETRAIN_* environment variables; one Settings object for the whole server."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me"  # noqa: S105 - refused outside development


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFETRAIN_", env_file=".env", extra="ignore")

    environment: Environment = Environment.development
    database_url: str = f"sqlite:///{PROJECT_DIR / 'var' / 'safetrain.db'}"
    secret_key: str = DEV_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = "http://127.0.0.1:8000"
    display_timezone: str = "Asia/Shanghai"
    default_language: str = "zh"

    # Login sessions (console) and bearer tokens (API).
    session_hours: int = Field(default=12, gt=0)
    session_cookie_secure: bool = False
    token_default_days: int = Field(default=90, gt=0)
    token_max_days: int = Field(default=366, gt=0)

    # Login rate limits: failures within the window, per account and per client address.
    login_window_minutes: int = Field(default=15, gt=0)
    login_max_failures_per_account: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    # Client address taken from X-Forwarded-For only when the direct peer is one of these.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    # Regulation: where MEM Order No. 19 leaves it open, the base decides (docs/decisions.md).
    passing_score_valid_months: int = Field(default=12, gt=0)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.display_timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        weak = self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        if self.environment is Environment.production and weak:
            raise ValueError(
                "SAFETRAIN_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        ZoneInfo(self.display_timezone)  # fails early on a bad zone name
        return self


@cache
def get_settings() -> Settings:
    return Settings()
