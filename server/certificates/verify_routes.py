"""Public certificate verification by number: a page (the PDF's QR code opens it) and an API.

No login. Each client address may look up `SAFETRAIN_VERIFY_RATE_PER_MINUTE` numbers a minute
(a moving window per server process, server/ratelimit.py), so the register cannot be walked
by trying numbers; the answer carries only the masked facts of `views.Verification`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from server.certificates.views import Verification, verification
from server.config import Settings
from server.deps import ReadSessionDep, SettingsDep, client_address
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


def _verification(session: Session, settings: Settings, number: str) -> Verification:
    with session:  # closed in this thread hop, not in one of its own
        return verification(session, settings, number)


@router.get("/api/v1/verify/{number}", response_model=Verification, **PUBLIC)
async def verify_api(
    request: Request, session: ReadSessionDep, settings: SettingsDep, number: str
) -> Verification:
    """A certificate's status, masked holder, curriculum, dates and signature check."""
    # async, with the database work in one thread hop: each hop costs about as much as the
    # look-up itself (docs/benchmarks.md, certificate verification).
    _limit(request, settings.verify_rate_per_minute)
    return await run_in_threadpool(_verification, session, settings, number[:40])


@router.get("/verify/{number}", response_class=HTMLResponse, **PUBLIC)
def verify_page(
    request: Request, session: ReadSessionDep, settings: SettingsDep, number: str
) -> HTMLResponse:
    """The page a phone opens from the certificate's QR code."""
    _limit(request, settings.verify_rate_per_minute)
    found = verification(session, settings, number[:40])
    lang = pick_language(request.query_params.get("lang") or settings.default_language)
    return templates.TemplateResponse(
        request,
        "verify.html",
        {"v": found, "lang": lang},
        status_code=200 if found.found else 404,
    )
