"""Append events to the hash chain and verify it.

Each event's hash is SHA-256 over the previous hash and the event's canonical JSON, so editing
any past event breaks its own hash, deleting one leaves a gap in the sequence, and deleting the
newest ones disagrees with the chain head. Appends lock the head row, so the chain stays a
single line even when several server processes write at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, func, select

from server import bulk
from server.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from server.db import utcnow


@dataclass(frozen=True)
class Actor:
    """Who is doing something: a user (console or token), or an operator at the CLI."""

    name: str
    user_id: int | None = None
    role: str | None = None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


HASHED = (
    "seq",
    "at",
    "actor_user_id",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "reason",
)


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _link(prev_hash: str, fields: Mapping[str, Any], at: str) -> str:
    """SHA-256 over the previous hash and the event's canonical fields (`at` as ISO text)."""
    body = canonical({name: at if name == "at" else fields[name] for name in HASHED})
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _hash(fields: Mapping[str, Any]) -> str:
    """The SHA-256 link of one event: its previous hash and its canonical fields."""
    return _link(fields["prev_hash"], fields, _instant(fields["at"]))


def _event_hash(event: AuditEvent) -> str:
    return _hash({name: getattr(event, name) for name in (*HASHED, "prev_hash")})


@dataclass(frozen=True)
class Change:
    """One change to append: what was done to which entity, with its state before and after."""

    action: str
    entity_type: str
    entity_id: object
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None


def _append(session: Session, actor: Actor, changes: Iterable[Change]) -> list[dict[str, Any]]:
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()
    last_seq, last_hash = head.last_seq, head.last_hash
    # One instant for the transaction's events: they are recorded, and committed, together.
    at = utcnow()
    at_text = _instant(at)
    rows: list[dict[str, Any]] = []
    for change in changes:
        row: dict[str, Any] = {
            "seq": last_seq + 1,
            "at": at,
            "actor_user_id": actor.user_id,
            "actor": actor.name,
            "action": change.action,
            "entity_type": change.entity_type,
            "entity_id": str(change.entity_id),
            "before": None if change.before is None else canonical(change.before),
            "after": None if change.after is None else canonical(change.after),
            "reason": change.reason,
            "prev_hash": last_hash,
        }
        row["hash"] = last_hash = _link(last_hash, row, at_text)
        last_seq = row["seq"]
        rows.append(row)
    if rows:
        # One statement, not an ORM object per event: a batch of 500 results is 500 events.
        bulk.insert_many(session, AuditEvent.__table__, rows)  # type: ignore[attr-defined]
    head.last_seq, head.last_hash = last_seq, last_hash
    session.add(head)
    session.flush()
    return rows


def record_many(session: Session, actor: Actor, changes: Iterable[Change]) -> int:
    """Append events in the caller's transaction; they commit or roll back with the changes.

    The head row is locked once for the whole batch, so a bulk import chains thousands of events
    with one round trip for the lock instead of one per event. Returns how many were appended.
    """
    return len(_append(session, actor, changes))


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction."""
    change = Change(action, entity_type, entity_id, before, after, reason)
    return AuditEvent.model_construct(**_append(session, actor, [change])[0])


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, zh, en)

    @property
    def ok(self) -> bool:
        return not self.problems


def _events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.seq > last)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> ChainReport:
    """Walk the whole chain; report every edited, deleted or reordered event by sequence number."""
    report = ChainReport()
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in _events(session):
        report.checked += 1
        if event.seq != expected_seq:
            report.problems.append(
                (
                    expected_seq,
                    f"事件 {expected_seq}–{event.seq - 1} 已被删除",
                    f"events {expected_seq}–{event.seq - 1} were deleted",
                )
            )
        elif event.prev_hash != prev_hash:
            report.problems.append(
                (event.seq, "与前一事件的链接断开", "link to the previous event is broken")
            )
        if _event_hash(event) != event.hash:
            report.problems.append(
                (event.seq, "事件内容已被修改", "the event's content was modified")
            )
        expected_seq, prev_hash = event.seq + 1, event.hash
    head = session.get(AuditHead, 1)
    if head is None:
        report.problems.append((0, "审计链头缺失", "the audit chain head is missing"))
    elif head.last_seq != expected_seq - 1 or head.last_hash != prev_hash:
        report.problems.append(
            (
                expected_seq,
                f"最新的事件已被删除（链头记录到第 {head.last_seq} 条）",
                f"the newest events were deleted (the head records seq {head.last_seq})",
            )
        )
    return report


def count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def list_events(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.seq > after_seq)
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEvent.entity_id == entity_id)
    return list(session.exec(query.order_by(col(AuditEvent.seq)).limit(limit)).all())
