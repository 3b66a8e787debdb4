"""Gateways report their halls; staff read the latest report of each, stale when it goes quiet."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import Role
from server.devices.models import GatewayReport
from tests.factories import auth, make_token, make_user

REPORT = {
    "devices": [
        {"station": "VR-03", "dev": "VR-03", "online": True, "frames_ok": 120, "frames_bad": 2},
        {"station": "FALL-01", "dev": "FALL-01", "online": False, "frames_ok": 7, "frames_bad": 0},
    ],
    "spool_depth": 3,
    "rejected": 0,
}


class TestGatewayStatus:
    def test_the_latest_report_replaces_the_one_before(
        self, client: TestClient, session: Session
    ) -> None:
        gateway = make_token(session, user=make_user(session, role=Role.gateway))
        trainer = make_token(session, user=make_user(session, role=Role.trainer))
        assert (
            client.put("/api/v1/gateways/status", json=REPORT, headers=auth(gateway)).status_code
            == 204
        )
        later = {**REPORT, "spool_depth": 0}
        client.put("/api/v1/gateways/status", json=later, headers=auth(gateway))
        halls = client.get("/api/v1/gateways/status", headers=auth(trainer)).json()
        assert len(halls) == 1 and halls[0]["stale"] is False
        assert halls[0]["status"]["spool_depth"] == 0
        assert [d["online"] for d in halls[0]["status"]["devices"]] == [True, False]

    def test_a_quiet_gateway_is_stale(self, client: TestClient, session: Session) -> None:
        gateway = make_token(session, user=make_user(session, role=Role.gateway))
        trainer = make_token(session, user=make_user(session, role=Role.trainer))
        client.put("/api/v1/gateways/status", json=REPORT, headers=auth(gateway))
        session.rollback()
        row = session.exec(select(GatewayReport)).one()
        row.reported_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        session.add(row)
        session.commit()
        assert (
            client.get("/api/v1/gateways/status", headers=auth(trainer)).json()[0]["stale"] is True
        )

    def test_a_report_without_stations_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        gateway = make_token(session, user=make_user(session, role=Role.gateway))
        bad = client.put(
            "/api/v1/gateways/status", json={"devices": [{"dev": "X"}]}, headers=auth(gateway)
        )
        assert bad.status_code == 422
        assert session.exec(select(GatewayReport)).all() == []
