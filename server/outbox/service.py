"""Writing certificate changes into the outbox, and what the outbox holds: its state and retries.

`enqueue` runs inside the certificate service's own transaction, right after the change's
audit event: the change, its audit event and its outbox row commit together or not at all.
Every change is queued whether or not a push endpoint is configured, so an endpoint set up
later receives the whole history, in order (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel
from sqlalchemy import case
from sqlmodel import Session, col, func, select

from server.audit import service as audit
from server.audit.models import AuditEvent
from server.audit.service import Actor
from server.certificates.algorithms import b64url_decode
from server.certificates.models import Certificate
from server.certificates.signing import canonical_json
from server.config import Settings
from server.outbox.models import OutboxEvent, OutboxState
from server.trainees import service as trainees

EVENT_VERSION = 1
# After this many failed attempts the head is shown as blocked (it is still retried).
STUCK_AFTER = 5
QUEUE_SHOWN = 20
# Spelt out, not "!= delivered": the (state, seq) index then finds the few undelivered rows
# without walking every delivered one.
UNDELIVERED = (OutboxState.pending, OutboxState.rejected)


def idempotency_key(prefix: str, seq: int) -> str:
    """Unique per base (its certificate prefix) and change; the same on every resend."""
    return f"{prefix}:{seq}"


def certificate_record(session: Session, cert: Certificate, on: dt.date) -> dict[str, Any]:
    """What the regulator keeps of a certificate as it stands after a change, with its JWS."""
    # The certificate service calls enqueue, so its module is imported here, not at the top.
    from server.certificates import service as certificates

    signed = json.loads(b64url_decode(cert.document.split(".")[1]))
    trainee = trainees.get(session, cert.trainee_id)
    successor = certificates.successor_of(session, cert)
    return {
        "number": cert.number,
        "status": str(cert.status),
        "standing": certificates.standing(cert, on, superseded=successor is not None).value,
        "status_reason": cert.status_reason,
        "holder": {
            "name": trainee.name,
            "id_type": str(trainee.id_type),
            "id_number": trainee.id_number,
        },
        "curriculum": {
            "code": cert.curriculum_code,
            "version": cert.curriculum_version,
            "title": signed["curriculum"]["title"],
        },
        "operation_category": cert.operation_category,
        "course": signed.get("course"),
        "rule_set": cert.rule_set,
        "issued_on": cert.issued_on.isoformat(),
        "valid_until": cert.valid_until.isoformat(),
        "review_due": None if cert.review_due is None else cert.review_due.isoformat(),
        "supersedes": signed.get("supersedes"),
        "superseded_by": None if successor is None else successor.number,
        "kid": cert.kid,
        "document": cert.document,
    }


def enqueue(session: Session, cert: Certificate, event: AuditEvent) -> OutboxEvent:
    """Queue the change `event` recorded for `cert`, in the caller's transaction (no commit)."""
    from server.certificates.service import today

    assert cert.id is not None, "the certificate is flushed before its audit event"
    key = idempotency_key(cert.prefix, event.seq)
    body = {
        "v": EVENT_VERSION,
        "seq": event.seq,
        "kind": event.action,
        "idempotency_key": key,
        "occurred_at": event.at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "reason": event.reason,
        "certificate": certificate_record(session, cert, today()),
    }
    row = OutboxEvent(
        seq=event.seq,
        kind=event.action,
        certificate_id=cert.id,
        certificate_number=cert.number,
        payload=canonical_json(body).decode("utf-8"),
        idempotency_key=key,
    )
    session.add(row)
    return row


# --- reading ---------------------------------------------------------------------------------


def head(session: Session) -> OutboxEvent | None:
    """The oldest event not yet delivered: the only one the deliverer may send."""
    return session.exec(
        select(OutboxEvent)
        .where(col(OutboxEvent.state).in_(UNDELIVERED))
        .order_by(col(OutboxEvent.seq))
        .limit(1)
    ).first()


