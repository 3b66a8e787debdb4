"""A small world of certificates for the regulator tests: one of every standing, two
employers, two curricula, issued and changed through the real certificate service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from server.accounts.models import Role
from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates.models import Certificate
from server.config import Settings
from server.regulator.models import RegulatorAccess
from tests.factories import auth, make_token, make_trainee, make_user
from tests.server.certificates.readiness import hours_course, ready

ADMIN = Actor(name="admin", role="admin")
DAY = dt.date(2026, 12, 1)  # the issue date (the standings are computed for the real today)
EMPLOYER_A = "江海精细化工有限公司"
EMPLOYER_B = "滨江氯碱化工集团"


def headers(session: Session, role: Role = Role.regulator) -> dict[str, str]:
    return auth(make_token(session, user=make_user(session, role=role)))


@dataclass
class World:
    """label → certificate number; `standing` is what each label's certificate is today."""

    numbers: dict[str, str]
    standing: dict[str, str]
    id_numbers: dict[str, str]

    def number(self, label: str) -> str:
        return self.numbers[label]


def set_dates(
    session: Session, number: str, *, valid_until: dt.date, review_due: dt.date | None
) -> None:
    """Move a certificate's dates (as years passing would), without a change of its own."""
    # End the session's read first: on SQLite a read older than the server's latest write (an
    # access-log row) cannot turn into a write.
    session.commit()
    table = Certificate.__table__  # type: ignore[attr-defined]
    session.execute(
        update(table)
        .where(table.c.number == number)
        .values(valid_until=valid_until, review_due=review_due)
    )
    session.commit()


def build(session: Session, settings: Settings) -> World:
    """Seven certificates: valid (A, nitration), valid (B, chlorination), expiring, expired by
    validity, expired by an overdue review, suspended, revoked; and one re-issued (superseded,
    with its successor)."""
    nitration = hours_course(session, starts_on="2026-10-01")
    chlorination = hours_course(session, curriculum="CHLORINATION", starts_on="2026-10-01")
    plan = [
        ("valid", nitration, "王建国", EMPLOYER_A),
        ("other", chlorination, "李四", EMPLOYER_B),
        ("expiring", nitration, "张伟", EMPLOYER_A),
        ("expired", nitration, "刘洋", EMPLOYER_A),
        ("review_overdue", nitration, "陈静", EMPLOYER_B),
        ("suspended", nitration, "杨磊", EMPLOYER_A),
        ("revoked", nitration, "赵敏", EMPLOYER_A),
        ("old", nitration, "周杰", EMPLOYER_B),
    ]
    numbers: dict[str, str] = {}
    id_numbers: dict[str, str] = {}
    for label, course, name, employer in plan:
        trainee = make_trainee(session, name=name, employer=employer)
        ready(session, course, trainee)
        assert trainee.id is not None and course.id is not None
        cert, _ = certificates.issue(session, settings, ADMIN, trainee.id, course.id, on=DAY)
        numbers[label] = cert.number
        id_numbers[label] = trainee.id_number
    today = certificates.today()
    set_dates(
        session,
        numbers["expiring"],
        valid_until=today + dt.timedelta(days=10),
        review_due=None,
    )
    set_dates(
        session, numbers["expired"], valid_until=today - dt.timedelta(days=1), review_due=None
    )
    set_dates(
        session,
        numbers["review_overdue"],
        valid_until=today + dt.timedelta(days=900),
        review_due=today - dt.timedelta(days=1),
    )
    certificates.change_status(session, ADMIN, numbers["suspended"], "suspend", "调查中")
    certificates.change_status(session, ADMIN, numbers["revoked"], "revoke", "证件造假")
    new = certificates.reissue(session, settings, ADMIN, numbers["old"], reason="换证", on=DAY)
    numbers["new"] = new.number
    id_numbers["new"] = id_numbers["old"]
    standing = {
        "valid": "valid",
        "other": "valid",
        "expiring": "expiring",
        "expired": "expired",
        "review_overdue": "expired",
        "suspended": "suspended",
        "revoked": "revoked",
        "old": "superseded",
        "new": "valid",
    }
    return World(numbers=numbers, standing=standing, id_numbers=id_numbers)


def all_numbers(session: Session) -> list[str]:
    return list(session.exec(select(Certificate.number).order_by(col(Certificate.id))).all())


def access_rows(session: Session) -> list[RegulatorAccess]:
    session.commit()  # a fresh read: on SQLite an open read keeps seeing its old snapshot
    session.expire_all()
    return list(session.exec(select(RegulatorAccess).order_by(col(RegulatorAccess.id))).all())
