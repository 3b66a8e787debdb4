"""Kiosk screens through the API (admin only): enrol, list, revoke — the CLI's twins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts.models import KioskDevice, Role
from server.audit.models import AuditEvent
from tests.factories import auth, make_station, make_token, make_user


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return auth(make_token(session, user=make_user(session, role=Role.admin)))


class TestEnrol:
    def test_the_setup_code_sets_a_screen_up_once(
        self, client: TestClient, session: Session, admin: dict[str, str]
    ) -> None:
        make_station(session, code="KIOSK-07", kind="kiosk")
        response = client.post("/api/v1/kiosks/kiosk-07/enrol", headers=admin)
        assert response.status_code == 201
        body = response.json()
        assert (body["station"], body["state"]) == ("KIOSK-07", "waiting")
        assert body["setup_expires_at"] is not None

        typed = client.post(
            "/kiosk/setup", data={"code": body["setup_code"]}, follow_redirects=False
        )
        assert typed.status_code == 303
        again = client.post(
            "/kiosk/setup", data={"code": body["setup_code"]}, follow_redirects=False
        )
        assert again.status_code != 303

        listed = client.get("/api/v1/kiosks", headers=admin).json()
        assert [(d["station"], d["state"]) for d in listed["data"]] == [("KIOSK-07", "active")]
        assert "setup_code" not in listed["data"][0]
        assert all("hash" not in key for key in listed["data"][0])

    def test_a_station_that_is_not_a_kiosk_is_refused_and_nothing_is_made(
        self, client: TestClient, session: Session, admin: dict[str, str]
    ) -> None:
        make_station(session, code="VR-09", kind="vr_pod")
        response = client.post("/api/v1/kiosks/VR-09/enrol", headers=admin)
        assert response.status_code == 409
        assert response.json()["error"] == "station_not_kiosk"
        assert "VR-09" in response.json()["message"]
        assert session.exec(select(KioskDevice)).all() == []

    def test_an_unknown_station_is_named(self, client: TestClient, admin: dict[str, str]) -> None:
        response = client.post("/api/v1/kiosks/KIOSK-99/enrol", headers=admin)
        assert response.status_code == 404
        assert "KIOSK-99" in response.json()["message"]


class TestRevoke:
    def test_a_revoked_screen_is_sent_back_to_set_up(
        self, client: TestClient, session: Session, admin: dict[str, str]
    ) -> None:
        make_station(session, code="KIOSK-08", kind="kiosk")
        code = client.post("/api/v1/kiosks/KIOSK-08/enrol", headers=admin).json()["setup_code"]
        client.post("/kiosk/setup", data={"code": code}, follow_redirects=False)
        assert client.get("/kiosk", follow_redirects=False).status_code == 200

        response = client.post("/api/v1/kiosks/KIOSK-08/revoke", headers=admin)
        assert response.json() == {"station": "KIOSK-08", "revoked": 1}
        screen = client.get("/kiosk", follow_redirects=False)
        assert screen.headers["location"] == "/kiosk/setup"
        listed = client.get("/api/v1/kiosks", headers=admin).json()["data"]
        assert [d["state"] for d in listed] == ["revoked"]
        actions = session.exec(select(AuditEvent.action)).all()
        assert {"kiosk.enrol", "kiosk.revoke"} <= set(actions)


class TestRoles:
    @pytest.mark.parametrize("role", [r for r in Role if r is not Role.admin])
    def test_only_an_admin_may(self, client: TestClient, session: Session, role: Role) -> None:
        make_station(session, code="KIOSK-05", kind="kiosk")
        headers = auth(make_token(session, user=make_user(session, role=role)))
        for method, url in (
            ("GET", "/api/v1/kiosks"),
            ("POST", "/api/v1/kiosks/KIOSK-05/enrol"),
            ("POST", "/api/v1/kiosks/KIOSK-05/revoke"),
        ):
            assert client.request(method, url, headers=headers).status_code == 403
        assert session.exec(select(KioskDevice)).all() == []
