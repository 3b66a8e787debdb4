"""What every `safetrain` command shares: consoles, settings, the acting operator, failing well.

Exit codes: 0 ok; 1 the thing checked is not right (audit chain tampered, schema behind);
2 bad input, with the file, row, option or field named; 3 the database cannot be reached.
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from server.audit.service import Actor
from server.config import Settings, get_settings
from server.db import settings_engine

out = Console()
err = Console(stderr=True)

EXIT_BAD_INPUT = 2
EXIT_DATABASE_UNREACHABLE = 3


def actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print a message (never read as markup: it may quote brackets) and return the exit."""
    err.print(escape(message), style="red", soft_wrap=True)  # a file path stays whole
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        raise fail(f"配置错误 / bad settings: {exc}") from exc


def engine() -> Engine:
    return settings_engine(settings())


def require_current_schema() -> Engine:
    from server import migrate

    db = engine()
    if not migrate.is_current(db):
        raise fail(
            "数据库未升级到最新版本，请先运行 safetrain db upgrade / "
            "the database schema is not current: run `safetrain db upgrade` first"
        )
    return db
