"""Regulator API: certificates by filter and cursor, changes since a sequence number, a
trainee's results and hours, the bulk export — each call logged — and the log itself (admin)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Engine

from server.accounts.models import Role
from server.certificates.service import Standing, today
from server.deps import PrincipalDep, SessionDep, SettingsDep, allow, client_address, get_engine
from server.regulator import export, service
from server.regulator.models import RegulatorAccessList, RegulatorAccessPublic

router = APIRouter(prefix="/api/v1/regulator", tags=["regulator"])
# Admin reads what the regulator reads (to check what is handed over); both are logged.
READERS = (Role.regulator, Role.admin)
EngineDep = Annotated[Engine, Depends(get_engine)]
NO_STORE = {"Cache-Control": "no-store"}  # people's data: no copies in caches on the way


def get_caller(request: Request, principal: PrincipalDep, settings: SettingsDep) -> service.Caller:
    return service.Caller(
        user_id=principal.user.id,
        token_id=principal.token.id,
        actor=principal.user.username,
        role=principal.role.value,
        address=client_address(request, settings),
    )


CallerDep = Annotated[service.Caller, Depends(get_caller)]


class RegulatorCertificate(BaseModel):
    """A certificate as the regulator receives it: full name and ID number (the access is logged)."""

    number: str
    standing: Standing  # as of `as_of`: the stored status, the successor and the dates
    status: str  # stored: valid, suspended or revoked
    status_reason: str | None
    status_changed_at: dt.datetime | None
    name: str
    id_type: str
    id_number: str
    sex: str
    employer: str
    curriculum_code: str
    curriculum_version: str
    curriculum_title_zh: str
    curriculum_title_en: str
    operation_category: str | None
    course_code: str
    rule_set: str
    issued_on: dt.date
    valid_until: dt.date
    review_due: dt.date | None
    supersedes: str | None
    superseded_by: str | None
    kid: str
    change_seq: int
    issued_at: dt.datetime


class CertificatePage(BaseModel):
    data: list[RegulatorCertificate]
    next_cursor: str | None  # null: this was the last page
    as_of: dt.date  # the day the standings are computed for


class ChangesPage(BaseModel):
    data: list[RegulatorCertificate]
    next_since: int  # pass as `since` next time
    more: bool  # true: ask again at once; false: caught up for now
    as_of: dt.date


class HoursLinePublic(BaseModel):
    kind: str
    required_minutes: int
    credited_minutes: int


class CourseHoursPublic(BaseModel):
    course: str
    curriculum_code: str
    curriculum_version: str
    starts_on: dt.date
    ends_on: dt.date
    enrolment: str | None
    hours: list[HoursLinePublic]


class AttemptPublic(BaseModel):
    course: str | None
    curriculum_code: str
    part: str
    source: str
    status: str  # final or superseded (a correction replaced it)
    version: int
    score: str | None
    passed: bool | None
    veto_failed: list[str]
    taken_at: dt.datetime
    rule_set: str
    correction_reason: str | None


class TraineeResultsPublic(BaseModel):
    name: str
    id_type: str
    id_number: str
    sex: str
    birth_date: dt.date
    employer: str
    courses: list[CourseHoursPublic]
    attempts: list[AttemptPublic]
    certificates: list[str]


class ResultsAnswer(BaseModel):
    id_number: str
    trainees: list[TraineeResultsPublic]


Limit = Annotated[int, Query(ge=1, le=service.MAX_LIMIT)]


def get_filters(
    curriculum: Annotated[str | None, Query(max_length=40, description="curriculum code")] = None,
    status: Annotated[
        list[Standing] | None, Query(description="standing today; repeat for several")
    ] = None,
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
    employer: Annotated[str | None, Query(max_length=100, description="exact name")] = None,
    id_number: Annotated[str | None, Query(max_length=40)] = None,
) -> service.Filters:
    return service.filters(
        curriculum=curriculum,
        standings=status or (),
        issued_from=issued_from,
        issued_to=issued_to,
        employer=employer,
        id_number=id_number,
    )


FiltersDep = Annotated[service.Filters, Depends(get_filters)]


@router.get("/certificates", response_model=CertificatePage, **allow(*READERS))
def list_certificates(
    session: SessionDep,
    caller: CallerDep,
    wanted: FiltersDep,
    response: Response,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = service.DEFAULT_LIMIT,
) -> CertificatePage:
    """Certificates by curriculum, standing, issue dates, employer or ID number, a page at a time."""
    page = service.list_certificates(session, caller, wanted, cursor=cursor, limit=limit)
    response.headers.update(NO_STORE)
    return CertificatePage(
        data=[RegulatorCertificate(**r) for r in page.records],
        next_cursor=page.next_cursor,
        as_of=page.as_of,
    )


@router.get("/changes", response_model=ChangesPage, **allow(*READERS))
def list_changes(
    session: SessionDep,
    caller: CallerDep,
    response: Response,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Limit = service.DEFAULT_LIMIT,
) -> ChangesPage:
    """Certificates changed after `since`, in change order, each once at its latest state."""
    found = service.changes(session, caller, since, limit=limit)
    response.headers.update(NO_STORE)
    return ChangesPage(
        data=[RegulatorCertificate(**r) for r in found.records],
        next_since=found.next_since,
        more=found.more,
        as_of=found.as_of,
    )


@router.get("/trainees/{id_number}/results", response_model=ResultsAnswer, **allow(*READERS))
def trainee_results(
    session: SessionDep, caller: CallerDep, response: Response, id_number: str
) -> ResultsAnswer:
    """A trainee's attempts (final and superseded) and attendance hours per course and kind."""
    found = service.trainee_results(session, caller, id_number)
    response.headers.update(NO_STORE)
    return ResultsAnswer.model_validate(
        {"id_number": id_number.strip().upper(), "trainees": found}, from_attributes=True
    )


@router.get(
    "/export",
    response_class=export.ExportResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/x-ndjson": {}}},
    },
    **allow(*READERS),
)
def export_certificates(
    session: SessionDep,
    engine: EngineDep,
    caller: CallerDep,
    wanted: FiltersDep,
    format: Literal["csv", "ndjson"] = "csv",
    bom: Annotated[bool | None, Query(description="UTF-8 BOM (CSV; default on, for Excel)")] = None,
) -> export.ExportResponse:
    """Every certificate (or those the filters keep) as CSV or NDJSON, streamed."""
    with_bom = export.check_format(format, bom)
    on = today()
    query: dict[str, Any] = {**wanted.as_query(), "format": format, "bom": with_bom}
    log_id = service.start_export(session, caller, query)
    body = export.stream(
        export.chunks(engine, format, wanted, on, bom=with_bom),
        partial(service.export_progress, engine, log_id),
        partial(service.export_ended, engine, log_id),
    )
    name = f"certificates-{on.isoformat()}.{format}"
    return export.ExportResponse(
        body,
        media_type=export.MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Standing-As-Of": on.isoformat(),
            **NO_STORE,
        },
    )


@router.get("/access", response_model=RegulatorAccessList, **allow(Role.admin))
def access_log(
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Limit = service.DEFAULT_LIMIT,
) -> RegulatorAccessList:
    """Who read regulator data, when, what and how many records (oldest first)."""
    rows = service.access_log(session, after=after, limit=limit)
    return RegulatorAccessList(
        data=[RegulatorAccessPublic.model_validate(r, from_attributes=True) for r in rows],
        next_after=rows[-1].id if len(rows) == limit else None,
    )
