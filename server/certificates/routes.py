"""Certificates API: issue, read, download, lifecycle, reviews, the authority's certificates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from server.accounts.models import Role
from server.certificates import pdf, service
from server.certificates.models import Certificate, OperationCertificate
from server.certificates.views import (
    CertificatePublic,
    certificate_public,
    certificates_public,
    pdf_view,
)
from server.deps import STAFF, PrincipalDep, SessionDep, SettingsDep, allow
from server.errors import NotPermitted

router = APIRouter(prefix="/api/v1", tags=["certificates"])
ISSUERS = (Role.admin, Role.trainer)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class ReviewCreate(BaseModel):
    reviewed_on: dt.date
    refresher_course_id: int


class ReviewPublic(BaseModel):
    certificate: str
    reviewed_on: dt.date
    refresher_minutes: int
    next_due: dt.date | None


class OperationCertificateCreate(BaseModel):
    number: str = Field(min_length=1, max_length=40)
    authority: str = Field(min_length=1, max_length=100)
    issued_on: dt.date
    valid_until: dt.date
    operation_category: str | None = Field(default=None, max_length=40)
    certificate: str | None = Field(default=None, max_length=32)  # the base's certificate number


class OperationCertificatePublic(BaseModel):
    id: int
    trainee_id: int
    number: str
    authority: str
    issued_on: dt.date
    valid_until: dt.date
    operation_category: str | None


class CertificateList(BaseModel):
    data: list[CertificatePublic]


def _own(principal: Any, trainee_id: int) -> None:
    if principal.role is Role.trainee and principal.user.trainee_id != trainee_id:
        raise NotPermitted(
            "只能查看本人的证书", "you may see only your own certificates", code="not_own_record"
        )


@router.post(
    "/courses/{course_id}/trainees/{trainee_id}/certificate",
    response_model=CertificatePublic,
    **allow(*ISSUERS),
)
def issue_certificate(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    response: Response,
    course_id: int,
    trainee_id: int,
) -> CertificatePublic:
    """Issue the trainee's certificate for the course (201), or return it if issued (200)."""
    cert, created = service.issue(session, settings, principal.actor, trainee_id, course_id)
    response.status_code = 201 if created else 200
    return certificate_public(session, settings, cert)


@router.get("/certificates", response_model=CertificateList, **allow(*STAFF, Role.trainee))
def list_certificates(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    trainee_id: int | None = None,
    course_id: int | None = None,
) -> CertificateList:
    """Certificates of a trainee or a course (a trainee: their own)."""
    if principal.role is Role.trainee:
        trainee_id = principal.user.trainee_id or -1
    query = select(Certificate).order_by(col(Certificate.id))
    if trainee_id is not None:
        query = query.where(Certificate.trainee_id == trainee_id)
    if course_id is not None:
        query = query.where(Certificate.course_id == course_id)
    rows = session.exec(query.limit(1000)).all()
    return CertificateList(data=certificates_public(session, settings, rows))


@router.get(
    "/certificates/due",
    response_model=CertificateList,
    **allow(Role.admin, Role.trainer),
)
def due_certificates(
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int, Query(ge=1, le=3660)] = 60,
) -> CertificateList:
    """Valid certificates whose review or renewal falls due within `days` (or is overdue)."""
    return CertificateList(
        data=certificates_public(session, settings, service.due_within(session, days))
    )


@router.get(
    "/certificates/{number}", response_model=CertificatePublic, **allow(*STAFF, Role.trainee)
)
def get_certificate(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str
) -> CertificatePublic:
    cert = service.get(session, number)
    _own(principal, cert.trainee_id)
    return certificate_public(session, settings, cert)


@router.get("/certificates/{number}/document", **allow(*STAFF, Role.trainee))
def certificate_document(session: SessionDep, principal: PrincipalDep, number: str) -> Response:
    """The signed certificate (JSON with the compact JWS): `safetrain cert verify` checks it."""
    cert = service.get(session, number)
    _own(principal, cert.trainee_id)
    body = f'{{"number":"{cert.number}","jws":"{cert.document}"}}\n'
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{cert.number}.json"'},
    )


