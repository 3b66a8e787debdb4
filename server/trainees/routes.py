"""API for the trainee registry: register, search, change, re-issue badges, kiosk PINs, import
rosters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Query, UploadFile
from fastapi.responses import Response

from server.accounts import badges, pins
from server.accounts.models import Role
from server.deps import PrincipalDep, SessionDep, allow
from server.errors import NotPermitted
from server.trainees import roster, service
from server.trainees.models import (
    EmployerPublic,
    EmployersPublic,
    ImportReport,
    TraineeCreate,
    TraineePublic,
    TraineesPublic,
    TraineeUpdate,
)
from server.uploads import read_upload

router = APIRouter(prefix="/api/v1", tags=["trainees"])

# Roles that see full ID numbers, phones and badges; everyone else gets them masked.
FULL_IDENTITY = frozenset({Role.admin, Role.trainer})


def _public(session: SessionDep, principal: PrincipalDep, trainee_id: int) -> TraineePublic:
    trainee = service.get(session, trainee_id)
    employer = service.employer_of(session, trainee)
    own = principal.role is Role.trainee and principal.user.trainee_id == trainee.id
    return service.public(trainee, employer, full_identity=principal.role in FULL_IDENTITY or own)


@router.get(
    "/trainees", response_model=TraineesPublic, **allow(Role.admin, Role.trainer, Role.examiner)
)
def search_trainees(
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[str | None, Query(max_length=50)] = None,
    employer_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TraineesPublic:
    """Search trainees by name, ID number (full or last digits), phone or badge."""
    rows, count = service.search(session, q=q, employer_id=employer_id, offset=offset, limit=limit)
    full = principal.role in FULL_IDENTITY
    return TraineesPublic(
        data=[service.public(t, e, full_identity=full) for t, e in rows], count=count
    )


@router.post(
    "/trainees", response_model=TraineePublic, status_code=201, **allow(Role.admin, Role.trainer)
)
def register_trainee(
    session: SessionDep, principal: PrincipalDep, data: TraineeCreate
) -> TraineePublic:
    """Register a trainee."""
    trainee = service.register(session, principal.actor, data)
    assert trainee.id is not None
    return _public(session, principal, trainee.id)


@router.get(
    "/trainees/{trainee_id}",
    response_model=TraineePublic,
    **allow(Role.admin, Role.trainer, Role.examiner, Role.trainee),
)
def get_trainee(session: SessionDep, principal: PrincipalDep, trainee_id: int) -> TraineePublic:
    """One trainee; a trainee may read only their own record."""
    if principal.role is Role.trainee and principal.user.trainee_id != trainee_id:
        raise NotPermitted(
            "学员只能查看本人的记录",
            "trainees may read only their own record",
            code="not_own_record",
        )
    return _public(session, principal, trainee_id)


@router.patch(
    "/trainees/{trainee_id}", response_model=TraineePublic, **allow(Role.admin, Role.trainer)
)
def update_trainee(
    session: SessionDep, principal: PrincipalDep, trainee_id: int, data: TraineeUpdate
) -> TraineePublic:
    """Change a trainee's name, phone, employer, job or education (identity is fixed)."""
    service.update(session, principal.actor, trainee_id, data)
    return _public(session, principal, trainee_id)


@router.post(
    "/trainees/{trainee_id}/badge", response_model=TraineePublic, **allow(Role.admin, Role.trainer)
)
def reissue_badge(
    session: SessionDep,
    principal: PrincipalDep,
    trainee_id: int,
    reason: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> TraineePublic:
    """A card lost: a new badge code, and the card's kiosk QR stops signing anyone in. The trainee
    signs in by ID number + PIN until a new card is printed (POST …/kiosk-badge)."""
    badges.report_lost(session, principal.actor, trainee_id, reason)
    return _public(session, principal, trainee_id)


@router.put("/trainees/{trainee_id}/pin", status_code=204, **allow(Role.admin, Role.trainer))
def set_pin(
    session: SessionDep,
    principal: PrincipalDep,
    trainee_id: int,
    pin: Annotated[str, Body(embed=True, max_length=16)],
) -> Response:
    """Set or reset the trainee's 6-digit kiosk PIN (never shown back)."""
    pins.set_pin(session, principal.actor, trainee_id, pin)
    return Response(status_code=204)


@router.post("/trainees/import", response_model=ImportReport, **allow(Role.admin, Role.trainer))
async def import_roster(
    session: SessionDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX roster")],
    valid_only: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import a roster; nothing is imported if any row is bad unless valid_only is set."""
    data = await read_upload(file)
    return service.import_roster(
        session,
        principal.actor,
        data,
        file.filename or "roster",
        valid_only=valid_only,
        dry_run=dry_run,
    )


@router.get("/trainees-template.xlsx", **allow(Role.admin, Role.trainer))
def roster_template() -> Response:
    """An XLSX roster template with the expected columns and one example row."""
    return Response(
        roster.roster_template_xlsx(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"content-disposition": 'attachment; filename="roster-template.xlsx"'},
    )


@router.get("/employers", response_model=EmployersPublic, **allow(Role.admin, Role.trainer))
def list_employers(session: SessionDep) -> EmployersPublic:
    """Employers that have sent trainees."""
    rows = service.list_employers(session)
    return EmployersPublic(
        data=[EmployerPublic.model_validate(e, from_attributes=True) for e in rows], count=len(rows)
    )
