"""API of the push outbox: its state, and retrying now (admin only)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from server.accounts.models import Role
from server.deps import PrincipalDep, SessionDep, SettingsDep, allow
from server.outbox import service
from server.outbox.service import OutboxStatus

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])


class Retried(BaseModel):
    retried: int  # events made due now (rejected or waiting out a backoff)


@router.get("", response_model=OutboxStatus, **allow(Role.admin))
def outbox_status(session: SessionDep, settings: SettingsDep) -> OutboxStatus:
    """The push outbox: counts, the head event, its last error and next attempt."""
    return service.status(session, settings)


@router.post("/retry", response_model=Retried, **allow(Role.admin))
def outbox_retry(session: SessionDep, principal: PrincipalDep) -> Retried:
    """Make rejected and backed-off events due now; the push loop sends them next."""
    return Retried(retried=service.retry(session, principal.actor))
