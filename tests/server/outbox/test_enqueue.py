"""Certificate changes are queued in their own transaction: one event per change, or none."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from server.audit import service as audit
from server.audit.models import AuditHead
from server.certificates import service as certificates
from server.certificates import signing
from server.certificates.keystore import KeyStore
from server.certificates.models import Certificate, CertificateStatus
from server.config import Settings
from server.errors import Conflict
from server.outbox.models import OutboxEvent, OutboxState
from tests.server.outbox.conftest import ADMIN, issue_some


def _rows(session: Session) -> list[OutboxEvent]:
    session.rollback()
    return list(session.exec(select(OutboxEvent).order_by(OutboxEvent.seq)).all())  # type: ignore[arg-type]


class TestEnqueue:
    def test_each_change_is_one_event_with_its_audit_seq_and_the_regulator_record(
        self, session: Session, settings: Settings
    ) -> None:
        (cert,) = issue_some(session, settings, 1)
        certificates.change_status(session, ADMIN, cert.number, "suspend", "调查中")
        certificates.change_status(session, ADMIN, cert.number, "reinstate", "调查结束")
        certificates.change_status(session, ADMIN, cert.number, "revoke", "证件造假")
        rows = _rows(session)
        events = audit.list_events(session, entity_type="certificate", entity_id=str(cert.id))
        assert [r.seq for r in rows] == [e.seq for e in events]
        assert [r.kind for r in rows] == [
            "certificate.issue",
            "certificate.suspend",
            "certificate.reinstate",
            "certificate.revoke",
        ]
        assert [r.idempotency_key for r in rows] == [f"SAFE:{e.seq}" for e in events]
        assert {r.state for r in rows} == {OutboxState.pending}
        session.refresh(cert)
        assert rows[-1].seq == cert.change_seq

        issued = json.loads(rows[0].payload)
        assert issued["seq"] == rows[0].seq and issued["kind"] == "certificate.issue"
        record = issued["certificate"]
        assert record["number"] == cert.number
        assert record["status"] == "valid" and record["standing"] == "valid"
        trainee_number = record["holder"]["id_number"]
        assert len(trainee_number) == 18 and "*" not in trainee_number  # the regulator's copy
        assert record["curriculum"]["code"] == "NITRATION"
        assert record["rule_set"] == "MEM-19"
        assert record["valid_until"] == cert.valid_until.isoformat()
        jwks = signing.jwks(KeyStore.from_settings(settings))
        assert signing.verify_document(record["document"], jwks).payload["number"] == cert.number

        revoked = json.loads(rows[-1].payload)
        assert revoked["reason"] == "证件造假"
        assert revoked["certificate"]["status"] == "revoked"
        assert revoked["certificate"]["standing"] == "revoked"
        assert revoked["certificate"]["status_reason"] == "证件造假"

    def test_a_reissue_queues_the_new_certificate_then_the_old_one_superseded(
        self, session: Session, settings: Settings
    ) -> None:
        import datetime as dt

        (old,) = issue_some(session, settings, 1)
        new = certificates.reissue(
            session, settings, ADMIN, old.number, reason="期满换证", on=dt.date(2027, 1, 5)
        )
        reissued, superseded = _rows(session)[-2:]
        assert reissued.kind == "certificate.reissue" and reissued.certificate_number == new.number
        body = json.loads(reissued.payload)
        assert body["certificate"]["supersedes"] == old.number
        assert body["certificate"]["superseded_by"] is None
        assert body["reason"] == "期满换证"
        assert superseded.kind == "certificate.supersede"
        assert superseded.certificate_number == old.number and superseded.seq > reissued.seq
        body = json.loads(superseded.payload)
        assert body["certificate"]["standing"] == "superseded"
        assert body["certificate"]["superseded_by"] == new.number
        assert body["reason"] == "期满换证"

    def test_a_refused_change_queues_nothing(self, session: Session, settings: Settings) -> None:
        (cert,) = issue_some(session, settings, 1)
        before = _rows(session)
        with pytest.raises(Conflict):
            certificates.change_status(session, ADMIN, cert.number, "reinstate", "不在暂停中")
        assert _rows(session) == before

    def test_a_change_whose_commit_fails_leaves_neither_change_nor_event(
        self, session: Session, settings: Settings
    ) -> None:
        (cert,) = issue_some(session, settings, 1)
        before = [(r.seq, r.kind) for r in _rows(session)]
        head_before = session.exec(select(AuditHead)).one().last_seq

        def lost_connection(_session: Session) -> None:
            raise ConnectionError("the database went away at commit")

        event.listen(session, "before_commit", lost_connection)
        with pytest.raises(ConnectionError):
            certificates.change_status(session, ADMIN, cert.number, "suspend", "调查中")
        event.remove(session, "before_commit", lost_connection)
        session.rollback()
        assert [(r.seq, r.kind) for r in _rows(session)] == before
        assert session.exec(select(AuditHead)).one().last_seq == head_before
        assert session.get(Certificate, cert.id).status == CertificateStatus.valid  # type: ignore[union-attr]

    def test_an_event_that_cannot_be_queued_undoes_the_change(
        self, session: Session, settings: Settings
    ) -> None:
        (cert,) = issue_some(session, settings, 1)
        assert cert.id is not None
        next_seq = session.exec(select(AuditHead)).one().last_seq + 1
        # A stray row already holds the seq the next change will get: its event cannot be
        # written, so the change must not be made either.
        session.add(
            OutboxEvent(
                seq=next_seq,
                kind="certificate.issue",
                certificate_id=cert.id,
                certificate_number=cert.number,
                payload="{}",
                idempotency_key="stray",
            )
        )
        session.commit()
        with pytest.raises(IntegrityError):
            certificates.change_status(session, ADMIN, cert.number, "suspend", "调查中")
        session.rollback()
        assert session.get(Certificate, cert.id).status == CertificateStatus.valid  # type: ignore[union-attr]
        assert session.exec(select(AuditHead)).one().last_seq == next_seq - 1
