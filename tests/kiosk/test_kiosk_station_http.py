"""The kiosk's station page over HTTP: bind by touch, the current binding, leave, refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from server.db import utcnow
from server.devices import bindings
from tests.factories import make_station
from tests.kiosk.conftest import Hall


def _signed_in(client: TestClient, hall: Hall) -> None:
    assert client.post("/kiosk/setup", data={"code": hall.setup_code}).status_code == 200
    response = client.post(
        "/kiosk/sign-in",
        data={"id_number": hall.trainee.id_number, "pin": hall.pin},
        follow_redirects=False,
    )
    assert response.status_code == 303


class TestStationPage:
    def test_touching_a_station_binds_the_trainee_there(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        pod = make_station(session, code="VR-03", kind="vr_pod")
        _signed_in(client, hall)
        page = client.get("/kiosk/station")
        assert "您现在没有在任何工位" in page.text and 'data-station="VR-03"' in page.text
        assert f'data-station="{hall.kiosk_code}"' not in page.text  # kiosks are not offered
        done = client.post("/kiosk/station/bind", data={"code": "VR-03"})
        assert done.status_code == 200 and "您现在在工位 VR-03" in done.text
        session.commit()  # a new snapshot: the server wrote since
        assert pod.id is not None
        assert bindings.bound_at(session, pod.id, utcnow()) == hall.trainee.id

    def test_i_have_left_ends_the_binding(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        make_station(session, code="VR-04", kind="vr_pod")
        _signed_in(client, hall)
        client.post("/kiosk/station/bind", data={"code": "VR-04"})
        page = client.post("/kiosk/station/leave")
        assert "您现在没有在任何工位" in page.text

    def test_a_kiosk_or_unknown_station_is_not_found(self, client: TestClient, hall: Hall) -> None:
        _signed_in(client, hall)
        assert client.post("/kiosk/station/bind", data={"code": hall.kiosk_code}).status_code == 404
        assert client.post("/kiosk/station/bind", data={"code": "NOPE-1"}).status_code == 404

    def test_english(self, client: TestClient, hall: Hall) -> None:
        _signed_in(client, hall)
        assert "You are not at any station now" in client.get("/kiosk/station?lang=en").text

    def test_no_trainee_signed_in_is_refused(self, client: TestClient, hall: Hall) -> None:
        client.post("/kiosk/setup", data={"code": hall.setup_code})
        for method, url in (("GET", "/kiosk/station"), ("POST", "/kiosk/station/bind")):
            response = client.request(method, url, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/kiosk?signed_out=1"
