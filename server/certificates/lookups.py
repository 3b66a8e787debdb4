"""Read-only look-ups for the staff pages: search the register, a course's certificates, a
certificate's reviews, a trainee's operation certificates and refresher courses."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from server.certificates.models import Certificate, CertificateReview, OperationCertificate
from server.scheduling.models import Course, Enrolment, EnrolmentStatus
from server.trainees.identity import fold_fullwidth
from server.trainees.models import Trainee


def search(
    session: Session, q: str | None, *, offset: int = 0, limit: int = 50
) -> tuple[list[tuple[Certificate, Trainee]], int]:
    """Certificates by number (whole or its last digits), trainee name, or ID number (whole or
    last 4); newest first. No text: the whole register."""
    query = select(Certificate, Trainee).join(Trainee, col(Trainee.id) == Certificate.trainee_id)
    counted = (
        select(func.count())
        .select_from(Certificate)
        .join(Trainee, col(Trainee.id) == Certificate.trainee_id)
    )
    term = "".join(fold_fullwidth(q or "").split())
    if term:
        upper = term.upper()
        matches: list[ColumnElement[bool]] = [
            col(Certificate.number) == upper,
            col(Trainee.name).like(f"%{term}%"),
            col(Trainee.id_number) == upper,
        ]
        if len(term) >= 4:  # the last digits, as people read them out
            matches.append(col(Certificate.number).like(f"%{upper}"))
            matches.append(col(Trainee.id_number).like(f"%{upper}"))
        query = query.where(or_(*matches))
        counted = counted.where(or_(*matches))
    total = int(session.exec(counted).one())
    rows = session.exec(
        query.order_by(col(Certificate.issued_at).desc(), col(Certificate.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [(c, t) for c, t in rows], total


def superseded_ids(session: Session, certificate_ids: Iterable[int]) -> set[int]:
    """Which of these certificates were re-issued (a newer one supersedes them)."""
    wanted = set(certificate_ids)
    if not wanted:
        return set()
    rows = session.exec(
        select(Certificate.supersedes_id).where(col(Certificate.supersedes_id).in_(wanted))
    ).all()
    return {r for r in rows if r is not None}


def of_course(session: Session, course_id: int) -> dict[int, Certificate]:
    """Each trainee's newest certificate for the course (a re-issue replaces the original)."""
    rows = session.exec(
        select(Certificate).where(Certificate.course_id == course_id).order_by(col(Certificate.id))
    ).all()
    return {c.trainee_id: c for c in rows}


def reviews_of(session: Session, certificate_id: int) -> list[CertificateReview]:
    return list(
        session.exec(
            select(CertificateReview)
            .where(CertificateReview.certificate_id == certificate_id)
            .order_by(col(CertificateReview.reviewed_on), col(CertificateReview.id))
        ).all()
    )


def operation_certificates_of(session: Session, trainee_id: int) -> list[OperationCertificate]:
    return list(
        session.exec(
            select(OperationCertificate)
            .where(OperationCertificate.trainee_id == trainee_id)
            .order_by(col(OperationCertificate.issued_on), col(OperationCertificate.id))
        ).all()
    )


def numbers_by_id(session: Session, certificate_ids: Iterable[int]) -> dict[int, str]:
    wanted = set(certificate_ids)
    if not wanted:
        return {}
    rows = session.exec(
        select(Certificate.id, Certificate.number).where(col(Certificate.id).in_(wanted))
    ).all()
    return {i: n for i, n in rows if i is not None}


def enrolled_courses(session: Session, trainee_id: int) -> list[Course]:
    """The courses the trainee is enrolled in, newest first: where a refresher's hours are."""
    return list(
        session.exec(
            select(Course)
            .join(Enrolment, col(Enrolment.course_id) == Course.id)
            .where(
                Enrolment.trainee_id == trainee_id,
                Enrolment.status == EnrolmentStatus.enrolled,
            )
            .order_by(col(Course.starts_on).desc(), col(Course.id).desc())
        ).all()
    )
