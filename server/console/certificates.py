"""Console pages for certificates: the register and its search, one certificate with its history
and the forms that change it, issuing from a course's results, and the list of those falling due
(as a page, CSV and a calendar feed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from server.accounts.models import Role
from server.audit import service as audit
from server.certificates import due, lookups, pdf, service
from server.certificates.models import Certificate, CertificateStatus
from server.certificates.service import STANDING_TEXT, Standing
from server.certificates.views import certificate_public, pdf_view
from server.config import Settings
from server.console.assessment_results import course_results_page
from server.console.pages import ConsoleLogin, ConsoleLoginDep, console_allow, language, render
from server.console.schedule import (
    PLANNER_FORMS,
    PLANNER_PAGES,
    PLANNERS,
    STAFF_PAGES,
    FormReader,
    Submitted,
    Translate,
    _message,
    _submitted,
    _translator,
    _tz,
    _when,
)
from server.deps import SessionDep, SettingsDep
from server.errors import NotFound, SafetrainError
from server.scheduling import feeds
from server.scheduling import service as scheduling
from server.scheduling.feeds import FeedKeyCreate
from server.scheduling.models import FeedSubject
from server.trainees import service as trainees
from server.trainees.identity import mask_id_number
from server.trainees.routes import FULL_IDENTITY

router = APIRouter(prefix="/console")
ADMIN_FORMS = console_allow(Role.admin, form=True)
PAGE_SIZE = 50
DEFAULT_DAYS = 60
# Notices the certificate page shows after a redirect, by the key in ?done=.
DONE_NOTICES = frozenset({"suspended", "reinstated", "revoked", "reviewed", "reissued", "recorded"})
# Standing in words first; the tag's colour only repeats it.
STANDING_TAGS = {
    Standing.valid: "ok",
    Standing.expiring: "warn",
    Standing.expired: "bad",
    Standing.suspended: "bad",
    Standing.revoked: "bad",
    Standing.superseded: "",
}
ACTIONS = {
    "certificate.issue": "ce_action_issue",
    "certificate.reissue": "ce_action_reissue",
    "certificate.supersede": "ce_action_supersede",
    "certificate.suspend": "ce_action_suspend",
    "certificate.reinstate": "ce_action_reinstate",
    "certificate.revoke": "ce_action_revoke",
    "certificate.review": "ce_action_review",
}


def standing_words(standing: Standing, lang: str) -> str:
    zh, en = STANDING_TEXT[standing]
    return en if lang == "en" else zh


def kind_words(kind: str, lang: str) -> str:
    zh, en = due.KIND_TEXT[kind]
    return en if lang == "en" else zh


def _days_left(days: int, t: Translate) -> str:
    if days < 0:
        return t("ce_overdue_by", n=-days)
    if days == 0:
        return t("ce_due_today")
    return t("ce_days_left", n=days)


# --- the register ------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateLine:
    number: str
    trainee_id: int
    trainee_name: str
    id_masked: str
    curriculum: str
    issued_on: str
    standing: str
    tag: str
    due_on: str  # empty when nothing falls due (revoked, suspended, superseded)
    due_kind: str


def _line(
    cert: Certificate, name: str, id_number: str, lang: str, superseded: bool
) -> CertificateLine:
    on = service.today()
    standing = service.standing(cert, on, superseded=superseded)
    due_on, kind = service.due_date(cert)
    pending = standing in (Standing.valid, Standing.expiring, Standing.expired)
    return CertificateLine(
        number=cert.number,
        trainee_id=cert.trainee_id,
        trainee_name=name,
        id_masked=mask_id_number(id_number),
        curriculum=cert.curriculum_code,
        issued_on=cert.issued_on.isoformat(),
        standing=standing_words(standing, lang),
        tag=STANDING_TAGS[standing],
        due_on=due_on.isoformat() if pending else "",
        due_kind=kind_words(kind, lang) if pending else "",
    )


@router.get("/certificates", **STAFF_PAGES)
def certificate_list(
    request: Request,
    session: SessionDep,
    login: ConsoleLoginDep,
    q: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """The register: search by certificate number, trainee name or ID number; standing in words."""
    lang = language(request)
    rows, count = lookups.search(session, q, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    superseded = lookups.superseded_ids(session, (c.id for c, _ in rows if c.id is not None))
    lines = [_line(c, t.name, t.id_number, lang, c.id in superseded) for c, t in rows]
    return render(
        request,
        "certificates/index.html",
        {
            "lines": lines,
            "q": q or "",
            "count": count,
            "page": page,
            "pages": max(1, (count + PAGE_SIZE - 1) // PAGE_SIZE),
            "can_plan": login.role in PLANNERS,
        },
        login=login,
    )


# --- falling due -------------------------------------------------------------------------

DaysQuery = Annotated[int, Query(ge=1, le=due.MAX_DAYS)]


@router.get("/certificates/due", **PLANNER_PAGES)
def due_page(
    request: Request, session: SessionDep, login: ConsoleLoginDep, days: DaysQuery = DEFAULT_DAYS
) -> Response:
    """Valid certificates whose review or renewal falls due within `days` (or is overdue)."""
    lang, t = language(request), _translator(request)
    lines = due.due_lines(session, days)
    return render(
        request,
        "certificates/due.html",
        {
            "days": days,
            "max_days": due.MAX_DAYS,
            "lines": [
                (
                    line,
                    kind_words(line.kind, lang),
                    _days_left(line.days_left, t),
                    standing_words(line.standing, lang),
                    STANDING_TAGS[line.standing],
                )
                for line in lines
            ],
        },
        login=login,
    )


@router.get("/certificates/due.csv", **PLANNER_PAGES)
def due_csv(
    session: SessionDep, login: ConsoleLoginDep, days: DaysQuery = DEFAULT_DAYS
) -> Response:
    """The due list as CSV (UTF-8 with BOM, for Excel)."""
    lines = due.due_lines(session, days, full_identity=login.role in FULL_IDENTITY)
    return Response(
        due.to_csv(lines),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": due.csv_disposition(days)},
    )


@router.post("/certificates/due/feed", **PLANNER_FORMS)
async def due_feed_create(
    request: Request, session: SessionDep, login: ConsoleLoginDep
) -> Response:
    """Make a secret calendar address (.ics) of the due list; it is shown only once."""
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    days = read.integer("days")
    if days is None or not 1 <= days <= due.MAX_DAYS:
        days = DEFAULT_DAYS
    data = FeedKeyCreate(subject_type=FeedSubject.certificates_due, subject_id=days)
    key, secret = feeds.create_key(session, login.actor, data, own_trainee_id=login.user.trainee_id)
    base = str(request.base_url).rstrip("/")
    return render(
        request,
        "certificates/feed_created.html",
        {"url": f"{base}/feeds/{secret}.ics", "key": key, "days": days},
        login=login,
        status_code=201,
    )


# --- issuing from a course's results -----------------------------------------------------


@router.post("/courses/{course_id}/trainees/{trainee_id}/certificate", **PLANNER_FORMS)
async def issue_from_results(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    course_id: int,
    trainee_id: int,
) -> Response:
    """Issue a ready trainee's certificate; the results page then shows its number."""
    scheduling.get_course(session, course_id)
    try:
        cert, _ = service.issue(session, settings, login.actor, trainee_id, course_id)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        session.rollback()
        return course_results_page(
            request,
            session,
            login,
            course_id,
            refusal=(trainee_id, _message(request, exc)),
            status_code=exc.status,
        )
    return RedirectResponse(
        f"/console/courses/{course_id}/results?issued={cert.number}#trainee-{trainee_id}",
        status_code=303,
    )


