"""The audit chain: every change recorded; any edit or deletion detected and named."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, col, select

from server.accounts.models import Role
from server.audit import service as audit
from server.audit.models import AuditEvent
from tests.factories import auth, make_token, make_trainee, make_user


def _events(session: Session) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all())


class TestChain:
    def test_changes_are_recorded_in_order(self, session: Session) -> None:
        make_user(session, role=Role.trainer)
        trainee = make_trainee(session)
        events = _events(session)
        assert [e.action for e in events] == ["user.create", "trainee.create"]
        assert events[1].entity_id == str(trainee.id)
        assert events[1].prev_hash == events[0].hash
        assert audit.verify(session).ok

    def test_edited_event_is_named(self, session: Session, engine: object) -> None:
        for _ in range(3):
            make_trainee(session)
        session.exec(
            text("UPDATE audit_events SET after = replace(after, '张伟', '李雷') WHERE seq = 2")
        )  # type: ignore[call-overload]
        session.commit()
        report = audit.verify(session)
        assert not report.ok
        assert [(seq, en) for seq, _, en in report.problems] == [
            (2, "the event's content was modified")
        ]

    def test_deleted_event_is_named(self, session: Session) -> None:
        for _ in range(4):
            make_trainee(session)
        session.exec(text("DELETE FROM audit_events WHERE seq = 2"))  # type: ignore[call-overload]
        session.commit()
        report = audit.verify(session)
        assert [seq for seq, _, _ in report.problems] == [2]
        assert "deleted" in report.problems[0][2]

    def test_deleted_newest_event_is_detected(self, session: Session) -> None:
        for _ in range(3):
            make_trainee(session)
        session.exec(text("DELETE FROM audit_events WHERE seq = 3"))  # type: ignore[call-overload]
        session.commit()
        report = audit.verify(session)
        assert not report.ok and "newest" in report.problems[0][2]

    def test_rehashed_forgery_still_breaks_the_link(self, session: Session) -> None:
        """An attacker who edits an event and recomputes its hash breaks the next event's link."""
        for _ in range(3):
            make_trainee(session)
        event = session.get(AuditEvent, 2)
        assert event is not None
        event.after = event.after.replace("张伟", "李雷") if event.after else None
        event.hash = audit._event_hash(event)
        session.add(event)
        session.commit()
        report = audit.verify(session)
        assert [seq for seq, _, _ in report.problems] == [3]


class TestAuditApi:
    def test_admin_reads_events_of_one_entity_and_verifies(
        self, client: TestClient, session: Session
    ) -> None:
        admin = make_user(session, role=Role.admin)
        token = make_token(session, user=admin)
        trainee = make_trainee(session)
        events = client.get(
            "/api/v1/audit/events",
            params={"entity_type": "trainee", "entity_id": trainee.id},
            headers=auth(token),
        )
        assert events.status_code == 200
        assert [e["action"] for e in events.json()["data"]] == ["trainee.create"]
        verdict = client.get("/api/v1/audit/verify", headers=auth(token)).json()
        assert verdict["ok"] is True and verdict["checked"] >= 3
