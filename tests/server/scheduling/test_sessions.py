"""Planning sessions: every clash refused with 409 naming it, patterns, hours per kind."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from server.accounts.models import Role
from server.scheduling.models import ClassSession
from tests.factories import (
    auth,
    enrol,
    local,
    make_course,
    make_room,
    make_session,
    make_station,
    make_token,
    make_trainee,
    make_user,
)


@pytest.fixture
def planner(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.trainer))


def _count(session: Session) -> int:
    n = int(session.exec(select(func.count()).select_from(ClassSession)).one())
    session.commit()
    return n


def _body(
    day: str = "2026-12-02", start: str = "09:00", end: str = "12:00", **extra: object
) -> dict[str, object]:
    return {
        "kind": "theory",
        "starts_at": local(day, start).isoformat(),
        "ends_at": local(day, end).isoformat(),
        **extra,
    }


class TestClashes:
    def test_room_double_booked_names_the_other_course(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="A101")
        first = make_course(session)
        make_session(session, course=first, day="2026-12-02", room=room)
        second = make_course(session)
        response = client.post(
            f"/api/v1/courses/{second.id}/sessions",
            json=_body(start="11:00", end="13:00", room_id=room.id),
            headers=auth(planner),
        )
        assert response.status_code == 409
        body = response.json()
        assert body["error"] == "schedule_conflict"
        [clash] = body["details"]["clashes"]
        assert clash["kind"] == "room_double_booked" and clash["subject"] == "A101"
        assert first.code in clash["message"] and "2026-12-02 09:00–12:00" in clash["message"]
        assert _count(session) == 1

    def test_back_to_back_is_not_a_clash(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session)
        course = make_course(session)
        make_session(
            session, course=course, day="2026-12-02", start="09:00", end="12:00", room=room
        )
        response = client.post(
            f"/api/v1/courses/{course.id}/sessions",
            json=_body(start="12:00", end="15:00", room_id=room.id),
            headers=auth(planner),
        )
        assert response.status_code == 201, response.text

    def test_every_clash_is_named_at_once(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="B2", capacity=20)
        pod = make_station(session, code="VR-07")
        teacher = make_user(session, role=Role.trainer)
        other = make_course(session, capacity=10)
        make_session(
            session, course=other, day="2026-12-03", room=room, stations=[pod], instructor=teacher
        )
        course = make_course(session, capacity=30)
        body = _body(
            day="2026-12-03",
            start="10:00",
            end="11:00",
            room_id=room.id,
            station_ids=[pod.id],
            instructor_id=teacher.id,
            kind="vr",
        )
        response = client.post(
            f"/api/v1/courses/{course.id}/sessions", json=body, headers=auth(planner)
        )
        assert response.status_code == 409
        kinds = sorted(c["kind"] for c in response.json()["details"]["clashes"])
        assert kinds == [
            "instructor_double_booked",
            "room_double_booked",
            "room_over_capacity",
            "station_double_booked",
        ]

    def test_instructor_absence_is_a_clash(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        teacher = make_user(session, role=Role.trainer)
        absence = {
            "starts_at": local("2026-12-04", "00:00").isoformat(),
            "ends_at": local("2026-12-05", "00:00").isoformat(),
            "reason": "年假",
        }
        assert (
            client.post(
                f"/api/v1/instructors/{teacher.id}/absences", json=absence, headers=auth(planner)
            ).status_code
            == 201
        )
        course = make_course(session)
        response = client.post(
            f"/api/v1/courses/{course.id}/sessions",
            json=_body(day="2026-12-04", instructor_id=teacher.id),
            headers=auth(planner),
        )
        assert response.status_code == 409
        assert "年假" in response.json()["details"]["clashes"][0]["message"]

    def test_trainee_in_two_courses_at_once(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        trainee = make_trainee(session, name="钱多多")
        first, second = make_course(session), make_course(session, curriculum="HYDROGENATION")
        make_session(session, course=first, day="2026-12-07")
        enrol(session, course=first, trainee=trainee)
        enrol(session, course=second, trainee=trainee)
        response = client.post(
            f"/api/v1/courses/{second.id}/sessions",
            json=_body(day="2026-12-07", start="08:00", end="10:00"),
            headers=auth(planner),
        )
        assert response.status_code == 409
        [clash] = response.json()["details"]["clashes"]
        assert clash["kind"] == "trainee_double_booked" and clash["subject"] == "钱多多"


class TestSessionInput:
    @pytest.mark.parametrize(
        ("body", "field", "code"),
        [
            (_body(start="12:00", end="09:00"), "ends_at", "ends_before_start"),
            (_body(start="06:00", end="19:00"), "ends_at", "session_too_long"),
            (_body(day="2027-01-05"), "starts_at", "outside_course_dates"),
            (
                {
                    "kind": "theory",
                    "starts_at": "2026-12-02T09:00:00",
                    "ends_at": "2026-12-02T10:00:00",
                },
                "starts_at",
                "value_error",
            ),
            (_body(kind="picnic"), "kind", "enum"),
            (_body(room_id=999), "room_id", "room_not_found"),
        ],
    )
    def test_bad_session_is_refused_naming_the_field(
        self,
        client: TestClient,
        session: Session,
        planner: str,
        body: dict[str, object],
        field: str,
        code: str,
    ) -> None:
        course = make_course(session)
        response = client.post(
            f"/api/v1/courses/{course.id}/sessions", json=body, headers=auth(planner)
        )
        assert response.status_code == 422, response.text
        assert (field, code) in [(d["field"], d["code"]) for d in response.json()["details"]]
        assert _count(session) == 0

    def test_unknown_course_is_404(self, client: TestClient, planner: str) -> None:
        assert (
            client.post(
                "/api/v1/courses/999/sessions", json=_body(), headers=auth(planner)
            ).status_code
            == 404
        )


class TestPatterns:
    def test_weekdays_for_two_weeks_skipping_a_date(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, starts_on="2026-12-21", ends_on="2027-01-08")
        body = {
            "kind": "theory",
            "weekdays": [1, 2, 3, 4, 5],
            "start_time": "09:00",
            "end_time": "12:00",
            "from_date": "2026-12-21",
            "to_date": "2027-01-01",
            "skip_dates": ["2026-12-25", "2027-01-01"],
        }
        response = client.post(
            f"/api/v1/courses/{course.id}/session-patterns", json=body, headers=auth(planner)
        )
        assert response.status_code == 201, response.text
        starts = [s["starts_at"] for s in response.json()["data"]]
        assert len(starts) == 8
        assert starts[0] == "2026-12-21T01:00:00Z"  # 09:00 in Shanghai
        assert not any(s.startswith("2026-12-25") for s in starts)

    def test_one_clash_stores_none_and_names_its_date(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session)
        other = make_course(session)
        make_session(session, course=other, day="2026-12-09", room=room)
        course = make_course(session)
        body = {
            "kind": "theory",
            "weekdays": [1, 3, 5],
            "start_time": "10:00",
            "end_time": "11:00",
            "from_date": "2026-12-07",
            "to_date": "2026-12-11",
            "room_id": room.id,
        }
        response = client.post(
            f"/api/v1/courses/{course.id}/session-patterns", json=body, headers=auth(planner)
        )
        assert response.status_code == 409
        [clash] = response.json()["details"]["clashes"]
        assert clash["starts_at"].startswith("2026-12-09")
        assert _count(session) == 1


class TestHours:
    def test_shortfall_and_excess_per_kind(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        make_session(
            session, course=course, day="2026-12-01", start="08:00", end="18:00", kind="theory"
        )
        make_session(
            session, course=course, day="2026-12-02", start="08:00", end="20:00", kind="vr"
        )
        plan = client.get(f"/api/v1/courses/{course.id}/hours", headers=auth(planner)).json()
        lines = {line["kind"]: line for line in plan["lines"]}
        assert (
            lines["theory"]["required_hours"] == 48 and lines["theory"]["difference_hours"] == -38
        )
        assert (
            lines["vr"]["planned_hours"] == 12
            and lines["vr"]["difference_hours"] == 12 - lines["vr"]["required_hours"]
        )
        assert plan["complete"] is False


class TestDelete:
    def test_delete_frees_the_room(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session)
        course = make_course(session)
        row = make_session(session, course=course, day="2026-12-02", room=room)
        assert (
            client.delete(
                f"/api/v1/sessions/{row.id}", params={"reason": "改期"}, headers=auth(planner)
            ).status_code
            == 204
        )
        again = client.post(
            f"/api/v1/courses/{course.id}/sessions",
            json=_body(room_id=room.id),
            headers=auth(planner),
        )
        assert again.status_code == 201
