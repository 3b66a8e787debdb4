"""Issuing certificates, numbering them without gaps, and their lifecycle.

A certificate follows from the scoring decision (server.assessment.decisions.certification):
hours complete and every part passed under the rule set in force. Issuing is idempotent — one
original certificate per trainee and course, guarded by a unique index, so a retry or two
staff pressing the button at once end with one certificate. Numbers are `<prefix>-<year>-
<serial>` with the serial from a counter row locked in the issuing transaction: a rolled-back
issue gives its serial back, so numbers stay gap-free per prefix and year.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import String, bindparam
from sqlalchemy import any_ as sa_any
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from curricula import catalogue, rule_set_on
from curricula.model import Curriculum
from curricula.rules import RuleSet
from server.assessment import decisions
from server.assessment.sittings import LOCAL, curriculum_of
from server.audit import service as audit
from server.audit.service import Actor
from server.certificates import signing
from server.certificates.algorithms import b64url_decode
from server.certificates.keystore import KeyStore
from server.certificates.models import (
    Certificate,
    CertificateCounter,
    CertificateReview,
    CertificateStatus,
    OperationCertificate,
)
from server.config import Settings
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotFound, field_error
from server.outbox import service as outbox
from server.scheduling import service as scheduling
from server.scheduling.models import Enrolment, EnrolmentStatus
from server.trainees import service as trainees


class Standing(StrEnum):
    """What a certificate is today: its stored status, or what its dates make of it."""

    valid = "valid"
    expiring = "expiring"  # renewal or review due within the rule set's notice (60 days)
    expired = "expired"  # past its validity, or a review overdue
    suspended = "suspended"
    revoked = "revoked"
    superseded = "superseded"  # re-issued after renewal: the newer certificate counts


STANDING_TEXT: dict[Standing, tuple[str, str]] = {
    Standing.valid: ("有效", "valid"),
    Standing.expiring: ("即将到期", "expiring"),
    Standing.expired: ("已过期", "expired"),
    Standing.suspended: ("已暂停", "suspended"),
    Standing.revoked: ("已撤销", "revoked"),
    Standing.superseded: ("已换发新证", "superseded"),
}


def today() -> dt.date:
    return utcnow().astimezone(LOCAL).date()


def add_years(day: dt.date, years: int) -> dt.date:
    """The same date `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Terms:
    rule_set: RuleSet
    valid_until: dt.date  # the last day valid
    review_due: dt.date | None


def _review_after(rule_set: RuleSet, start: dt.date) -> dt.date:
    assert rule_set.certificate.review_interval_years is not None
    return add_years(start, rule_set.certificate.review_interval_years)


def _due_if_kept(rule_sets: tuple[RuleSet, ...], due: dt.date) -> dt.date | None:
    """A review date stands only if the rule set in force on that day still has reviews:
    Order 19 abolished reviews falling due from 2026-06-01 (docs/decisions.md)."""
    then = rule_set_on(rule_sets, due)
    return due if then.certificate.review_interval_years is not None else None


def terms(rule_sets: tuple[RuleSet, ...], issued_on: dt.date) -> Terms:
    """Validity and review under the rule set in force on the issue date."""
    rule_set = rule_set_on(rule_sets, issued_on)
    rule = rule_set.certificate
    valid_until = add_years(issued_on, rule.validity_years) - dt.timedelta(days=1)
    review_due = None
    if rule.review_interval_years is not None:
        review_due = _due_if_kept(rule_sets, _review_after(rule_set, issued_on))
    return Terms(rule_set, valid_until, review_due)


def standing(
    cert: Certificate | PublicRecord, on: dt.date, *, superseded: bool = False
) -> Standing:
    if cert.status == CertificateStatus.revoked:
        return Standing.revoked
    if cert.status == CertificateStatus.suspended:
        return Standing.suspended
    if superseded:
        return Standing.superseded
    if on > cert.valid_until or (cert.review_due is not None and on > cert.review_due):
        return Standing.expired
    notice = _rule_set(cert).certificate.expiring_notice_days
    soonest = min(d for d in (cert.valid_until, cert.review_due) if d is not None)
    if (soonest - on).days < notice:
        return Standing.expiring
    return Standing.valid


def _rule_set(cert: Certificate | PublicRecord) -> RuleSet:
    found = next((r for r in catalogue().rule_sets if r.code == cert.rule_set), None)
    if found is None:  # pragma: no cover - rule sets are never removed from curricula/
        raise LookupError(f"rule set {cert.rule_set} is not in the catalogue")
    return found


# --- numbers -------------------------------------------------------------------------------


def _next_serial(session: Session, prefix: str, year: int) -> int:
    """The next serial of `prefix` and `year`, the counter row locked until commit."""
    table = CertificateCounter.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    session.execute(stmt.values(prefix=prefix, year=year, last_serial=0))
    counter = session.exec(
        select(CertificateCounter)
        .where(CertificateCounter.prefix == prefix, CertificateCounter.year == year)
        .with_for_update()
    ).one()
    counter.last_serial += 1
    session.add(counter)
    return counter.last_serial


def format_number(prefix: str, year: int, serial: int) -> str:
    return f"{prefix}-{year}-{serial:06d}"


# --- look-ups ------------------------------------------------------------------------------


def get(session: Session, number: str, *, lock: bool = False) -> Certificate:
    query = select(Certificate).where(Certificate.number == number.strip().upper())
    found = session.exec(query.with_for_update() if lock else query).first()
    if found is None:
        raise NotFound(f"证书 {number} 不存在", f"certificate {number} does not exist")
    return found


def original_of(session: Session, trainee_id: int, course_id: int) -> Certificate | None:
    return session.exec(
        select(Certificate).where(
            Certificate.trainee_id == trainee_id,
            Certificate.course_id == course_id,
            col(Certificate.supersedes_id).is_(None),
        )
    ).first()


def successor_of(session: Session, cert: Certificate) -> Certificate | None:
    return session.exec(select(Certificate).where(Certificate.supersedes_id == cert.id)).first()


@dataclass(frozen=True)
class PublicRecord:
    """What the public verification reads of a certificate, and the number superseding it."""

    number: str
    status: str
    issued_on: dt.date
    valid_until: dt.date
    review_due: dt.date | None
    rule_set: str
    document: str
    kid: str
    superseded_by: str | None


_later = aliased(Certificate)
# Built once and run as plain columns: every public look-up runs it, and building the query or
# loading an ORM object cost more than the query itself. Look-ups arriving together share one
# run (server/batching.py), hence the list of numbers.
_PUBLIC_RECORDS = sa_select(
    col(Certificate.number),
    col(Certificate.status),
    col(Certificate.issued_on),
    col(Certificate.valid_until),
    col(Certificate.review_due),
    col(Certificate.rule_set),
    col(Certificate.document),
    col(Certificate.kid),
    sa_select(col(_later.number))
    .where(col(_later.supersedes_id) == col(Certificate.id))
    .limit(1)
    .scalar_subquery(),
)
_IN_LIST = _PUBLIC_RECORDS.where(col(Certificate.number).in_(bindparam("numbers", expanding=True)))
# On PostgreSQL one array parameter: the same statement text for every batch size, so psycopg
# prepares it once instead of planning each size anew.
_ANY_ARRAY = _PUBLIC_RECORDS.where(
    col(Certificate.number) == sa_any(bindparam("numbers", type_=postgresql.ARRAY(String)))
)


def public_records(session: Session, numbers: list[str]) -> dict[str, PublicRecord]:
    """One query: the certificates of these numbers, each with the number of the one
    superseding it; numbers not issued are left out."""
    if not numbers:
        return {}
    connection = session.connection()
    query = _ANY_ARRAY if connection.dialect.name == "postgresql" else _IN_LIST
    rows = connection.execute(query, {"numbers": numbers})
    return {row[0]: PublicRecord(*row) for row in rows}


def of_trainee(session: Session, trainee_id: int) -> list[Certificate]:
    return list(
        session.exec(
            select(Certificate)
            .where(Certificate.trainee_id == trainee_id)
            .order_by(col(Certificate.issued_on).desc(), col(Certificate.id).desc())
        ).all()
    )


def of_trainee_by_number(session: Session, trainee_id: int, number: str) -> Certificate:
    """The trainee's own certificate of that number; another's reads as not issued at all."""
    cert = session.exec(
        select(Certificate).where(
            Certificate.number == number.strip().upper()[:40],
            Certificate.trainee_id == trainee_id,
        )
    ).first()
    if cert is None:
        raise NotFound(f"证书 {number[:40]} 不存在", f"certificate {number[:40]} does not exist")
    return cert


# --- the signed document -------------------------------------------------------------------


def verify_url(settings: Settings, number: str) -> str:
    return f"{settings.public_url.rstrip('/')}/verify/{number}"


def _payload(
    session: Session,
    settings: Settings,
    *,
    number: str,
    trainee_id: int,
    course_code: str,
    curriculum: Curriculum,
    decision: Any,
    issued_on: dt.date,
    found: Terms,
    issued_at: dt.datetime,
    supersedes: str | None,
) -> dict[str, Any]:
    trainee = trainees.get(session, trainee_id)
    employer = trainees.employer_of(session, trainee)
    category = curriculum.operation_category
    return {
        "typ": "safetrain.certificate",
        "v": 1,
        "number": number,
        "issuer": {
            "prefix": settings.certificate_prefix,
            "name": {"zh": settings.base_name_zh, "en": settings.base_name_en},
        },
        "trainee": {
            "name": trainee.name,
            "id_type": str(trainee.id_type),
            "id_number": trainee.id_number,
            "sex": str(trainee.sex),
            "employer": employer.name,
        },
        "curriculum": {
            "code": curriculum.code,
            "version": curriculum.version,
            "title": {"zh": curriculum.title.zh, "en": curriculum.title.en},
            "certificate_title": {
                "zh": curriculum.certificate.title.zh,
                "en": curriculum.certificate.title.en,
            },
        },
        "operation_category": (
            None
            if category is None
            else {
                "code": category.code,
                "title": {"zh": category.title.zh, "en": category.title.en},
            }
        ),
        "course": course_code,
        "rule_set": {
            "code": found.rule_set.code,
            "title": {"zh": found.rule_set.short_title.zh, "en": found.rule_set.short_title.en},
        },
        "issued_on": issued_on.isoformat(),
        "valid_until": found.valid_until.isoformat(),
        "review_due": None if found.review_due is None else found.review_due.isoformat(),
        "parts": [
            {
                "part": p.part,
                "passed": p.passed,
                "score": None if p.last_attempt is None else str(p.last_attempt.score),
                "passed_on": None if p.passed_on is None else p.passed_on.isoformat(),
            }
            for p in decision.parts
        ],
        "hours": [
            {
                "kind": h.kind.value,
                "credited_minutes": h.credited_minutes,
                "required_minutes": h.required_minutes,
            }
            for h in decision.hours
        ],
        "issued_at": issued_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "supersedes": supersedes,
        "verify_url": verify_url(settings, number),
    }


# --- issuing -------------------------------------------------------------------------------


def _enrolled(session: Session, trainee_id: int, course_id: int) -> bool:
    return (
        session.exec(
            select(Enrolment.id).where(
                Enrolment.trainee_id == trainee_id,
                Enrolment.course_id == course_id,
                Enrolment.status == EnrolmentStatus.enrolled,
            )
        ).first()
        is not None
    )


def _snapshot(cert: Certificate) -> dict[str, Any]:
    return {
        "number": cert.number,
        "trainee_id": cert.trainee_id,
        "course_id": cert.course_id,
        "curriculum": f"{cert.curriculum_code}@{cert.curriculum_version}",
        "rule_set": cert.rule_set,
        "issued_on": cert.issued_on.isoformat(),
        "valid_until": cert.valid_until.isoformat(),
        "review_due": None if cert.review_due is None else cert.review_due.isoformat(),
        "status": str(cert.status),
        "kid": cert.kid,
    }


def _ready(
    session: Session, settings: Settings, trainee_id: int, course_id: int, on: dt.date
) -> Any:
    if not _enrolled(session, trainee_id, course_id):
        raise Conflict(
            "学员未在该班级在册，不能发证",
            "the trainee is not enrolled in this course: no certificate",
            code="not_enrolled",
        )
    decision = decisions.certification(
        session, decisions.policy_of(settings), trainee_id, course_id, on
    )
    if not decision.ready:
        raise Conflict(
            "尚不具备发证条件：" + "；".join(r.zh for r in decision.reasons),
            "not ready for a certificate: " + "; ".join(r.en for r in decision.reasons),
            code="not_ready",
            details={
                "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in decision.reasons]
            },
        )
    return decision


def _create(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    trainee_id: int,
    course_id: int,
    on: dt.date,
    decision: Any,
    supersedes: Certificate | None,
    action: str,
    reason: str | None = None,
) -> Certificate:
    course = scheduling.get_course(session, course_id)
    curriculum = curriculum_of(course.curriculum_code, course.curriculum_version)
    found = terms(catalogue().rule_sets, on)
    prefix = settings.certificate_prefix
    serial = _next_serial(session, prefix, on.year)
    number = format_number(prefix, on.year, serial)
    issued_at = utcnow()
    payload = _payload(
        session,
        settings,
        number=number,
        trainee_id=trainee_id,
        course_code=course.code,
        curriculum=curriculum,
        decision=decision,
        issued_on=on,
        found=found,
        issued_at=issued_at,
        supersedes=None if supersedes is None else supersedes.number,
    )
    token = signing.sign_document(payload, KeyStore.from_settings(settings))
    kid = json.loads(b64url_decode(token.split(".")[0]))["kid"]
    cert = Certificate(
        number=number,
        prefix=prefix,
        year=on.year,
        serial=serial,
        trainee_id=trainee_id,
        course_id=course_id,
        curriculum_code=curriculum.code,
        curriculum_version=curriculum.version,
        operation_category=(
            None if curriculum.operation_category is None else curriculum.operation_category.code
        ),
        rule_set=found.rule_set.code,
        issued_on=on,
        valid_until=found.valid_until,
        review_due=found.review_due,
        document=token,
        kid=kid,
        supersedes_id=None if supersedes is None else supersedes.id,
        issued_by=actor.user_id,
        issued_at=issued_at,
    )
    session.add(cert)
    session.flush()
    event = audit.record(
        session, actor, action, "certificate", cert.id, after=_snapshot(cert), reason=reason
    )
    cert.change_seq = event.seq
    session.add(cert)
    outbox.enqueue(session, cert, event)
    return cert


def issue(
    session: Session,
    settings: Settings,
    actor: Actor,
    trainee_id: int,
    course_id: int,
    *,
    on: dt.date | None = None,
) -> tuple[Certificate, bool]:
    """The trainee's certificate for the course, issued now if it was not yet; (cert, created).

    Refused, with the decision's reasons, while the trainee is not ready.
    """
    existing = original_of(session, trainee_id, course_id)
    if existing is not None:
        return existing, False
    course = scheduling.get_course(session, course_id)
    curriculum = curriculum_of(course.curriculum_code, course.curriculum_version)
    if not curriculum.certificate.issues_certificate:
        raise Conflict(
            f"课程体系 {curriculum.code} 不颁发证书",
            f"curriculum {curriculum.code} issues no certificate",
            code="no_certificate",
        )
    on = on or today()
    decision = _ready(session, settings, trainee_id, course_id, on)
    try:
        cert = _create(
            session,
            settings,
            actor,
            trainee_id=trainee_id,
            course_id=course_id,
            on=on,
            decision=decision,
            supersedes=None,
            action="certificate.issue",
        )
        session.commit()
    except IntegrityError:
        # Another request issued it first (the unique index decided): that one stands.
        session.rollback()
        existing = original_of(session, trainee_id, course_id)
        if existing is None:
            raise
        return existing, False
    session.refresh(cert)
    return cert, True


# --- lifecycle -----------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(
            "请说明原因",
            "a reason is required",
            details=[field_error("reason", "required", "必填", "required")],
        )
    return text[:500]


_MOVES: dict[str, tuple[frozenset[CertificateStatus], CertificateStatus]] = {
    "suspend": (frozenset({CertificateStatus.valid}), CertificateStatus.suspended),
    "reinstate": (frozenset({CertificateStatus.suspended}), CertificateStatus.valid),
    "revoke": (
        frozenset({CertificateStatus.valid, CertificateStatus.suspended}),
        CertificateStatus.revoked,
    ),
}


def change_status(
    session: Session, actor: Actor, number: str, move: str, reason: str | None
) -> Certificate:
    """Suspend, reinstate or revoke, with the reason (audit-logged). Revoking is final."""
    allowed, target = _MOVES[move]
    why = _reason(reason)
    cert = get(session, number, lock=True)
    if cert.status not in allowed:
        raise Conflict(
            f"证书 {cert.number} 当前为「{STANDING_TEXT[Standing(cert.status)][0]}」，不能{_MOVE_ZH[move]}",
            f"certificate {cert.number} is {cert.status}: it cannot be {MOVE_DONE[move]}",
            code="bad_status",
            details={"status": str(cert.status)},
        )
    before = _snapshot(cert)
    cert.status = target
    cert.status_reason = why
    cert.status_changed_at = utcnow()
    session.add(cert)
    session.flush()
    event = audit.record(
        session,
        actor,
        f"certificate.{move}",
        "certificate",
        cert.id,
        before=before,
        after=_snapshot(cert),
        reason=why,
    )
    cert.change_seq = event.seq
    session.add(cert)
    outbox.enqueue(session, cert, event)
    session.commit()
    session.refresh(cert)
    return cert


_MOVE_ZH = {"suspend": "暂停", "reinstate": "恢复", "revoke": "撤销"}
# The past participle of each move: in messages, and as the console's "done" notice.
MOVE_DONE = {"suspend": "suspended", "reinstate": "reinstated", "revoke": "revoked"}


def record_review(
    session: Session,
    actor: Actor,
    number: str,
    *,
    reviewed_on: dt.date,
    refresher_course_id: int,
) -> CertificateReview:
    """A review (复审) under Order 30, resting on ≥ 8 h refresher attendance (audit-logged)."""
    cert = get(session, number, lock=True)
    if cert.status != CertificateStatus.valid:
        raise Conflict(
            f"证书 {cert.number} 当前不是有效状态，不能复审",
            f"certificate {cert.number} is {cert.status}: it cannot be reviewed",
            code="bad_status",
        )
    if cert.review_due is None:
        raise Conflict(
            f"证书 {cert.number} 无需复审（{_rule_set(cert).short_title.zh}或其后的规定未要求）",
            f"certificate {cert.number} has no review due under the rules in force",
            code="no_review_due",
        )
    if reviewed_on > cert.valid_until:
        raise Conflict(
            f"证书 {cert.number} 已于 {cert.valid_until} 过期，不能复审",
            f"certificate {cert.number} expired on {cert.valid_until}: it cannot be reviewed",
            code="expired",
        )
    rule = _rule_set(cert).certificate
    needed = (rule.review_refresher_hours or 0) * 60
    course = scheduling.get_course(session, refresher_course_id)
    credited = sum(decisions.credited_minutes(session, cert.trainee_id, course).values())
    if credited < needed:
        raise Conflict(
            f"复审需不少于 {needed // 60} 学时的复训，该学员在班级 {course.code} 已计 "
            f"{credited / 60:.1f} 学时",
            f"a review needs at least {needed // 60} h of refresher training; the trainee has "
            f"{credited / 60:.1f} h credited in course {course.code}",
            code="refresher_short",
            details={"required_minutes": needed, "credited_minutes": credited},
        )
    rule_sets = catalogue().rule_sets
    next_due = _due_if_kept(rule_sets, _review_after(_rule_set(cert), cert.review_due))
    if next_due is not None and next_due > cert.valid_until:
        next_due = None  # the renewal comes first
    before = _snapshot(cert)
    review = CertificateReview(
        certificate_id=cert.id or 0,
        reviewed_on=reviewed_on,
        refresher_minutes=credited,
        refresher_course_id=refresher_course_id,
        next_due=next_due,
        recorded_by=actor.user_id,
    )
    cert.review_due = next_due
    session.add(review)
    session.add(cert)
    session.flush()
    event = audit.record(
        session,
        actor,
        "certificate.review",
        "certificate",
        cert.id,
        before=before,
        after={**_snapshot(cert), "reviewed_on": reviewed_on.isoformat(), "minutes": credited},
    )
    cert.change_seq = event.seq
    session.add(cert)
    outbox.enqueue(session, cert, event)
    session.commit()
    session.refresh(review)
    return review


def reissue(
    session: Session,
    settings: Settings,
    actor: Actor,
    number: str,
    *,
    reason: str | None,
    on: dt.date | None = None,
) -> Certificate:
    """A new certificate after renewal (换证): new number and dates; the old one is kept,
    superseded, with its history. Refused for a revoked or suspended certificate."""
    why = _reason(reason)
    old = get(session, number, lock=True)
    if old.status != CertificateStatus.valid:
        raise Conflict(
            f"证书 {old.number} 当前为「{STANDING_TEXT[Standing(old.status)][0]}」，不能换发",
            f"certificate {old.number} is {old.status}: it cannot be re-issued",
            code="bad_status",
        )
    if successor_of(session, old) is not None:
        raise Conflict(
            f"证书 {old.number} 已换发过新证",
            f"certificate {old.number} was already re-issued",
            code="already_reissued",
        )
    on = on or today()
    decision = decisions.certification(
        session, decisions.policy_of(settings), old.trainee_id, old.course_id, on
    )
    cert = _create(
        session,
        settings,
        actor,
        trainee_id=old.trainee_id,
        course_id=old.course_id,
        on=on,
        decision=decision,
        supersedes=old,
        action="certificate.reissue",
        reason=why,
    )
    # The old certificate changed too (its standing is now "superseded"): its own event, after
    # the new one's, so a regulator syncing by seq or receiving the push learns of the
    # successor before being told it was replaced.
    session.flush()
    event = audit.record(
        session,
        actor,
        "certificate.supersede",
        "certificate",
        old.id,
        before=_snapshot(old),
        after={**_snapshot(old), "superseded_by": cert.number},
        reason=why,
    )
    old.change_seq = event.seq
    session.add(old)
    outbox.enqueue(session, old, event)
    session.commit()
    session.refresh(cert)
    return cert


def record_operation_certificate(
    session: Session,
    actor: Actor,
    trainee_id: int,
    *,
    number: str,
    authority: str,
    issued_on: dt.date,
    valid_until: dt.date,
    operation_category: str | None = None,
    certificate_number: str | None = None,
) -> OperationCertificate:
    """The authority's special-operation certificate (操作证), as recorded by staff."""
    problems = []
    if not number.strip():
        problems.append(field_error("number", "required", "必填", "required"))
    if not authority.strip():
        problems.append(field_error("authority", "required", "必填", "required"))
    if valid_until <= issued_on:
        problems.append(
            field_error(
                "valid_until",
                "before_issue",
                "有效期应晚于发证日期",
                "must be after the issue date",
            )
        )
    if problems:
        raise InvalidInput(
            "操作证信息有误", "the operation certificate has errors", details=problems
        )
    trainees.get(session, trainee_id)
    linked = None if certificate_number is None else get(session, certificate_number)
    row = OperationCertificate(
        trainee_id=trainee_id,
        certificate_id=None if linked is None else linked.id,
        operation_category=operation_category,
        number=number.strip(),
        authority=authority.strip(),
        issued_on=issued_on,
        valid_until=valid_until,
        recorded_by=actor.user_id,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"{authority} 的操作证 {number} 已登记",
            f"operation certificate {number} of {authority} is already recorded",
            code="duplicate",
        ) from None
    audit.record(
        session,
        actor,
        "operation_certificate.record",
        "operation_certificate",
        row.id,
        after={
            "trainee_id": trainee_id,
            "number": row.number,
            "authority": row.authority,
            "issued_on": issued_on.isoformat(),
            "valid_until": valid_until.isoformat(),
        },
    )
    session.commit()
    session.refresh(row)
    return row


def due_within(session: Session, days: int, on: dt.date | None = None) -> list[Certificate]:
    """Valid certificates whose renewal or review falls due within `days` (or is overdue)."""
    on = on or today()
    until = on + dt.timedelta(days=days)
    successor = aliased(Certificate)
    rows = session.exec(
        select(Certificate)
        .where(
            Certificate.status == CertificateStatus.valid,
            (col(Certificate.valid_until) <= until) | (col(Certificate.review_due) <= until),
            # Not re-issued: the newer certificate is the one that falls due.
            ~sa_select(col(successor.id))
            .where(col(successor.supersedes_id) == Certificate.id)
            .exists(),
        )
        .order_by(col(Certificate.valid_until), col(Certificate.id))
    ).all()
    return list(rows)


def due_date(cert: Certificate) -> tuple[dt.date, str]:
    """The next date something falls due, and what: review (复审) or renewal (换证)."""
    if cert.review_due is not None and cert.review_due <= cert.valid_until:
        return cert.review_due, "review"
    return cert.valid_until, "renewal"