# --- one certificate ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryLine:
    at: str
    action: str
    actor: str
    change: str
    reason: str


def _history(request: Request, session: Session, cert: Certificate) -> list[HistoryLine]:
    lang, t = language(request), _translator(request)
    lines = []
    for event in audit.list_events(
        session, entity_type="certificate", entity_id=str(cert.id), limit=1000
    ):
        before: dict[str, Any] = json.loads(event.before or "{}")
        after: dict[str, Any] = json.loads(event.after or "{}")
        change = ""
        if event.action in ("certificate.issue", "certificate.reissue"):
            change = t("ce_history_issued", until=after.get("valid_until", ""))
        elif event.action == "certificate.supersede":
            change = t("ce_history_superseded", number=after.get("superseded_by", ""))
        elif event.action == "certificate.review":
            next_due = after.get("review_due")
            change = t(
                "ce_history_reviewed",
                day=after.get("reviewed_on", ""),
                hours=f"{int(after.get('minutes', 0)) / 60:.1f}",
                next=next_due or t("ce_none"),
            )
        elif before.get("status") != after.get("status"):
            change = " → ".join(
                standing_words(Standing(s), lang) for s in (before["status"], after["status"])
            )
        key = ACTIONS.get(event.action)
        lines.append(
            HistoryLine(
                at=_when(event.at, _tz(request)),
                action=t(key) if key else event.action,
                actor=event.actor,
                change=change,
                reason=event.reason or "",
            )
        )
    return lines


