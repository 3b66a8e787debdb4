"""Rendering for console pages: templates, language, CSRF, the console's login, error pages."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from server.accounts import service as accounts
from server.accounts.models import LoginSession, Role, User
from server.accounts.security import new_secret
from server.audit.service import Actor
from server.deps import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, SessionDep
from server.errors import NotAuthenticated, NotPermitted, SafetrainError
from server.i18n import pick_language, translate

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return pick_language(chosen or request.app.state.settings.default_language)


def _local(value: dt.datetime | None, request: Request) -> str:
    if value is None:
        return ""
    return value.astimezone(request.app.state.settings.tz).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class ConsoleLogin:
    user: User
    login: LoginSession

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def actor(self) -> Actor:
        return Actor(name=self.user.username, user_id=self.user.id, role=self.user.role)


def get_console_login(request: Request, session: SessionDep) -> ConsoleLogin:
    cookie = request.cookies.get(SESSION_COOKIE)
    found = accounts.resolve_login_session(session, cookie) if cookie else None
    if found is None:
        raise NotAuthenticated("请先登录", "please log in", code="login_required")
    return ConsoleLogin(*found)


ConsoleLoginDep = Annotated[ConsoleLogin, Depends(get_console_login)]


def console_allow(*roles: Role, form: bool = False) -> dict[str, Any]:
    """Route keyword arguments for a console page: enforce and state (x-roles) who may open it.

    With form=True the page takes a POSTed form, whose CSRF token is checked after the role.
    """
    allowed = frozenset(roles)

    def check(login: ConsoleLoginDep) -> None:
        if login.role not in allowed:
            raise NotPermitted(
                f"角色“{login.role.label('zh')}”无权访问此页面",
                f"the {login.role.value} role may not open this page",
            )

    dependencies = [Depends(check)]
    if form:
        dependencies.append(Depends(check_csrf))
    return {
        "dependencies": dependencies,
        "openapi_extra": {"x-roles": sorted(r.value for r in allowed)},
        "include_in_schema": False,
    }


async def check_csrf(request: Request, login: ConsoleLoginDep) -> None:
    """Every console form carries the login's CSRF token; a cross-site post cannot know it."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, login.login.csrf_token):
        raise NotPermitted(
            "表单已失效，请刷新页面后重试",
            "the form has expired; reload the page and try again",
            code="csrf_failed",
        )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    login: ConsoleLogin | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = language(request)

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    ctx: dict[str, Any] = {
        "lang": lang,
        "t": t,
        "login": login,
        "csrf_token": login.login.csrf_token if login else None,
        "local": lambda v: _local(v, request),
        "path": request.url.path,
        "Role": Role,
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def error_page(request: Request, exc: SafetrainError) -> Response:
    if isinstance(exc, NotAuthenticated) and exc.code == "login_required":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)
    lang = language(request)
    return render(
        request,
        "error.html",
        {"error": exc, "message": exc.en if lang == "en" else exc.zh},
        status_code=exc.status,
    )


def login_csrf(request: Request) -> str:
    """The anonymous login form uses a double-submit cookie, since there is no session yet."""
    return request.cookies.get(CSRF_COOKIE) or new_secret()
