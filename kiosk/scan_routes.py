"""The kiosk's camera: signing in by holding a badge QR up to it. The page sends frames; the
server decodes them (OpenCV) and forgets them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from kiosk.pages import SESSION_COOKIE, KioskDep, kiosk_allow, language, render, set_cookie
from server.accounts import badges
from server.accounts import kiosk as kiosks
from server.deps import SessionDep, SettingsDep
from server.errors import InvalidInput, SafetrainError

router = APIRouter(prefix="/kiosk", tags=["kiosk"])


async def frame_bytes(request: Request) -> bytes | None:
    """The request's body; None past badges.MAX_FRAME_BYTES, without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > badges.MAX_FRAME_BYTES:
        return None
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > badges.MAX_FRAME_BYTES:
            return None
    return bytes(data)


def refusal(request: Request, exc: SafetrainError) -> JSONResponse:
    """A scan the server refused, as scan.js shows it: the reason in the page's language."""
    lang = language(request)
    status = 400 if isinstance(exc, InvalidInput) else exc.status
    response = JSONResponse(
        {"status": "refused", "error": exc.code, "message": exc.en if lang == "en" else exc.zh},
        status_code=status,
    )
    response.headers.update(exc.headers())
    return response


@router.get("/scan", **kiosk_allow("kiosk"))
def scan_page(request: Request, kiosk: KioskDep) -> Response:
    """Hold your badge up to the camera."""
    return render(request, "scan.html", {"kiosk": kiosk}, idle="page")


@router.post("/scan/badge", **kiosk_allow("kiosk"))
def scan_badge(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    kiosk: KioskDep,
    data: Annotated[bytes | None, Depends(frame_bytes)],
) -> Response:
    """One camera frame (JPEG): a good badge signs its trainee in, as ID number + PIN does."""
    try:
        texts = badges.read_frame(data)  # None (too large) is refused there
        badge = next((t for t in texts if badges.is_badge_text(t)), None)
        if badge is None:
            return JSONResponse({"status": "none" if not texts else "not_a_badge"})
        user = badges.sign_in(session, settings, kiosk, badge)
        started = kiosks.start_session(session, settings, kiosk, user)
    except SafetrainError as exc:
        return refusal(request, exc)
    response = JSONResponse({"status": "signed_in", "next": "/kiosk/home"})
    set_cookie(request, response, SESSION_COOKIE, started.cookie)
    return response