class OutboxEventPublic(BaseModel):
    seq: int
    kind: str
    certificate: str
    idempotency_key: str
    state: str  # waiting, retrying, rejected or delivered
    attempts: int
    last_status: int | None
    last_error_code: str | None
    last_error: str | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class OutboxCounts(BaseModel):
    waiting: int = 0  # not tried yet
    retrying: int = 0  # tried, failed, will be tried again
    rejected: int = 0  # refused by the receiver (4xx)
    delivered: int = 0


class OutboxStatus(BaseModel):
    enabled: bool  # a push endpoint is configured
    endpoint: str | None  # scheme, host and path only: never credentials or a query
    counts: OutboxCounts
    blocked: bool  # the head was rejected or failed STUCK_AFTER times: someone should look
    head: OutboxEventPublic | None
    last_delivered: OutboxEventPublic | None
    queue: list[OutboxEventPublic]  # the first undelivered events, in delivery order


def _shown(state: OutboxState, tried: bool) -> str:
    if state == OutboxState.pending:
        return "retrying" if tried else "waiting"
    return str(state)


def public(row: OutboxEvent) -> OutboxEventPublic:
    return OutboxEventPublic(
        seq=row.seq,
        kind=row.kind,
        certificate=row.certificate_number,
        idempotency_key=row.idempotency_key,
        state=_shown(row.state, row.attempts > 0),
        attempts=row.attempts,
        last_status=row.last_status,
        last_error_code=row.last_error_code,
        last_error=row.last_error,
        last_attempt_at=row.last_attempt_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def endpoint_shown(url: str) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def status(session: Session, settings: Settings) -> OutboxStatus:
    counts = OutboxCounts()
    grouped = session.exec(
        select(
            OutboxEvent.state,
            func.count(),
            func.sum(case((col(OutboxEvent.attempts) > 0, 1), else_=0)),
        ).group_by(col(OutboxEvent.state))
    ).all()
    for state, n, tried in grouped:
        if state == OutboxState.pending:
            counts.waiting, counts.retrying = n - tried, tried
        else:
            setattr(counts, str(state), n)
    queue = session.exec(
        select(OutboxEvent)
        .where(col(OutboxEvent.state).in_(UNDELIVERED))
        .order_by(col(OutboxEvent.seq))
        .limit(QUEUE_SHOWN)
    ).all()
    last = session.exec(
        select(OutboxEvent)
        .where(OutboxEvent.state == OutboxState.delivered)
        .order_by(col(OutboxEvent.seq).desc())
        .limit(1)
    ).first()
    first = queue[0] if queue else None
    return OutboxStatus(
        enabled=bool(settings.regulator_push_url),
        endpoint=endpoint_shown(settings.regulator_push_url),
        counts=counts,
        blocked=first is not None
        and (first.state == OutboxState.rejected or first.attempts >= STUCK_AFTER),
        head=None if first is None else public(first),
        last_delivered=None if last is None else public(last),
        queue=[public(row) for row in queue],
    )


# --- retrying now ----------------------------------------------------------------------------


def retry(session: Session, actor: Actor) -> int:
    """Make every undelivered event due now, rejected ones included; audit-logged. Returns how
    many were waiting for a later attempt or rejected."""
    rows = session.exec(
        select(OutboxEvent)
        .where(
            col(OutboxEvent.state).in_(UNDELIVERED),
            (col(OutboxEvent.state) == OutboxState.rejected)
            | col(OutboxEvent.next_attempt_at).is_not(None),
        )
        .order_by(col(OutboxEvent.seq))
        .with_for_update()
    ).all()
    for row in rows:
        row.state = OutboxState.pending
        row.next_attempt_at = None
        session.add(row)
    if rows:
        audit.record(
            session,
            actor,
            "outbox.retry",
            "outbox_event",
            rows[0].seq,
            after={"seqs": [row.seq for row in rows]},
        )
    session.commit()
    return len(rows)
