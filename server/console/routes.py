"""Console pages: login, dashboard, trainees (list, search, register, detail, import), users."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from curricula import EducationLevel
from server.accounts import badges, pins
from server.accounts import service as accounts
from server.accounts.models import CONSOLE_ROLES, Role, UserCreate
from server.console.pages import (
    ConsoleLogin,
    ConsoleLoginDep,
    console_allow,
    error_page,
    language,
    login_csrf,
    render,
)
from server.deps import CSRF_COOKIE, SESSION_COOKIE, SessionDep, SettingsDep, client_address
from server.errors import InvalidInput, NotFound, SafetrainError
from server.i18n import bilingual
from server.trainees import roster
from server.trainees import service as trainees
from server.trainees.identity import IdType, Sex, education_label
from server.trainees.models import TraineeCreate
from server.trainees.routes import FULL_IDENTITY
from server.uploads import read_upload

STATIC_DIR = Path(__file__).resolve().parent / "static"
router = APIRouter(prefix="/console")
STAFF_PAGES = console_allow(Role.admin, Role.trainer, Role.examiner)
REGISTRY_PAGES = console_allow(Role.admin, Role.trainer)
REGISTRY_FORMS = console_allow(Role.admin, Role.trainer, form=True)
PAGE_SIZE = 50


def _safe_next(target: str | None) -> str:
    # Only local console paths, so the login form cannot be used as an open redirect.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


@router.get("/login", include_in_schema=False, openapi_extra={"x-roles": ["public"]})
def login_form(request: Request, next: str | None = None) -> Response:
    token = login_csrf(request)
    response = render(request, "login.html", {"next": _safe_next(next), "form_csrf": token})
    secure = request.app.state.settings.session_cookie_secure
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure)
    return response


@router.post("/login", include_in_schema=False, openapi_extra={"x-roles": ["public"]})
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    cookie_token = request.cookies.get(CSRF_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(cookie_token, csrf_token):
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "form_csrf": login_csrf(request),
                "error": bilingual("表单已失效，请重试", "the form expired, please try again"),
            },
            status_code=403,
        )
    address = client_address(request, settings)
    try:
        user = accounts.authenticate(session, settings, username, password, address)
    except SafetrainError as exc:
        lang = language(request)
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "form_csrf": cookie_token,
                "error": exc.en if lang == "en" else exc.zh,
                "username": username,
            },
            status_code=exc.status,
        )
    new = accounts.start_login_session(session, settings, user, address)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.cookie,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
    )
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/logout", **console_allow(*CONSOLE_ROLES, form=True))
def logout(request: Request, session: SessionDep) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.end_login_session(session, cookie)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("", **STAFF_PAGES)
def dashboard(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    _, count = trainees.search(session, limit=1)
    return render(request, "dashboard.html", {"trainee_count": count}, login=login)


@router.get("/trainees", **STAFF_PAGES)
def trainee_list(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    q: Annotated[str | None, Query(max_length=50)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    rows, count = trainees.search(session, q=q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    items = [trainees.public(t, e, full_identity=False) for t, e in rows]
    pages = max(1, (count + PAGE_SIZE - 1) // PAGE_SIZE)
    return render(
        request,
        "trainees.html",
        {
            "items": items,
            "count": count,
            "q": q or "",
            "page": page,
            "pages": pages,
            "education_label": education_label,
        },
        login=login,
    )


def _registration_context(
    form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> dict[str, object]:
    return {
        "form": form or {},
        "errors": errors or {},
        "id_types": list(IdType),
        "sexes": list(Sex),
        "education_levels": list(EducationLevel),
        "education_label": education_label,
    }


@router.get("/trainees/new", **REGISTRY_PAGES)
def trainee_new(request: Request, login: ConsoleLoginDep) -> Response:
    return render(request, "trainee_new.html", _registration_context(), login=login)


@router.post("/trainees/new", **REGISTRY_FORMS)
async def trainee_create(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    form = {
        k: v for k, v in (await request.form()).items() if isinstance(v, str) and k != "csrf_token"
    }
    lang = language(request)
    try:
        data = TraineeCreate.model_validate({k: v for k, v in form.items() if v.strip()})
        trainee = trainees.register(session, login.actor, data)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors()}
        return render(
            request,
            "trainee_new.html",
            _registration_context(form, errors),
            login=login,
            status_code=422,
        )
    except SafetrainError as exc:
        errors = {}
        if isinstance(exc, InvalidInput) and isinstance(exc.details, list):
            for d in exc.details:
                errors[d["field"]] = d["message"]
        else:
            errors["_"] = exc.en if lang == "en" else exc.zh
        return render(
            request,
            "trainee_new.html",
            _registration_context(form, errors),
            login=login,
            status_code=exc.status,
        )
    return RedirectResponse(f"/console/trainees/{trainee.id}", status_code=303)


@router.get("/trainees/import", **REGISTRY_PAGES)
def import_form(request: Request, login: ConsoleLoginDep) -> Response:
    return render(request, "import.html", {"report": None}, login=login)


@router.post("/trainees/import", **REGISTRY_FORMS)
async def import_upload(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    file: Annotated[UploadFile, File()],
    valid_only: Annotated[bool, Form()] = False,
) -> Response:
    try:
        data = await read_upload(file)
    except InvalidInput as exc:
        return error_page(request, exc)
    report = trainees.import_roster(
        session, login.actor, data, file.filename or "roster", valid_only=valid_only
    )
    status = 200 if not report.errors or report.imported else 422
    return render(request, "import.html", {"report": report}, login=login, status_code=status)


TEMPLATE_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@router.get("/trainees/template.{kind}", **REGISTRY_PAGES)
def import_template(kind: str) -> Response:
    if kind not in TEMPLATE_TYPES:
        raise NotFound("没有这种模板", "no such template", code="template_not_found")
    body = roster.roster_template_xlsx() if kind == "xlsx" else roster.roster_template_csv()
    return Response(
        body,
        media_type=TEMPLATE_TYPES[kind],
        headers={"content-disposition": f'attachment; filename="roster-template.{kind}"'},
    )


def _trainee_page(
    request: Request,
    session: SessionDep,
    login: ConsoleLogin,
    trainee_id: int,
    *,
    pin_error: str | None = None,
    badge_error: str | None = None,
    status_code: int = 200,
) -> Response:
    trainee = trainees.get(session, trainee_id)
    employer = trainees.employer_of(session, trainee)
    item = trainees.public(trainee, employer, full_identity=login.role in FULL_IDENTITY)
    return render(
        request,
        "trainee_detail.html",
        {
            "item": item,
            "education_label": education_label,
            "has_pin": pins.has_pin(session, trainee_id),
            "may_set_pin": login.role in FULL_IDENTITY,
            "pin_set_now": "pin_set" in request.query_params,
            "pin_error": pin_error,
            "card_lost_now": "card_lost" in request.query_params,
            "badge_error": badge_error,
        },
        login=login,
        status_code=status_code,
    )


@router.get("/trainees/{trainee_id}", **STAFF_PAGES)
def trainee_detail(
    request: Request, session: SessionDep, login: ConsoleLoginDep, trainee_id: int
) -> Response:
    return _trainee_page(request, session, login, trainee_id)


@router.post("/trainees/{trainee_id}/pin", **REGISTRY_FORMS)
def trainee_set_pin(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    trainee_id: int,
    pin: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Set or reset the trainee's kiosk PIN."""
    try:
        pins.set_pin(session, login.actor, trainee_id, pin.strip())
    except InvalidInput as exc:
        message = exc.en if language(request) == "en" else exc.zh
        return _trainee_page(
            request, session, login, trainee_id, pin_error=message, status_code=exc.status
        )
    return RedirectResponse(f"/console/trainees/{trainee_id}?pin_set=1", status_code=303)


