"""Public certificate verification by number: a page (the PDF's QR code opens it) and an API.

No login. Each client address may look up `SAFETRAIN_VERIFY_RATE_PER_MINUTE` numbers a minute
(a moving window per server process, server/ratelimit.py), so the register cannot be walked
by trying numbers; the answer carries only the masked facts of `views.Verification`.

Both routes are async and read through a `Coalescer` (server/batching.py): look-ups arriving
together share one thread hop and one query, which on a busy endpoint costs more than the
look-up itself (docs/benchmarks.md, certificate verification).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from server.batching import Coalescer
from server.certificates import service
from server.certificates.views import Verification, normal_number, verification_of
from server.db import reading
from server.deps import SettingsDep, client_address
from server.errors import TooManyAttempts
from server.i18n import pick_language
from server.ratelimit import MovingWindow

router = APIRouter(tags=["certificates"])
PUBLIC: dict[str, Any] = {"openapi_extra": {"x-roles": ["public"]}}
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def _limit(request: Request, rate: int) -> None:
    state = request.app.state
    if not hasattr(state, "verify_limiter"):  # one per app: tests' apps do not share counts
        state.verify_limiter = MovingWindow(60.0)
    if not state.verify_limiter.hit(client_address(request, state.settings), rate):
        raise TooManyAttempts(
            "查询过于频繁，请一分钟后再试",
            "too many look-ups: try again in a minute",
            code="rate_limited",
        )


async def _look_up(request: Request, number: str) -> Verification:
    state = request.app.state
    if not hasattr(state, "verify_lookups"):
        engine = reading(state.engine)
        if engine.dialect.name == "postgresql":
            # One statement, its own snapshot: no BEGIN and ROLLBACK round trips per batch.
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")

        def fetch(numbers: Sequence[str]) -> dict[str, service.PublicRecord]:
            with Session(engine, expire_on_commit=False) as session:
                return service.public_records(session, list(numbers))

        state.verify_lookups = Coalescer(fetch)
    wanted = normal_number(number)
    record = await state.verify_lookups.get(wanted)
    # The signature check runs here, on the event loop: in the worker thread it held the GIL
    # for whole batches and the loop waited for it (bench/verify.py, first look-ups).
    return verification_of(state.settings, record, wanted, service.today())


@router.get("/api/v1/verify/{number}", response_model=Verification, **PUBLIC)
async def verify_api(request: Request, settings: SettingsDep, number: str) -> Verification:
    """A certificate's status, masked holder, curriculum, dates and signature check."""
    _limit(request, settings.verify_rate_per_minute)
    return await _look_up(request, number)


@router.get("/verify/{number}", response_class=HTMLResponse, **PUBLIC)
async def verify_page(request: Request, settings: SettingsDep, number: str) -> HTMLResponse:
    """The page a phone opens from the certificate's QR code."""
    _limit(request, settings.verify_rate_per_minute)
    found = await _look_up(request, number)
    lang = pick_language(request.query_params.get("lang") or settings.default_language)
    return templates.TemplateResponse(
        request,
        "verify.html",
        {"v": found, "lang": lang},
        status_code=200 if found.found else 404,
    )
