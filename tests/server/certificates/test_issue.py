"""Issuing certificates: readiness, gap-free numbers, idempotence, terms by the rule set, lifecycle."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlmodel import Session, func, select

from server.audit import service as audit
from server.audit.service import Actor
from server.certificates import service as certificates
from server.certificates import signing
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate, CertificateCounter, CertificateStatus
from server.certificates.service import Standing
from server.config import Settings
from server.db import make_engine
from server.errors import Conflict, InvalidInput
from server.scheduling.models import Course
from tests.factories import make_trainee
from tests.server.certificates.readiness import attend_all, hours_course, ready

ADMIN = Actor(name="admin", user_id=None, role="admin")


@pytest.fixture
def course(session: Session) -> Course:
    return hours_course(session, starts_on="2026-10-01")


DAY = dt.date(2026, 12, 1)


class TestIssue:
    def test_a_ready_trainee_gets_a_signed_certificate_with_the_order_19_terms(
        self, session: Session, cert_settings: Settings, course: Course
    ) -> None:
        trainee = make_trainee(session, name="王建国")
        ready(session, course, trainee)
        assert trainee.id is not None and course.id is not None
        cert, created = certificates.issue(
            session, cert_settings, ADMIN, trainee.id, course.id, on=DAY
        )
        assert created
        assert cert.number == "SAFE-2026-000001"
        assert cert.rule_set == "MEM-19"
        assert cert.valid_until == dt.date(2032, 11, 30)  # six years, the last day included
        assert cert.review_due is None  # Order 19 has no review
        assert cert.operation_category == "HC-NITRATION"
        jwks = signing.jwks(KeyStore.from_settings(cert_settings))
        verified = signing.verify_document(cert.document, jwks)
        assert verified.kid == cert.kid
        body = verified.payload
        assert body["number"] == cert.number and body["trainee"]["name"] == "王建国"
        assert body["verify_url"].endswith("/verify/SAFE-2026-000001")
        assert {p["part"] for p in body["parts"]} == {"theory", "practical", "device:NITR-RUNAWAY"}
        assert certificates.standing(cert, DAY) is Standing.valid

    def test_issuing_again_returns_the_same_certificate(
        self, session: Session, cert_settings: Settings, course: Course
    ) -> None:
        trainee = make_trainee(session)
        ready(session, course, trainee)
        assert trainee.id is not None and course.id is not None
        first, _ = certificates.issue(session, cert_settings, ADMIN, trainee.id, course.id, on=DAY)
        again, created = certificates.issue(
            session, cert_settings, ADMIN, trainee.id, course.id, on=DAY
        )
        assert not created and again.id == first.id
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 1

    def test_a_trainee_short_of_hours_is_refused_with_the_reasons_and_nothing_changes(
        self, session: Session, cert_settings: Settings, course: Course
    ) -> None:
        trainee = make_trainee(session)
        ready(session, course, trainee)
        from server.scheduling.models import Attendance

        one = session.exec(select(Attendance).where(Attendance.trainee_id == trainee.id)).first()
        assert one is not None
        session.delete(one)
        session.commit()
        assert trainee.id is not None and course.id is not None
        with pytest.raises(Conflict) as refused:
            certificates.issue(session, cert_settings, ADMIN, trainee.id, course.id, on=DAY)
        assert refused.value.code == "not_ready"
        assert "hours_short" in {r["code"] for r in refused.value.details["reasons"]}
        session.rollback()
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 0
        assert session.exec(select(func.count()).select_from(CertificateCounter)).one() == 0

    def test_numbers_run_without_gaps_and_start_again_each_year(
        self, session: Session, cert_settings: Settings, course: Course
    ) -> None:
        people = [make_trainee(session) for _ in range(3)]
        for p in people:
            ready(session, course, p)
        assert course.id is not None
        numbers = []
        for p, day in zip(people, (DAY, DAY, dt.date(2027, 1, 4)), strict=True):
            assert p.id is not None
            numbers.append(
                certificates.issue(session, cert_settings, ADMIN, p.id, course.id, on=day)[0].number
            )
        assert numbers == ["SAFE-2026-000001", "SAFE-2026-000002", "SAFE-2027-000001"]

    def test_a_refused_issue_between_two_leaves_no_gap(
        self, session: Session, cert_settings: Settings, course: Course
    ) -> None:
        good, short, later = (make_trainee(session) for _ in range(3))
        ready(session, course, good)
        ready(session, course, later)
        from tests.factories import enrol

        enrol(session, course=course, trainee=short)  # enrolled, nothing done
        assert good.id and short.id and later.id and course.id
        certificates.issue(session, cert_settings, ADMIN, good.id, course.id, on=DAY)
        with pytest.raises(Conflict):
            certificates.issue(session, cert_settings, ADMIN, short.id, course.id, on=DAY)
        session.rollback()
        cert, _ = certificates.issue(session, cert_settings, ADMIN, later.id, course.id, on=DAY)
        assert cert.number == "SAFE-2026-000002"


class TestOrder30:
    def test_a_certificate_of_early_2023_has_its_review_in_2026_and_a_later_one_none(
        self, session: Session, cert_settings: Settings
    ) -> None:
        course = hours_course(session, starts_on="2023-01-03")
        early, late = make_trainee(session), make_trainee(session)
        for t in (early, late):
            ready(session, course, t, exam_day="2023-02-20")
        assert early.id and late.id and course.id
        a, _ = certificates.issue(
            session, cert_settings, ADMIN, early.id, course.id, on=dt.date(2023, 3, 1)
        )
        assert a.rule_set == "SAWS-30"
        assert a.review_due == dt.date(2026, 3, 1)  # due before Order 19: it stands
        assert a.valid_until == dt.date(2029, 2, 28)
        b, _ = certificates.issue(
            session, cert_settings, ADMIN, late.id, course.id, on=dt.date(2023, 7, 1)
        )
        # Issued under Order 30 but its review would fall due under Order 19: abolished.
        assert b.rule_set == "SAWS-30" and b.review_due is None

    def test_a_review_needs_eight_hours_of_refresher_then_the_next_is_abolished(
        self, session: Session, cert_settings: Settings
    ) -> None:
        course = hours_course(session, starts_on="2023-01-03")
        trainee = make_trainee(session)
        ready(session, course, trainee, exam_day="2023-02-20")
        assert trainee.id and course.id
        cert, _ = certificates.issue(
            session, cert_settings, ADMIN, trainee.id, course.id, on=dt.date(2023, 3, 1)
        )
        assert certificates.standing(cert, dt.date(2026, 1, 15)) is Standing.expiring
        assert certificates.standing(cert, dt.date(2026, 3, 2)) is Standing.expired
        refresher = hours_course(session, curriculum="CHEM-REFRESHER", starts_on="2026-01-05")
        assert refresher.id is not None
        with pytest.raises(Conflict) as short:
            certificates.record_review(
                session,
                ADMIN,
                cert.number,
                reviewed_on=dt.date(2026, 2, 1),
                refresher_course_id=refresher.id,
            )
        assert short.value.code == "refresher_short"
        session.rollback()
        from tests.factories import enrol

        enrol(session, course=refresher, trainee=trainee)
        attend_all(session, refresher, trainee)
        review = certificates.record_review(
            session,
            ADMIN,
            cert.number,
            reviewed_on=dt.date(2026, 2, 1),
            refresher_course_id=refresher.id,
        )
        assert review.refresher_minutes >= 8 * 60
        session.refresh(cert)
        assert cert.review_due is None  # the next (2029) falls under Order 19
        assert certificates.standing(cert, dt.date(2026, 3, 2)) is Standing.valid


class TestLifecycle:
    @pytest.fixture
    def cert(self, session: Session, cert_settings: Settings, course: Course) -> Certificate:
        trainee = make_trainee(session)
        ready(session, course, trainee)
        assert trainee.id and course.id
        return certificates.issue(session, cert_settings, ADMIN, trainee.id, course.id, on=DAY)[0]

    def test_suspend_reinstate_revoke_each_audited_with_the_reason(
        self, session: Session, cert: Certificate
    ) -> None:
        seqs = [cert.change_seq]
        for move, reason in (
            ("suspend", "调查中"),
            ("reinstate", "调查结束"),
            ("revoke", "证件造假"),
        ):
            changed = certificates.change_status(session, ADMIN, cert.number, move, reason)
            seqs.append(changed.change_seq)
        assert changed.status == CertificateStatus.revoked
        assert certificates.standing(changed, DAY) is Standing.revoked
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        events = audit.list_events(session, entity_type="certificate", entity_id=str(cert.id))
        assert [e.action for e in events][-3:] == [
            "certificate.suspend",
            "certificate.reinstate",
            "certificate.revoke",
        ]
        assert events[-1].reason == "证件造假"

    def test_revoking_is_final_and_a_reason_is_required(
        self, session: Session, cert: Certificate
    ) -> None:
        with pytest.raises(InvalidInput):
            certificates.change_status(session, ADMIN, cert.number, "revoke", "  ")
        certificates.change_status(session, ADMIN, cert.number, "revoke", "错误发证")
        with pytest.raises(Conflict):
            certificates.change_status(session, ADMIN, cert.number, "reinstate", "撤回")

    def test_a_reissue_gets_a_new_number_and_the_old_stays_with_its_history(
        self, session: Session, cert_settings: Settings, cert: Certificate
    ) -> None:
        later = dt.date(2032, 10, 20)
        assert certificates.standing(cert, later) is Standing.expiring
        due = certificates.due_within(session, 60, on=later)
        assert [c.number for c in due] == [cert.number]
        new = certificates.reissue(
            session, cert_settings, ADMIN, cert.number, reason="期满换证", on=dt.date(2027, 1, 5)
        )
        assert new.number == "SAFE-2027-000001" and new.supersedes_id == cert.id
        assert certificates.successor_of(session, cert) is not None
        history = audit.list_events(session, entity_type="certificate", entity_id=str(cert.id))
        assert [e.action for e in history] == ["certificate.issue", "certificate.supersede"]
        assert history[1].reason == "期满换证" and "SAFE-2027-000001" in (history[1].after or "")
        session.refresh(cert)
        assert cert.change_seq == history[1].seq
        assert certificates.due_within(session, 60, on=later) == []
        with pytest.raises(Conflict):
            certificates.reissue(session, cert_settings, ADMIN, cert.number, reason="再次")


@pytest.mark.postgres_only
def test_two_issuers_at_once_make_one_certificate_and_one_number(
    db_url: str, session: Session, cert_settings: Settings, course: Course
) -> None:
    people = [make_trainee(session) for _ in range(2)]
    for p in people:
        ready(session, course, p)
    assert course.id is not None
    engine = make_engine(db_url)
    made: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run(trainee_id: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                made.append(
                    certificates.issue(s, cert_settings, ADMIN, trainee_id, course.id, on=DAY)[  # type: ignore[arg-type]
                        0
                    ].number
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p.id,)) for p in people for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert errors == []
    assert sorted(set(made)) == ["SAFE-2026-000001", "SAFE-2026-000002"]
    session.rollback()
    assert session.exec(select(func.count()).select_from(Certificate)).one() == 2
