"""GET /healthz (the process answers) and GET /readyz (database reachable, schema current)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from server import migrate
from server.i18n import bilingual

router = APIRouter(tags=["health"])
PUBLIC: dict[str, Any] = {"openapi_extra": {"x-roles": ["public"]}}


@router.get("/healthz", **PUBLIC)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", **PUBLIC)
def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and its schema is at the newest migration."""
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
    except Exception as exc:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "unreachable",
                "message": bilingual("数据库不可用", "database unreachable"),
                "detail": type(exc).__name__,
            },
            status_code=503,
        )
    head = migrate.head_revision(request.app.state.settings.database_url)
    migrations = {"current": current, "head": head}
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "migrations": migrations,
                "message": bilingual(
                    "数据库未升级到最新版本，请运行 safetrain db upgrade",
                    "database schema is not current; run safetrain db upgrade",
                ),
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "migrations": migrations})
