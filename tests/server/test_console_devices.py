"""The live device page as a trainer sees it."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import Role
from server.devices.models import GatewayReport
from server.devices.registry import DeviceCreate, create_device
from tests.factories import ACTOR, auth, log_in, make_station, make_token, make_trainee, make_user
from tests.server.test_console_schedule import row_of


def _setup(client: TestClient, session: Session) -> str:
    make_station(session, code="VR-03", kind="vr_pod")
    make_station(session, code="FALL-01", kind="fall_rig")
    make_station(session, code="EXAM-01", kind="exam_seat")
    for code, kind in (("VR-03", "vr_pod"), ("FALL-01", "fall_rig")):
        create_device(session, ACTOR, DeviceCreate(code=code, kind=kind, station=code))  # type: ignore[arg-type]
    trainee = make_trainee(session, name="周杰")
    session.rollback()
    gateway = make_token(session, user=make_user(session, role=Role.gateway))
    report = {
        "devices": [
            {
                "station": "VR-03",
                "dev": "VR-03",
                "online": True,
                "last_seen": "2026-12-01T02:00:00Z",
                "frames_ok": 41,
                "frames_bad": 1,
            },
            {
                "station": "FALL-01",
                "dev": "FALL-01",
                "online": False,
                "frames_ok": 3,
                "frames_bad": 0,
            },
        ],
        "spool_depth": 0,
        "rejected": 0,
    }
    assert (
        client.put("/api/v1/gateways/status", json=report, headers=auth(gateway)).status_code == 204
    )
    frame = {
        "t": "result",
        "v": 1,
        "dev": "VR-03",
        "boot": "0badf00d",
        "seq": 1,
        "scenario": "NITR-RUNAWAY",
        "badge": trainee.badge,
        "score": 88,
        "max": 100,
        "passed": True,
        "duration_s": 300,
        "errors": [],
        "veto": [],
        "ts": dt.datetime.now(dt.UTC).isoformat(),
    }
    item = {
        "key": "VR-03:0badf00d:1",
        "station": "VR-03",
        "source": "serial",
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
        "frame": frame,
    }
    client.post("/api/v1/device-results", json={"items": [item]}, headers=auth(gateway))
    trainer = make_user(session, role=Role.trainer)
    log_in(client, trainer.username)
    return trainee.name


class TestDevicePage:
    def test_each_station_with_its_state_counters_and_last_result(
        self, client: TestClient, session: Session
    ) -> None:
        name = _setup(client, session)
        page = client.get("/console/devices")
        assert page.status_code == 200
        assert 'http-equiv="refresh"' in page.text
        pod = row_of(page.text, "VR-03")
        assert "在线" in pod[2] and "正常 41 / 错误 1" in pod[4]
        assert "NITR-RUNAWAY" in pod[6] and "88/100" in pod[6] and name in pod[6]
        assert "离线" in row_of(page.text, "FALL-01")[2]
        assert "未登记设备" in row_of(page.text, "EXAM-01")[2]

    def test_a_quiet_gateway_makes_its_devices_unknown(
        self, client: TestClient, session: Session
    ) -> None:
        _setup(client, session)
        session.rollback()
        row = session.exec(select(GatewayReport)).one()
        row.reported_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        session.add(row)
        session.commit()
        page = client.get("/console/devices")
        assert "网关已失联" in page.text
        assert "未知" in row_of(page.text, "VR-03")[2]

    def test_in_english(self, client: TestClient, session: Session) -> None:
        _setup(client, session)
        page = client.get("/console/devices?lang=en")
        assert "Online" in row_of(page.text, "VR-03")[2] and "Hall gateways" in page.text
