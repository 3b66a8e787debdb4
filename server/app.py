"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiosk import pages as kiosk_pages
from kiosk.routes import AREAS as KIOSK_ROUTERS
from server.accounts.badge_routes import router as badge_router
from server.accounts.kiosk_routes import router as kiosk_api_router
from server.accounts.routes import router as accounts_router
from server.assessment.attempt_routes import router as attempt_router
from server.assessment.background import grade_due_forever
from server.assessment.recording_routes import router as recording_router
from server.assessment.routes import router as assessment_router
from server.audit.routes import router as audit_router
from server.catalog.routes import router as catalog_router
from server.certificates.jwks_routes import router as jwks_router
from server.certificates.routes import router as certificates_router
from server.certificates.verify_routes import router as verify_router
from server.config import Settings, get_settings
from server.console import pages as console_pages
from server.console.assessment import router as console_assessment_router
from server.console.assessment_practical import router as console_practical_router
from server.console.assessment_results import router as console_results_router
from server.console.certificates import router as console_certificates_router
from server.console.course_tools import router as console_course_tools_router
from server.console.devices import router as console_devices_router
from server.console.outbox import router as console_outbox_router
from server.console.resources import router as console_resources_router
from server.console.routes import STATIC_DIR
from server.console.routes import router as console_router
from server.console.schedule import router as console_schedule_router
from server.db import settings_engine
from server.devices.routes import router as devices_router
from server.errors import InvalidInput, SafetrainError
from server.health.routes import router as health_router
from server.outbox.background import deliver_forever
from server.outbox.routes import router as outbox_router
from server.regulator.routes import router as regulator_router
from server.scheduling.feed_routes import router as feeds_router
from server.scheduling.routes import router as scheduling_router
from server.trainees.routes import router as trainees_router

# Every router of the app; tests walk these to prove each route's roles are enforced.
ROUTERS: tuple[APIRouter, ...] = (
    health_router,
    jwks_router,
    verify_router,
    certificates_router,
    accounts_router,
    kiosk_api_router,
    badge_router,
    trainees_router,
    scheduling_router,
    feeds_router,
    assessment_router,
    attempt_router,
    recording_router,
    devices_router,
    catalog_router,
    audit_router,
    regulator_router,
    outbox_router,
    console_router,
    console_schedule_router,
    console_resources_router,
    console_course_tools_router,
    console_devices_router,
    console_assessment_router,
    console_practical_router,
    console_results_router,
    console_certificates_router,
    console_outbox_router,
    *KIOSK_ROUTERS,
)

API_DESCRIPTION = """
safetrain 化工安全实训基地管理系统 API / chemical-industry safety training base API.

Every route states the roles that may call it (`x-roles`). Authenticate with
`Authorization: Bearer <token>` (`safetrain token create`). Errors are
`{"error": code, "message": "中文 / English", "details": …}`.
"""


# Console pages load nothing but their own files: no inline script, no third-party origin.
CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
CONSOLE_HEADERS = (
    *HEADERS,
    ("Content-Security-Policy", CONSOLE_CSP),
    ("Cache-Control", "no-store"),
)


PAGE_PREFIXES = ("/console", "/kiosk")


class SecurityHeaders:
    """The headers every answer carries, and console pages their CSP. Plain ASGI: Starlette's
    `@app.middleware("http")` costs a task and a stream per request (docs/benchmarks.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Kiosk pages too: their own files only, and nothing of a trainee kept in the cache.
        extra = CONSOLE_HEADERS if str(scope["path"]).startswith(PAGE_PREFIXES) else HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        details.append(
            {
                "field": ".".join(loc) or "body",
                "code": err.get("type", "invalid"),
                "message": err.get("msg", ""),
            }
        )
    return details


def _is_console(request: Request) -> bool:
    return request.url.path.startswith("/console")


def _is_kiosk(request: Request) -> bool:
    return request.url.path == "/kiosk" or request.url.path.startswith("/kiosk/")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()

    # The API docs are served from local files: a training base may have no internet access.
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loops = []
        if settings.exam_grading_interval_seconds > 0:
            loops.append(
                asyncio.create_task(
                    grade_due_forever(app.state.engine, settings.exam_grading_interval_seconds)
                )
            )
        if settings.regulator_push_url:
            loops.append(asyncio.create_task(deliver_forever(app.state.engine, settings)))
        yield
        for loop in loops:
            loop.cancel()
            with suppress(asyncio.CancelledError):
                await loop

    app = FastAPIOffline(
        lifespan=lifespan,
        title="safetrain",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        static_url="/static/api-docs",
    )
    app.state.settings = settings
    app.state.engine = engine or settings_engine(settings)

    @app.exception_handler(SafetrainError)
    async def _safetrain_error(request: Request, exc: SafetrainError) -> Response:
        if _is_console(request):
            return console_pages.error_page(request, exc)
        if _is_kiosk(request):
            return kiosk_pages.error_page(request, exc)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = _validation_details(exc)
        fields = ", ".join(d["field"] for d in details)
        error = InvalidInput(f"输入有误：{fields}", f"invalid input: {fields}", details=details)
        if _is_console(request):
            return console_pages.error_page(request, error)
        if _is_kiosk(request):
            return kiosk_pages.error_page(request, error)
        return JSONResponse(error.body(), status_code=422)

    app.add_middleware(SecurityHeaders)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/kiosk/static", StaticFiles(directory=kiosk_pages.STATIC_DIR), name="kiosk-static")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