@router.post("/trainees/{trainee_id}/badge-card", **REGISTRY_FORMS)
def trainee_badge_card(
    request: Request, session: SessionDep, login: ConsoleLoginDep, trainee_id: int
) -> Response:
    """Print a new badge card: a new badge code and kiosk QR; the card before stops working."""
    try:
        _, text = badges.issue(session, login.actor, trainee_id)
    except NotFound as exc:
        message = exc.en if language(request) == "en" else exc.zh
        return _trainee_page(
            request, session, login, trainee_id, badge_error=message, status_code=exc.status
        )
    trainee = trainees.get(session, trainee_id)
    return Response(
        badges.card_pdf(trainee, text),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="badge-{trainee.badge}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/trainees/{trainee_id}/badge-lost", **REGISTRY_FORMS)
def trainee_badge_lost(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    trainee_id: int,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A card lost: a new badge code, and the card's QR stops signing in at the kiosk."""
    badges.report_lost(session, login.actor, trainee_id, reason.strip() or None)
    return RedirectResponse(f"/console/trainees/{trainee_id}?card_lost=1", status_code=303)


@router.get("/users", **console_allow(Role.admin))
def users_page(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    users, count = accounts.list_users(session, limit=500)
    return render(
        request,
        "users.html",
        {"users": users, "count": count, "roles": list(Role), "errors": {}, "form": {}},
        login=login,
    )


@router.post("/users", **console_allow(Role.admin, form=True))
async def users_create(request: Request, session: SessionDep, login: ConsoleLoginDep) -> Response:
    form = {
        k: v for k, v in (await request.form()).items() if isinstance(v, str) and k != "csrf_token"
    }
    errors: dict[str, str] = {}
    try:
        data = UserCreate.model_validate({k: v for k, v in form.items() if v.strip()})
        accounts.create_user(session, login.actor, data)
    except ValidationError as exc:
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors()}
    except SafetrainError as exc:
        errors = {"_": exc.en if language(request) == "en" else exc.zh}
    if errors:
        users, count = accounts.list_users(session, limit=500)
        return render(
            request,
            "users.html",
            {"users": users, "count": count, "roles": list(Role), "errors": errors, "form": form},
            login=login,
            status_code=422,
        )
    return RedirectResponse("/console/users", status_code=303)
