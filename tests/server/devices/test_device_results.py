"""Gateway batches, the device registry, station bindings and attribution of results."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from server.accounts.models import Role
from server.audit.models import AuditEvent
from server.audit.service import Actor
from server.db import make_engine
from server.devices import ingest
from server.devices.models import Attribution, Device, DeviceFrame, StationBinding
from server.devices.registry import DeviceCreate, create_device
from tests.factories import (
    ACTOR,
    auth,
    make_station,
    make_token,
    make_trainee,
    make_trainee_user,
    make_user,
)
from tests.server.scheduling.test_enrolment import run_together

BOOT = "1a2b3c4d"


@pytest.fixture
def gateway(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.gateway))


@pytest.fixture
def planner(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.trainer))


@pytest.fixture
def pod(session: Session) -> Device:
    make_station(session, code="VR-03", kind="vr_pod")
    device = create_device(
        session,
        ACTOR,
        DeviceCreate(code="VR-03", kind="vr_pod", station="VR-03"),  # type: ignore[arg-type]
    )
    session.rollback()  # end the read the refresh began: the server's writes come next
    return device


def result_frame(
    seq: int, *, badge: str | None = None, ts: str = "2026-12-01T10:00:00+08:00", **over: Any
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "t": "result",
        "v": 1,
        "dev": "VR-03",
        "boot": BOOT,
        "seq": seq,
        "scenario": "NITR-RUNAWAY",
        "badge": badge,
        "score": 87.5,
        "max": 100,
        "passed": True,
        "duration_s": 312,
        "errors": [],
        "veto": [],
        "ts": ts,
    }
    frame.update(over)
    return frame


def item(
    frame: dict[str, Any],
    *,
    key: str | None = None,
    station: str = "VR-03",
    source: str = "serial",
) -> dict[str, Any]:
    return {
        "key": key or f"{frame['dev']}:{frame['boot']}:{frame['seq']}",
        "station": station,
        "source": source,
        "received_at": "2026-12-01T02:00:05Z",
        "frame": frame,
    }


def post(client: TestClient, token: str, items: list[Any]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/device-results", json={"items": items}, headers=auth(token))
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def stored(session: Session) -> int:
    session.rollback()
    return int(session.exec(select(func.count()).select_from(DeviceFrame)).one())


class TestBatch:
    def test_each_item_gets_its_answer_and_one_bad_item_fails_nothing_else(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        step = {
            "t": "step",
            "v": 1,
            "dev": "VR-03",
            "boot": BOOT,
            "seq": 2,
            "scenario": "NITR-RUNAWAY",
            "step": "close-valve",
            "ok": True,
            "at_ms": 4100,
        }
        items = [
            item(result_frame(1)),
            item(step),
            item(result_frame(3), key="VR-03:1a2b3c4d:99"),
            item({**result_frame(4), "t": "telemetry"}),
            item({k: v for k, v in result_frame(5).items() if k != "score"}),
            item(result_frame(6, score=120)),
            item(result_frame(7, scenario="NO-SUCH")),
            item(result_frame(8), station="VR-04"),
            item({**result_frame(9), "dev": "VR-77"}),
            item(result_frame(10, ts="yesterday")),
            "not an object",
        ]
        answers = post(client, gateway, items)
        assert [(a["status"], a["reason"]) for a in answers] == [
            ("accepted", None),
            ("accepted", None),
            ("rejected", "key_mismatch"),
            ("rejected", "unknown_type"),
            ("rejected", "missing_field:score"),
            ("rejected", "score_out_of_range"),
            ("rejected", "unknown_scenario"),
            ("rejected", "station_mismatch"),
            ("rejected", "unknown_device"),
            ("rejected", "bad_field:ts"),
            ("rejected", "not_an_object"),
        ]
        assert answers[0]["key"] == "VR-03:1a2b3c4d:1"
        assert stored(session) == 2

    def test_duplicates_in_a_batch_and_across_batches_are_stored_once(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        first = post(client, gateway, [item(result_frame(1)), item(result_frame(1))])
        assert [a["status"] for a in first] == ["accepted", "duplicate"]
        again = post(client, gateway, [item(result_frame(1)), item(result_frame(2))])
        assert [a["status"] for a in again] == ["duplicate", "accepted"]
        assert stored(session) == 2

    def test_a_new_boot_is_a_new_sequence(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        post(client, gateway, [item(result_frame(1))])
        rebooted = post(client, gateway, [item(result_frame(1, boot="9f8e7d6c"))])
        assert rebooted[0]["status"] == "accepted"
        session.rollback()
        assert session.exec(select(Device)).one().last_boot == "9f8e7d6c"

    def test_the_whole_request_is_refused_only_when_malformed(
        self, client: TestClient, gateway: str, pod: Device
    ) -> None:
        over = client.post(
            "/api/v1/device-results",
            json={"items": [item(result_frame(i + 1)) for i in range(501)]},
            headers=auth(gateway),
        )
        assert over.status_code == 422
        assert (
            client.post("/api/v1/device-results", json={}, headers=auth(gateway)).status_code == 422
        )
        garbage = client.post(
            "/api/v1/device-results",
            content=b"{not json",
            headers={**auth(gateway), "content-type": "application/json"},
        )
        assert garbage.status_code == 422


class TestCameraReadings:
    """A camera reads a score off a screen or display: no error list, veto, badge or duration,
    and from an LED display no pass/fail. Those may be absent; the rest may not."""

    def test_a_reading_without_the_fields_a_camera_cannot_see_is_accepted(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        unseen = ("badge", "passed", "duration_s", "errors", "veto")
        seven_seg = {k: v for k, v in result_frame(1).items() if k not in unseen}
        qr = {k: v for k, v in result_frame(2).items() if k not in unseen[2:]}
        answers = post(
            client,
            gateway,
            [item(seven_seg, source="camera-7seg"), item(qr, source="camera-qr")],
        )
        assert [a["status"] for a in answers] == ["accepted", "accepted"]
        session.rollback()
        rows = session.exec(select(DeviceFrame).order_by(DeviceFrame.seq)).all()
        assert [r.source for r in rows] == ["camera-7seg", "camera-qr"]

    def test_what_a_camera_reads_is_still_required_and_checked(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        no_score = {k: v for k, v in result_frame(1).items() if k != "score"}
        answers = post(
            client,
            gateway,
            [
                item(no_score, source="camera-7seg"),
                item(result_frame(2, passed="yes"), source="camera-qr"),
                item({k: v for k, v in result_frame(3).items() if k != "passed"}),
                item({**result_frame(4), "t": "start"}, source="camera-qr"),
            ],
        )
        assert [(a["status"], a["reason"]) for a in answers] == [
            ("rejected", "missing_field:score"),
            ("rejected", "bad_field:passed"),
            ("rejected", "missing_field:passed"),  # a serial device always says
            ("rejected", "not_a_camera_type"),
        ]
        assert stored(session) == 0


class TestAttribution:
    def test_the_badge_in_the_frame_wins(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        trainee = make_trainee(session)
        post(client, gateway, [item(result_frame(1, badge=trainee.badge))])
        row = session.exec(select(DeviceFrame)).one()
        assert (row.trainee_id, row.attribution) == (trainee.id, Attribution.badge)

    def test_the_trainee_bound_at_the_results_time(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        from server.devices import bindings

        early, late = make_trainee(session), make_trainee(session)
        assert early.id is not None and late.id is not None
        at = dt.datetime.fromisoformat
        bindings.bind(
            session, ACTOR, "VR-03", early.id, source="console", now=at("2026-12-01T09:00:00+08:00")
        )
        bindings.bind(
            session, ACTOR, "VR-03", late.id, source="console", now=at("2026-12-01T10:30:00+08:00")
        )
        post(
            client,
            gateway,
            [
                item(result_frame(1, ts="2026-12-01T10:00:00+08:00")),
                item(result_frame(2, ts="2026-12-01T11:00:00+08:00")),
                item(result_frame(3, ts="2026-12-01T08:00:00+08:00")),
            ],
        )
        session.rollback()
        rows = session.exec(select(DeviceFrame).order_by(DeviceFrame.seq)).all()
        assert [(r.trainee_id, r.attribution) for r in rows] == [
            (early.id, Attribution.binding),
            (late.id, Attribution.binding),
            (None, Attribution.unassigned),
        ]

    def test_an_unassigned_result_is_resolved_by_a_trainer_with_a_reason(
        self, client: TestClient, session: Session, gateway: str, planner: str, pod: Device
    ) -> None:
        post(client, gateway, [item(result_frame(1, badge="BNOBODY"))])
        listed = client.get("/api/v1/device-results/unassigned", headers=auth(planner)).json()
        assert [r["key"] for r in listed] == ["VR-03:1a2b3c4d:1"]
        trainee = make_trainee(session)
        body = {"trainee_id": trainee.id, "reason": "胸卡损坏，教师现场确认"}
        done = client.post(
            f"/api/v1/device-results/{listed[0]['id']}/assign", json=body, headers=auth(planner)
        )
        assert done.status_code == 200 and done.json()["attribution"] == "resolved"
        again = client.post(
            f"/api/v1/device-results/{listed[0]['id']}/assign", json=body, headers=auth(planner)
        )
        assert again.status_code == 409 and again.json()["error"] == "already_attributed"
        session.rollback()
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "device_result.assign")
        ).one()
        assert event.reason == "胸卡损坏，教师现场确认"
        assert client.get("/api/v1/device-results/unassigned", headers=auth(planner)).json() == []


class TestBindings:
    def test_a_trainee_binds_themself_and_the_next_one_takes_over(
        self, client: TestClient, session: Session, gateway: str, pod: Device
    ) -> None:
        first, second = make_trainee(session, name="甲"), make_trainee(session, name="乙")
        tokens = [
            make_token(session, user=make_trainee_user(session, trainee=t)) for t in (first, second)
        ]
        mine = client.put("/api/v1/stations/vr-03/binding", json={}, headers=auth(tokens[0]))
        assert mine.status_code == 200 and mine.json()["station"] == "VR-03"
        now = client.get("/api/v1/stations/bindings", headers=auth(gateway)).json()["data"]
        assert [(b["station"], b["name"], b["badge"]) for b in now] == [
            ("VR-03", "甲", first.badge)
        ]
        client.put("/api/v1/stations/VR-03/binding", json={}, headers=auth(tokens[1]))
        now = client.get("/api/v1/stations/bindings", headers=auth(gateway)).json()["data"]
        assert [b["name"] for b in now] == ["乙"]
        session.rollback()
        ended = session.exec(
            select(StationBinding).where(StationBinding.trainee_id == first.id)
        ).one()
        assert ended.ended_at is not None

    def test_a_trainee_may_not_bind_someone_else(
        self, client: TestClient, session: Session, pod: Device
    ) -> None:
        me, other = make_trainee(session), make_trainee(session)
        token = make_token(session, user=make_trainee_user(session, trainee=me))
        response = client.put(
            "/api/v1/stations/VR-03/binding", json={"trainee_id": other.id}, headers=auth(token)
        )
        assert response.status_code == 403 and response.json()["error"] == "not_own_record"
        assert session.exec(select(StationBinding)).all() == []

    def test_staff_must_name_the_trainee_and_the_station_must_exist(
        self, client: TestClient, session: Session, planner: str, pod: Device
    ) -> None:
        missing = client.put("/api/v1/stations/VR-03/binding", json={}, headers=auth(planner))
        assert missing.status_code == 422 and missing.json()["details"][0]["field"] == "trainee_id"
        trainee = make_trainee(session)
        nowhere = client.put(
            "/api/v1/stations/VR-99/binding", json={"trainee_id": trainee.id}, headers=auth(planner)
        )
        assert nowhere.status_code == 404

    def test_unbinding_ends_it(
        self, client: TestClient, session: Session, planner: str, gateway: str, pod: Device
    ) -> None:
        trainee = make_trainee(session)
        client.put(
            "/api/v1/stations/VR-03/binding", json={"trainee_id": trainee.id}, headers=auth(planner)
        )
        assert (
            client.delete("/api/v1/stations/VR-03/binding", headers=auth(planner)).status_code
            == 204
        )
        assert client.get("/api/v1/stations/bindings", headers=auth(gateway)).json()["data"] == []


class TestRegistry:
    def test_register_and_list(self, client: TestClient, session: Session, gateway: str) -> None:
        make_station(session, code="FALL-01", kind="fall_rig")
        admin = make_token(session, user=make_user(session, role=Role.admin))
        made = client.post(
            "/api/v1/devices",
            json={"code": "FALL-01", "kind": "fall_rig", "station": "FALL-01"},
            headers=auth(admin),
        )
        assert made.status_code == 201
        listed = client.get("/api/v1/devices", headers=auth(gateway)).json()
        assert [(d["code"], d["station"]) for d in listed] == [("FALL-01", "FALL-01")]
        twice = client.post(
            "/api/v1/devices",
            json={"code": "FALL-01", "kind": "fall_rig", "station": "FALL-01"},
            headers=auth(admin),
        )
        assert twice.status_code == 409

    def test_a_kind_that_does_not_fit_the_station_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        make_station(session, code="FALL-01", kind="fall_rig")
        admin = make_token(session, user=make_user(session, role=Role.admin))
        wrong = client.post(
            "/api/v1/devices",
            json={"code": "X1", "kind": "vr_pod", "station": "FALL-01"},
            headers=auth(admin),
        )
        assert wrong.status_code == 422 and wrong.json()["details"][0]["field"] == "kind"
        session.rollback()
        assert session.exec(select(Device)).all() == []


@pytest.mark.postgres_only
class TestRacingGateways:
    def test_two_gateways_forwarding_the_same_frames_store_each_once(
        self, session: Session, db_url: str, pod: Device
    ) -> None:
        """Real concurrent transactions: the unique key decides, not a check-then-insert."""
        engine = make_engine(db_url)
        batch = [item(result_frame(seq)) for seq in range(1, 201)]

        def forward() -> list[str]:
            with Session(engine) as own:
                return [o.status for o in ingest.ingest(own, Actor(name="gw"), batch)]

        answers = run_together(partial(forward), partial(forward))
        assert all(isinstance(a, list) for a in answers), answers
        statuses = [s for a in answers for s in a]  # type: ignore[union-attr]
        assert statuses.count("accepted") == 200 and statuses.count("duplicate") == 200
        assert stored(session) == 200
        engine.dispose()


class TestCheckOutEndsTheBinding:
    def test_results_after_check_out_are_not_the_leavers(
        self, client: TestClient, session: Session, planner: str, gateway: str, pod: Device
    ) -> None:
        from tests.factories import enrol, local, make_course, make_session

        course = make_course(session)
        row = make_session(session, course=course, day="2026-12-01")
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        for path, at in (("check-in", "09:00"), ("check-out", "11:00")):
            if path == "check-out":
                client.put(
                    "/api/v1/stations/VR-03/binding",
                    json={"trainee_id": trainee.id},
                    headers=auth(planner),
                )
            r = client.post(
                f"/api/v1/sessions/{row.id}/{path}",
                json={"trainee_id": trainee.id, "at": local("2026-12-01", at).isoformat()},
                headers=auth(planner),
            )
            assert r.status_code == 200, r.text
        assert client.get("/api/v1/stations/bindings", headers=auth(gateway)).json()["data"] == []
        post(client, gateway, [item(result_frame(1, ts="2026-12-01T11:30:00+08:00"))])
        session.rollback()
        assert session.exec(select(DeviceFrame)).one().attribution == Attribution.unassigned
