"""Correcting rooms and stations, taking them out of service, removing absences, by the API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from server.accounts.models import Role
from server.audit.models import AuditEvent
from server.scheduling.models import ClassSession, InstructorAbsence, Room, Station
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

FIRST_DAY, LAST_DAY = "2030-03-01", "2030-03-31"


@pytest.fixture
def planner(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.trainer))


def stored_room(session: Session, room_id: int | None) -> Room:
    session.rollback()
    session.expire_all()
    room = session.get(Room, room_id)
    assert room is not None
    return room


def stored_station(session: Session, station_id: int | None) -> Station:
    session.rollback()
    session.expire_all()
    station = session.get(Station, station_id)
    assert station is not None
    return station


def actions(session: Session) -> list[str]:
    session.rollback()
    return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all())


def fields(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    return [d["field"] for d in body["details"]]


class TestUpdateRoom:
    def test_correct_name_and_capacity(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="A101", capacity=40)
        response = client.patch(
            f"/api/v1/rooms/{room.id}",
            json={"name": "多媒体教室", "capacity": 36},
            headers=auth(planner),
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": room.id,
            "code": "A101",
            "name": "多媒体教室",
            "capacity": 36,
            "is_active": True,
        }
        stored = stored_room(session, room.id)
        assert (stored.name, stored.capacity) == ("多媒体教室", 36)
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "room.update")).one()
        assert json.loads(event.after or "") == {"name": "多媒体教室", "capacity": 36}

    def test_nothing_to_change_writes_no_event(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="A101", capacity=40)
        response = client.patch(
            f"/api/v1/rooms/{room.id}", json={"capacity": 40}, headers=auth(planner)
        )
        assert response.status_code == 200
        assert "room.update" not in actions(session)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"capacity": 0}, "capacity"),
            ({"capacity": 1001}, "capacity"),
            ({"name": ""}, "name"),
            ({"name": None}, "name"),
            ({"is_active": None}, "is_active"),
            ({"code": "B202"}, "code"),  # a room's code never changes
        ],
    )
    def test_bad_input_names_the_field_and_changes_nothing(
        self,
        client: TestClient,
        session: Session,
        planner: str,
        body: dict[str, object],
        field: str,
    ) -> None:
        room = make_room(session, code="A101", capacity=40)
        name = room.name
        response = client.patch(f"/api/v1/rooms/{room.id}", json=body, headers=auth(planner))
        assert response.status_code == 422
        assert fields(response) == [field]
        stored = stored_room(session, room.id)
        assert (stored.code, stored.name, stored.capacity, stored.is_active) == (
            "A101",
            name,
            40,
            True,
        )

    def test_fewer_seats_than_a_coming_sessions_trainees_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="A101", capacity=10)
        course = make_course(session, capacity=5, starts_on=FIRST_DAY, ends_on=LAST_DAY)
        booked = make_session(session, course=course, day="2030-03-04", room=room)
        for _ in range(3):
            enrol(session, course=course, trainee=make_trainee(session))
        response = client.patch(
            f"/api/v1/rooms/{room.id}", json={"capacity": 2}, headers=auth(planner)
        )
        assert response.status_code == 409
        body = response.json()
        assert body["error"] == "room_capacity_below_enrolment"
        assert body["details"]["field"] == "capacity"
        [unfit] = body["details"]["sessions"]
        assert unfit["session_id"] == booked.id and unfit["enrolled"] == 3
        assert unfit["course_code"] == course.code
        assert course.code in body["message"]
        assert stored_room(session, room.id).capacity == 10
        response = client.patch(
            f"/api/v1/rooms/{room.id}", json={"capacity": 3}, headers=auth(planner)
        )
        assert response.status_code == 200

    def test_out_of_service_keeps_its_sessions_and_refuses_new_ones(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="A101")
        course = make_course(session, starts_on=FIRST_DAY, ends_on=LAST_DAY)
        booked = make_session(session, course=course, day="2030-03-04", room=room)
        response = client.patch(
            f"/api/v1/rooms/{room.id}",
            params={"reason": "装修"},
            json={"is_active": False},
            headers=auth(planner),
        )
        assert response.status_code == 200 and response.json()["is_active"] is False
        listed = client.get("/api/v1/rooms", headers=auth(planner)).json()
        assert [(r["code"], r["is_active"]) for r in listed] == [("A101", False)]
        session.rollback()
        kept = session.get(ClassSession, booked.id)
        assert kept is not None and kept.room_id == room.id
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "room.deactivate")).one()
        assert event.reason == "装修"
        response = client.post(
            f"/api/v1/courses/{course.id}/sessions",
            json={
                "kind": "theory",
                "starts_at": local("2030-03-05", "09:00").isoformat(),
                "ends_at": local("2030-03-05", "10:00").isoformat(),
                "room_id": room.id,
            },
            headers=auth(planner),
        )
        assert response.status_code == 422
        assert "已停用" in response.json()["message"]
        assert fields(response) == ["room_id"]

    def test_unknown_room_is_404(self, client: TestClient, planner: str) -> None:
        response = client.patch("/api/v1/rooms/999", json={"capacity": 5}, headers=auth(planner))
        assert response.status_code == 404 and response.json()["error"] == "room_not_found"


class TestUpdateStation:
    def test_correct_kind_name_and_room_then_out_of_its_room(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        hall = make_room(session, code="HALL")
        station = make_station(session, code="RIG-01", kind="fall_rig")
        response = client.patch(
            f"/api/v1/stations/{station.id}",
            json={"kind": "shock_rig", "name": "触电体验台", "room_id": hall.id},
            headers=auth(planner),
        )
        assert response.status_code == 200, response.text
        assert response.json() | {"id": 0} == {
            "id": 0,
            "code": "RIG-01",
            "kind": "shock_rig",
            "name": "触电体验台",
            "room_id": hall.id,
            "is_active": True,
        }
        response = client.patch(
            f"/api/v1/stations/{station.id}", json={"room_id": None}, headers=auth(planner)
        )
        assert response.status_code == 200 and response.json()["room_id"] is None
        # Leaving room_id out leaves the room alone.
        client.patch(
            f"/api/v1/stations/{station.id}", json={"room_id": hall.id}, headers=auth(planner)
        )
        client.patch(f"/api/v1/stations/{station.id}", json={"name": "新名"}, headers=auth(planner))
        stored = stored_station(session, station.id)
        assert (stored.kind, stored.name, stored.room_id) == ("shock_rig", "新名", hall.id)
        assert actions(session).count("station.update") == 4

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"kind": "hovercraft"}, "kind"),
            ({"kind": None}, "kind"),
            ({"name": "x" * 101}, "name"),
            ({"room_id": "A101"}, "room_id"),
            ({"code": "RIG-02"}, "code"),  # devices know the station by its code
        ],
    )
    def test_bad_input_names_the_field_and_changes_nothing(
        self,
        client: TestClient,
        session: Session,
        planner: str,
        body: dict[str, object],
        field: str,
    ) -> None:
        station = make_station(session, code="RIG-01", kind="fall_rig")
        response = client.patch(f"/api/v1/stations/{station.id}", json=body, headers=auth(planner))
        assert response.status_code == 422
        assert fields(response) == [field]
        stored = stored_station(session, station.id)
        assert (stored.code, stored.kind) == ("RIG-01", "fall_rig")

    @pytest.mark.parametrize("room_state", ["missing", "inactive"])
    def test_moves_only_into_a_room_in_service(
        self, client: TestClient, session: Session, planner: str, room_state: str
    ) -> None:
        room = make_room(session, code="OLD")
        if room_state == "inactive":
            client.patch(
                f"/api/v1/rooms/{room.id}", json={"is_active": False}, headers=auth(planner)
            )
        room_id = room.id if room_state == "inactive" else 999
        station = make_station(session, code="VR-01")
        response = client.patch(
            f"/api/v1/stations/{station.id}",
            json={"room_id": room_id, "name": "改名"},
            headers=auth(planner),
        )
        assert response.status_code == 422
        assert fields(response) == ["room_id"]
        stored = stored_station(session, station.id)
        assert (stored.room_id, stored.name) == (None, station.name)

    def test_out_of_service_refuses_new_sessions_on_it(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        pod = make_station(session, code="VR-03")
        course = make_course(session, starts_on=FIRST_DAY, ends_on=LAST_DAY)
        response = client.patch(
            f"/api/v1/stations/{pod.id}", json={"is_active": False}, headers=auth(planner)
        )
        assert response.status_code == 200 and response.json()["is_active"] is False
        response = client.post(
            f"/api/v1/courses/{course.id}/sessions",
            json={
                "kind": "vr",
                "starts_at": local("2030-03-05", "09:00").isoformat(),
                "ends_at": local("2030-03-05", "10:00").isoformat(),
                "station_ids": [pod.id],
            },
            headers=auth(planner),
        )
        assert response.status_code == 422 and fields(response) == ["station_ids"]
        assert response.json()["details"][0]["code"] == "station_out_of_service"
        assert "VR-03" in response.json()["message"]
        session.rollback()
        assert session.exec(select(func.count()).select_from(ClassSession)).one() == 0
        assert "station.deactivate" in actions(session)

    def test_a_new_station_in_a_room_out_of_service_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        room = make_room(session, code="D101")
        client.patch(f"/api/v1/rooms/{room.id}", json={"is_active": False}, headers=auth(planner))
        response = client.post(
            "/api/v1/stations",
            json={"code": "VR-09", "kind": "vr_pod", "name": "九号", "room_id": room.id},
            headers=auth(planner),
        )
        assert response.status_code == 422 and fields(response) == ["room_id"]
        assert response.json()["details"][0]["code"] == "room_out_of_service"
        session.rollback()
        assert session.exec(select(func.count()).select_from(Station)).one() == 0


class TestRemoveAbsence:
    def test_remove_and_then_it_is_gone(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        added = client.post(
            f"/api/v1/instructors/{trainer.id}/absences",
            json={
                "starts_at": local("2030-03-10", "08:00").isoformat(),
                "ends_at": local("2030-03-10", "18:00").isoformat(),
                "reason": "年休假",
            },
            headers=auth(planner),
        ).json()
        url = f"/api/v1/instructors/{trainer.id}/absences/{added['id']}"
        response = client.delete(url, params={"reason": "假期取消"}, headers=auth(planner))
        assert response.status_code == 204
        listed = client.get(f"/api/v1/instructors/{trainer.id}/absences", headers=auth(planner))
        assert listed.json() == []
        session.rollback()
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "absence.delete")).one()
        assert event.reason == "假期取消" and "年休假" in (event.before or "")
        again = client.delete(url, headers=auth(planner))
        assert again.status_code == 404 and again.json()["error"] == "absence_not_found"

    def test_another_instructors_absence_is_not_found(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        owner, other = (make_user(session, role=Role.trainer) for _ in range(2))
        added = client.post(
            f"/api/v1/instructors/{owner.id}/absences",
            json={
                "starts_at": local("2030-03-10", "08:00").isoformat(),
                "ends_at": local("2030-03-10", "18:00").isoformat(),
                "reason": "年休假",
            },
            headers=auth(planner),
        ).json()
        response = client.delete(
            f"/api/v1/instructors/{other.id}/absences/{added['id']}", headers=auth(planner)
        )
        assert response.status_code == 404
        session.rollback()
        assert len(session.exec(select(InstructorAbsence)).all()) == 1
