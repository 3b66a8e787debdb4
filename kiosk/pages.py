"""Rendering for kiosk pages: templates, language, which kiosk this screen is, who is signed in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from server.accounts import kiosk as kiosks
from server.accounts.kiosk import Kiosk, KioskTrainee
from server.deps import LANG_COOKIE, SessionDep, SettingsDep
from server.errors import NotAuthenticated, SafetrainError
from server.i18n import pick_language, translate
from server.scheduling.models import SessionKind

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=TEMPLATES_DIR)

# Both cookies live under /kiosk only, and SameSite=Strict: a page of another site can neither
# read them nor make the browser send them, so a kiosk form needs no CSRF token of its own.
DEVICE_COOKIE = "safetrain_kiosk_device"
SESSION_COOKIE = "safetrain_kiosk_session"
COOKIE_PATH = "/kiosk"
DEVICE_COOKIE_MAX_AGE = 5 * 365 * 86400

NOT_SET_UP = "kiosk_not_set_up"
SIGNED_OUT = "kiosk_signed_out"


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return pick_language(chosen or request.app.state.settings.default_language)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.session_cookie_secure,
    )


def get_kiosk(request: Request, session: SessionDep) -> Kiosk:
    secret = request.cookies.get(DEVICE_COOKIE)
    found = kiosks.resolve_device(session, secret) if secret else None
    if found is None:
        raise NotAuthenticated(
            "此屏幕尚未设置为自助终端",
            "this screen is not set up as a kiosk",
            code=NOT_SET_UP,
        )
    return found


KioskDep = Annotated[Kiosk, Depends(get_kiosk)]


def get_kiosk_trainee(
    request: Request, session: SessionDep, settings: SettingsDep, kiosk: KioskDep
) -> KioskTrainee:
    """The trainee signed in at this kiosk; an idle or ended session is refused (and forgotten)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    found = kiosks.resume_session(session, settings, kiosk, cookie) if cookie else None
    if found is None:
        raise NotAuthenticated("请重新登录", "please sign in again", code=SIGNED_OUT)
    return found


KioskTraineeDep = Annotated[KioskTrainee, Depends(get_kiosk_trainee)]


def kiosk_allow(who: str) -> dict[str, Any]:
    """Route keyword arguments stating (x-roles) who may open a kiosk page: "public" (setting the
    screen up), "kiosk" (any screen set up as a kiosk) or "trainee" (signed in at that kiosk).
    The dependencies above enforce it; the route names them as parameters."""
    return {"openapi_extra": {"x-roles": [who]}, "include_in_schema": False}


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    idle: str | None = None,
) -> HTMLResponse:
    """A kiosk page. idle="session" counts down to signing out, idle="page" back to welcome."""
    lang = language(request)
    settings = request.app.state.settings

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    ctx: dict[str, Any] = {
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "t": t,
        "other": lambda key, **v: translate(key, "en" if lang == "zh" else "zh", **v),
        "path": request.url.path,
        "idle_mode": idle,
        "idle_seconds": settings.kiosk_idle_seconds,
        "kind": lambda k: SessionKind(k).label(lang),
        "local": lambda v: v.astimezone(settings.tz).strftime("%H:%M") if v else "",
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def error_page(request: Request, exc: SafetrainError) -> Response:
    if isinstance(exc, NotAuthenticated) and exc.code == NOT_SET_UP:
        return RedirectResponse("/kiosk/setup", status_code=303)
    if isinstance(exc, NotAuthenticated) and exc.code == SIGNED_OUT:
        response = RedirectResponse("/kiosk?signed_out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response
    lang = language(request)
    return render(
        request,
        "error.html",
        {"message": exc.en if lang == "en" else exc.zh, "code": exc.code},
        status_code=exc.status,
    )
