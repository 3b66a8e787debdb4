"""API to read and verify the audit log (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from server.accounts.models import Role
from server.audit import service
from server.audit.models import AuditEventPublic, AuditEventsPublic
from server.deps import SessionDep, allow
from server.i18n import bilingual

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class ChainProblem(BaseModel):
    seq: int
    message: str


class ChainVerdict(BaseModel):
    ok: bool
    checked: int
    problems: list[ChainProblem]


@router.get("/events", response_model=AuditEventsPublic, **allow(Role.admin))
def list_events(
    session: SessionDep,
    entity_type: str | None = None,
    entity_id: str | None = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditEventsPublic:
    """Audit events in sequence order, optionally for one entity."""
    rows = service.list_events(
        session, entity_type=entity_type, entity_id=entity_id, after_seq=after_seq, limit=limit
    )
    return AuditEventsPublic(
        data=[AuditEventPublic.model_validate(e, from_attributes=True) for e in rows],
        count=len(rows),
    )


@router.get("/verify", response_model=ChainVerdict, **allow(Role.admin))
def verify(session: SessionDep) -> ChainVerdict:
    """Walk the hash chain and report any edited or deleted event."""
    report = service.verify(session)
    return ChainVerdict(
        ok=report.ok,
        checked=report.checked,
        problems=[ChainProblem(seq=s, message=bilingual(zh, en)) for s, zh, en in report.problems],
    )