@router.get(
    "/certificates/{number}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    **allow(*STAFF, Role.trainee),
)
def certificate_pdf(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str
) -> Response:
    """The printable certificate (PDF, Chinese and English, QR code of the verification page)."""
    cert = service.get(session, number)
    _own(principal, cert.trainee_id)
    return Response(
        pdf.render_certificate(pdf_view(session, settings, cert)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{cert.number}.pdf"'},
    )


@router.get(
    "/certificates/{number}/qr.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    **allow(*STAFF, Role.trainee),
)
def certificate_qr(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str
) -> Response:
    """The verification QR code, to show on a screen."""
    cert = service.get(session, number)
    _own(principal, cert.trainee_id)
    return Response(
        pdf.render_qr_png(service.verify_url(settings, cert.number), 8), media_type="image/png"
    )


@router.post(
    "/certificates/{number}/suspend", response_model=CertificatePublic, **allow(Role.admin)
)
def suspend_certificate(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str, data: Reason
) -> CertificatePublic:
    """Suspend a valid certificate, with the reason (audit-logged)."""
    cert = service.change_status(session, principal.actor, number, "suspend", data.reason)
    return certificate_public(session, settings, cert)


@router.post(
    "/certificates/{number}/reinstate", response_model=CertificatePublic, **allow(Role.admin)
)
def reinstate_certificate(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str, data: Reason
) -> CertificatePublic:
    """Reinstate a suspended certificate, with the reason (audit-logged)."""
    cert = service.change_status(session, principal.actor, number, "reinstate", data.reason)
    return certificate_public(session, settings, cert)


@router.post("/certificates/{number}/revoke", response_model=CertificatePublic, **allow(Role.admin))
def revoke_certificate(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str, data: Reason
) -> CertificatePublic:
    """Revoke a certificate for good, with the reason (audit-logged)."""
    cert = service.change_status(session, principal.actor, number, "revoke", data.reason)
    return certificate_public(session, settings, cert)


@router.post(
    "/certificates/{number}/reviews",
    response_model=ReviewPublic,
    status_code=201,
    **allow(*ISSUERS),
)
def record_review(
    session: SessionDep, principal: PrincipalDep, number: str, data: ReviewCreate
) -> ReviewPublic:
    """Record a review (复审, Order 30) resting on the trainee's refresher course hours."""
    review = service.record_review(
        session,
        principal.actor,
        number,
        reviewed_on=data.reviewed_on,
        refresher_course_id=data.refresher_course_id,
    )
    return ReviewPublic(
        certificate=number.upper(),
        reviewed_on=review.reviewed_on,
        refresher_minutes=review.refresher_minutes,
        next_due=review.next_due,
    )


@router.post(
    "/certificates/{number}/reissue",
    response_model=CertificatePublic,
    status_code=201,
    **allow(Role.admin),
)
def reissue_certificate(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, number: str, data: Reason
) -> CertificatePublic:
    """A new certificate after renewal; the old one is kept, superseded."""
    cert = service.reissue(session, settings, principal.actor, number, reason=data.reason)
    return certificate_public(session, settings, cert)


@router.post(
    "/trainees/{trainee_id}/operation-certificates",
    response_model=OperationCertificatePublic,
    status_code=201,
    **allow(*ISSUERS),
)
def record_operation_certificate(
    session: SessionDep, principal: PrincipalDep, trainee_id: int, data: OperationCertificateCreate
) -> OperationCertificatePublic:
    """Record the special-operation certificate (操作证) the authority issued the trainee."""
    row = service.record_operation_certificate(
        session,
        principal.actor,
        trainee_id,
        number=data.number,
        authority=data.authority,
        issued_on=data.issued_on,
        valid_until=data.valid_until,
        operation_category=data.operation_category,
        certificate_number=data.certificate,
    )
    return _operation_public(row)


@router.get(
    "/trainees/{trainee_id}/operation-certificates",
    response_model=list[OperationCertificatePublic],
    **allow(*STAFF, Role.trainee),
)
def list_operation_certificates(
    session: SessionDep, principal: PrincipalDep, trainee_id: int
) -> list[OperationCertificatePublic]:
    _own(principal, trainee_id)
    rows = session.exec(
        select(OperationCertificate)
        .where(OperationCertificate.trainee_id == trainee_id)
        .order_by(col(OperationCertificate.issued_on))
    ).all()
    return [_operation_public(r) for r in rows]


def _operation_public(row: OperationCertificate) -> OperationCertificatePublic:
    assert row.id is not None
    return OperationCertificatePublic(
        id=row.id,
        trainee_id=row.trainee_id,
        number=row.number,
        authority=row.authority,
        issued_on=row.issued_on,
        valid_until=row.valid_until,
        operation_category=row.operation_category,
    )