@dataclass
class Failed:
    """A form on the certificate page shown again with what was typed and what was wrong."""

    name: str
    form: Submitted
    errors: dict[str, str]


def _detail_page(
    request: Request,
    session: Session,
    settings: Settings,
    login: ConsoleLogin,
    number: str,
    *,
    failed: Failed | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    lang = language(request)
    cert = service.get(session, number)
    assert cert.id is not None
    public = certificate_public(session, settings, cert)
    trainee = trainees.get(session, cert.trainee_id)
    course = scheduling.get_course(session, cert.course_id)
    standing = Standing(public.standing)
    reviews = lookups.reviews_of(session, cert.id)
    operation = lookups.operation_certificates_of(session, cert.trainee_id)
    linked = lookups.numbers_by_id(
        session, (o.certificate_id for o in operation if o.certificate_id)
    )
    people = scheduling.user_names(
        session,
        [u for u in [cert.issued_by, *(r.recorded_by for r in reviews)] if u is not None],
    )
    refresher_courses = [
        c for c in lookups.enrolled_courses(session, cert.trainee_id) if c.id != cert.course_id
    ]
    courses = scheduling.courses_by_id(
        session, [r.refresher_course_id for r in reviews if r.refresher_course_id]
    )
    forms: dict[str, Submitted] = {}
    errors: dict[str, dict[str, str]] = {}
    if failed is not None:
        forms[failed.name] = failed.form
        errors[failed.name] = failed.errors
    is_admin, is_planner = login.role is Role.admin, login.role in PLANNERS
    live = cert.status == CertificateStatus.valid
    return render(
        request,
        "certificates/detail.html",
        {
            "cert": cert,
            "public": public,
            "standing": standing_words(standing, lang),
            "tag": STANDING_TAGS[standing],
            "due_kind": kind_words(public.due_kind, lang),
            "pending": standing in (Standing.valid, Standing.expiring, Standing.expired),
            "trainee": trainee,
            "id_number": (
                trainee.id_number
                if login.role in FULL_IDENTITY
                else mask_id_number(trainee.id_number)
            ),
            "course": course,
            "curriculum": public.curriculum_title.en
            if lang == "en"
            else public.curriculum_title.zh,
            "issued_by": people.get(cert.issued_by, "") if cert.issued_by else "",
            "issued_at": _when(cert.issued_at, _tz(request)),
            "status_changed_at": _when(cert.status_changed_at, _tz(request)),
            "history": _history(request, session, cert),
            "reviews": [
                (
                    r,
                    courses.get(r.refresher_course_id) if r.refresher_course_id else None,
                    f"{r.refresher_minutes / 60:.1f}",
                    people.get(r.recorded_by, "") if r.recorded_by else "",
                )
                for r in reviews
            ],
            "operation": [(o, linked.get(o.certificate_id or 0, "")) for o in operation],
            "refresher_courses": refresher_courses,
            "today": service.today().isoformat(),
            "may": {
                "suspend": is_admin and cert.status == CertificateStatus.valid,
                "reinstate": is_admin and cert.status == CertificateStatus.suspended,
                "revoke": is_admin and cert.status != CertificateStatus.revoked,
                "reissue": is_admin and live and public.superseded_by is None,
                "review": is_planner and live and cert.review_due is not None,
                "operation": is_planner,
            },
            "forms": forms,
            "errors": errors,
            "blank": Submitted(),
            "done": done if done in DONE_NOTICES else None,
        },
        login=login,
        status_code=status_code,
    )


@router.get("/certificates/{number}", **STAFF_PAGES)
def certificate_detail(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One certificate: facts, standing, history, reviews, operation certificates, actions."""
    return _detail_page(request, session, settings, login, number, done=done)


@router.get("/certificates/{number}/pdf", **STAFF_PAGES)
def certificate_pdf(session: SessionDep, settings: SettingsDep, number: str) -> Response:
    """The printable certificate (PDF), as the trainee gets it."""
    cert = service.get(session, number)
    return Response(
        pdf.render_certificate(pdf_view(session, settings, cert)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{cert.number}.pdf"'},
    )


@router.get("/certificates/{number}/document", **STAFF_PAGES)
def certificate_document(session: SessionDep, number: str) -> Response:
    """The signed certificate (JSON with the compact JWS), for `safetrain cert verify`."""
    cert = service.get(session, number)
    body = json.dumps({"number": cert.number, "jws": cert.document}, separators=(",", ":"))
    return Response(
        body + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{cert.number}.json"'},
    )


@router.get("/certificates/{number}/qr.png", **STAFF_PAGES)
def certificate_qr(session: SessionDep, settings: SettingsDep, number: str) -> Response:
    """The verification QR code, to show on the page."""
    cert = service.get(session, number)
    return Response(
        pdf.render_qr_png(service.verify_url(settings, cert.number), 6), media_type="image/png"
    )


def _refused(
    request: Request,
    session: Session,
    settings: Settings,
    login: ConsoleLogin,
    number: str,
    name: str,
    form: Submitted,
    errors: dict[str, str],
    status_code: int,
) -> Response:
    session.rollback()
    return _detail_page(
        request,
        session,
        settings,
        login,
        number,
        failed=Failed(name, form, errors),
        status_code=status_code,
    )


def _after(request: Request, exc: SafetrainError, fields: dict[str, str]) -> dict[str, str]:
    """A service's refusal at the top of the form, and next to each field it names."""
    message = _message(request, exc)
    errors = {"_": message}
    if isinstance(exc.details, list):
        for detail in exc.details:
            name = fields.get(str(detail.get("field")))
            if name:
                # A detail's message is "中文 / English": the page's language only.
                zh, _, en = str(detail.get("message", "")).partition(" / ")
                errors.setdefault(name, (en if language(request) == "en" else zh) or message)
    return errors


def _done(number: str, done: str, anchor: str = "") -> Response:
    return RedirectResponse(f"/console/certificates/{number}?done={done}{anchor}", status_code=303)


async def _status_change(
    request: Request,
    session: Session,
    settings: Settings,
    login: ConsoleLogin,
    number: str,
    move: str,
) -> Response:
    cert = service.get(session, number)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    reason = read.text("reason", max_length=500)
    if move == "revoke" and form.get("confirm").upper() != cert.number:
        read.fail("confirm", "ce_revoke_confirm_wrong", number=cert.number)
    if read.errors:
        errors = {"_": read.t("err_form"), **read.errors}
        return _refused(request, session, settings, login, number, move, form, errors, 422)
    try:
        service.change_status(session, login.actor, cert.number, move, reason)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        errors = _after(request, exc, {"reason": "reason"})
        return _refused(request, session, settings, login, number, move, form, errors, exc.status)
    return _done(cert.number, service.MOVE_DONE[move])


@router.post("/certificates/{number}/suspend", **ADMIN_FORMS)
async def certificate_suspend(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
) -> Response:
    """Suspend a valid certificate, with the reason (audit-logged)."""
    return await _status_change(request, session, settings, login, number, "suspend")


@router.post("/certificates/{number}/reinstate", **ADMIN_FORMS)
async def certificate_reinstate(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
) -> Response:
    """Reinstate a suspended certificate, with the reason (audit-logged)."""
    return await _status_change(request, session, settings, login, number, "reinstate")


@router.post("/certificates/{number}/revoke", **ADMIN_FORMS)
async def certificate_revoke(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
) -> Response:
    """Revoke a certificate for good: the reason, and its number typed again to confirm."""
    return await _status_change(request, session, settings, login, number, "revoke")


@router.post("/certificates/{number}/reviews", **PLANNER_FORMS)
async def certificate_review(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
) -> Response:
    """Record a review (复审, Order 30): the date and the refresher course whose hours count."""
    cert = service.get(session, number)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    reviewed_on = read.date("reviewed_on")
    course_id = read.integer("refresher_course_id")
    if read.errors or reviewed_on is None or course_id is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _refused(request, session, settings, login, number, "review", form, errors, 422)
    try:
        service.record_review(
            session,
            login.actor,
            cert.number,
            reviewed_on=reviewed_on,
            refresher_course_id=course_id,
        )
    except SafetrainError as exc:  # the certificate exists: a NotFound is the course's
        errors = _after(request, exc, {})
        return _refused(
            request, session, settings, login, number, "review", form, errors, exc.status
        )
    return _done(cert.number, "reviewed", "#reviews")


@router.post("/certificates/{number}/reissue", **ADMIN_FORMS)
async def certificate_reissue(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
) -> Response:
    """Re-issue after renewal (换证): a new number and dates; the old one stays, superseded."""
    cert = service.get(session, number)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    reason = read.text("reason", max_length=500)
    if read.errors:
        errors = {"_": read.t("err_form"), **read.errors}
        return _refused(request, session, settings, login, number, "reissue", form, errors, 422)
    try:
        new = service.reissue(session, settings, login.actor, cert.number, reason=reason)
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        errors = _after(request, exc, {"reason": "reason"})
        return _refused(
            request, session, settings, login, number, "reissue", form, errors, exc.status
        )
    return _done(new.number, "reissued")


@router.post("/certificates/{number}/operation-certificates", **PLANNER_FORMS)
async def operation_certificate_record(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    login: ConsoleLoginDep,
    number: str,
) -> Response:
    """Record the authority's special-operation certificate (操作证) for this trainee."""
    cert = service.get(session, number)
    form = await _submitted(request)
    read = FormReader(form, _translator(request))
    op_number = read.text("op_number", max_length=40)
    authority = read.text("authority", max_length=100)
    issued_on = read.date("issued_on")
    valid_until = read.date("valid_until")
    category = read.text("operation_category", required=False, max_length=40)
    if read.errors or issued_on is None or valid_until is None:
        errors = {"_": read.t("err_form"), **read.errors}
        return _refused(request, session, settings, login, number, "operation", form, errors, 422)
    try:
        service.record_operation_certificate(
            session,
            login.actor,
            cert.trainee_id,
            number=op_number,
            authority=authority,
            issued_on=issued_on,
            valid_until=valid_until,
            operation_category=category or None,
            certificate_number=cert.number,
        )
    except SafetrainError as exc:
        if isinstance(exc, NotFound):
            raise
        fields = {
            "number": "op_number",
            "authority": "authority",
            "issued_on": "issued_on",
            "valid_until": "valid_until",
        }
        errors = _after(request, exc, fields)
        return _refused(
            request, session, settings, login, number, "operation", form, errors, exc.status
        )
    return _done(cert.number, "recorded", "#operation")
