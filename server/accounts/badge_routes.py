"""API for trainees' badges: staff issue one (a printable card with its QR) or revoke it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from server.accounts import badges
from server.accounts.models import Role
from server.deps import PrincipalDep, SessionDep, allow
from server.trainees.models import Trainee

router = APIRouter(prefix="/api/v1", tags=["badges"])


@router.post(
    "/trainees/{trainee_id}/kiosk-badge", status_code=201, **allow(Role.admin, Role.trainer)
)
def issue_badge(session: SessionDep, principal: PrincipalDep, trainee_id: int) -> Response:
    """Issue a new badge (the old one stops working); answers the card to print, as PDF."""
    badge, text = badges.issue(session, principal.actor, trainee_id)
    trainee = session.get(Trainee, trainee_id)
    assert trainee is not None
    return Response(
        badges.card_pdf(trainee, text),
        status_code=201,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="badge-{trainee_id}.pdf"',
            "Cache-Control": "no-store",
            "X-Badge-Id": str(badge.id),
        },
    )


@router.delete(
    "/trainees/{trainee_id}/kiosk-badge", status_code=204, **allow(Role.admin, Role.trainer)
)
def revoke_badge(session: SessionDep, principal: PrincipalDep, trainee_id: int) -> Response:
    """Revoke the trainee's badge (lost or handed back)."""
    badges.revoke(session, principal.actor, trainee_id)
    return Response(status_code=204)
