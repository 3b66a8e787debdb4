"""Attendance: check-in/out, credited minutes inside the session window, corrections, progress."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import Role, User
from server.audit.models import AuditEvent
from server.scheduling.attendance import credit
from server.scheduling.models import ClassSession
from tests.factories import (
    auth,
    enrol,
    local,
    make_course,
    make_session,
    make_token,
    make_trainee,
    make_user,
)


@pytest.fixture
def planner(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.trainer))


def _at(day: str, hhmm: str) -> str:
    return local(day, hhmm).isoformat()


class TestCredit:
    ROW = ClassSession(
        course_id=1,
        kind="theory",
        starts_at=local("2026-12-01", "09:00"),
        ends_at=local("2026-12-01", "12:00"),
    )
    NOW = local("2026-12-02", "00:00")

    @pytest.mark.parametrize(
        ("check_in", "check_out", "minutes", "late", "early", "missing"),
        [
            ("08:40", "12:10", 180, 0, 0, False),  # early arrival and late leave do not count extra
            (
                "09:04",
                "12:00",
                176,
                0,
                0,
                False,
            ),  # within the 5-minute grace: not late, but not credited
            ("09:20", "12:00", 160, 20, 0, False),
            ("09:00", "11:30", 150, 0, 30, False),
            ("09:00", None, 0, 0, 0, True),  # no check-out after the end: nothing until corrected
            ("12:30", "13:00", 0, 210, 0, False),
        ],
    )
    def test_credited_minutes(
        self,
        check_in: str,
        check_out: str | None,
        minutes: int,
        late: int,
        early: int,
        missing: bool,
    ) -> None:
        c = credit(
            self.ROW,
            local("2026-12-01", check_in),
            local("2026-12-01", check_out) if check_out else None,
            self.NOW,
        )
        assert (c.minutes, c.late_minutes, c.early_leave_minutes, c.missing_check_out) == (
            minutes,
            late,
            early,
            missing,
        )


class TestCheckInOut:
    def test_check_in_and_out_through_the_api(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        row = make_session(session, course=course, day="2026-12-01")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        r = client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": trainee.id, "at": _at("2026-12-01", "09:12")},
            headers=auth(planner),
        )
        assert r.status_code == 200, r.text
        assert r.json()["late_minutes"] == 12
        again = client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": trainee.id, "at": _at("2026-12-01", "09:30")},
            headers=auth(planner),
        )
        assert (
            again.json()["checked_in_at"] == r.json()["checked_in_at"]
        )  # a retry keeps the first time
        out = client.post(
            f"/api/v1/sessions/{row.id}/check-out",
            json={"trainee_id": trainee.id, "at": _at("2026-12-01", "11:40")},
            headers=auth(planner),
        )
        assert out.json()["credited_minutes"] == 148 and out.json()["early_leave_minutes"] == 20

    def test_not_enrolled_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        row = make_session(session, course=course)
        stranger = make_trainee(session)
        r = client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": stranger.id, "at": _at("2026-12-01", "09:00")},
            headers=auth(planner),
        )
        assert r.status_code == 403 and r.json()["error"] == "not_enrolled"

    def test_outside_the_window_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        row = make_session(session, course=course)
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        r = client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": trainee.id, "at": _at("2026-12-01", "08:00")},
            headers=auth(planner),
        )
        assert r.status_code == 409 and r.json()["error"] == "outside_check_in_window"

    def test_check_out_without_check_in(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        row = make_session(session, course=course)
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        r = client.post(
            f"/api/v1/sessions/{row.id}/check-out",
            json={"trainee_id": trainee.id, "at": _at("2026-12-01", "12:00")},
            headers=auth(planner),
        )
        assert r.status_code == 409 and r.json()["error"] == "not_checked_in"

    def test_trainee_checks_in_only_themselves(self, client: TestClient, session: Session) -> None:
        course = make_course(session)
        row = make_session(session, course=course, day="2026-12-01")
        me, other = make_trainee(session), make_trainee(session)
        enrol(session, course=course, trainee=me)
        enrol(session, course=course, trainee=other)
        user = make_user(session, role=Role.trainee)
        user.trainee_id = me.id
        session.add(user)
        session.commit()
        token = make_token(session, user=session.get(User, user.id))  # type: ignore[arg-type]
        ok = client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": me.id, "at": _at("2026-12-01", "08:55")},
            headers=auth(token),
        )
        assert ok.status_code == 200 and ok.json()["source"] == "kiosk"
        refused = client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": other.id, "at": _at("2026-12-01", "08:55")},
            headers=auth(token),
        )
        assert refused.status_code == 403 and refused.json()["error"] == "not_own_record"


class TestMarksAndCorrections:
    def test_trainer_marks_then_corrects_with_a_reason(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, starts_on="2026-11-02", ends_on="2026-11-20")  # already held
        row = make_session(session, course=course, day="2026-11-03")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        body = {
            "trainee_id": trainee.id,
            "checked_in_at": _at("2026-11-03", "09:00"),
            "checked_out_at": None,
        }
        marked = client.put(
            f"/api/v1/sessions/{row.id}/attendance", json=body, headers=auth(planner)
        ).json()
        assert marked["missing_check_out"] is True and marked["credited_minutes"] == 0
        no_reason = client.patch(
            f"/api/v1/attendance/{marked['id']}",
            json={
                "checked_in_at": _at("2026-11-03", "09:00"),
                "checked_out_at": _at("2026-11-03", "12:00"),
                "reason": "",
            },
            headers=auth(planner),
        )
        assert no_reason.status_code == 422 and no_reason.json()["details"][0]["field"] == "reason"
        fixed = client.patch(
            f"/api/v1/attendance/{marked['id']}",
            json={
                "checked_in_at": _at("2026-11-03", "09:00"),
                "checked_out_at": _at("2026-11-03", "12:00"),
                "reason": "忘记签退，教师核实",
            },
            headers=auth(planner),
        ).json()
        assert fixed["credited_minutes"] == 180 and fixed["corrected"] is True
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "attendance.correct")
        ).one()
        assert event.reason == "忘记签退，教师核实" and "12:00" not in (event.before or "")

    def test_check_out_before_check_in_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        row = make_session(session, course=course, day="2026-12-01")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        body = {
            "trainee_id": trainee.id,
            "checked_in_at": _at("2026-12-01", "11:00"),
            "checked_out_at": _at("2026-12-01", "10:00"),
        }
        r = client.put(f"/api/v1/sessions/{row.id}/attendance", json=body, headers=auth(planner))
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "checked_out_at"

    def test_sheet_lists_records(self, client: TestClient, session: Session, planner: str) -> None:
        course = make_course(session)
        row = make_session(session, course=course, day="2026-12-01")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        client.post(
            f"/api/v1/sessions/{row.id}/check-in",
            json={"trainee_id": trainee.id, "at": _at("2026-12-01", "09:00")},
            headers=auth(planner),
        )
        sheet = client.get(f"/api/v1/sessions/{row.id}/attendance", headers=auth(planner)).json()
        assert [a["trainee_id"] for a in sheet["data"]] == [trainee.id]


class TestProgress:
    def test_hours_per_kind_against_the_curriculum(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        theory = make_session(
            session, course=course, day="2026-12-01", start="09:00", end="12:00", kind="theory"
        )
        vr = make_session(
            session, course=course, day="2026-12-02", start="09:00", end="11:00", kind="vr"
        )
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        for row, (a, b) in ((theory, ("09:00", "12:00")), (vr, ("09:30", "11:00"))):
            day = row.starts_at.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
            client.put(
                f"/api/v1/sessions/{row.id}/attendance",
                json={
                    "trainee_id": trainee.id,
                    "checked_in_at": _at(day, a),
                    "checked_out_at": _at(day, b),
                },
                headers=auth(planner),
            )
        [progress] = client.get(
            f"/api/v1/courses/{course.id}/progress", headers=auth(planner)
        ).json()
        kinds = {k["kind"]: k for k in progress["kinds"]}
        assert (
            kinds["theory"]["credited_minutes"] == 180
            and kinds["theory"]["required_minutes"] == 48 * 60
        )
        assert kinds["vr"]["credited_minutes"] == 90
        assert progress["complete"] is False
