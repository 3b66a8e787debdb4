"""The kiosk's station page over HTTP: bind by touch or by a scanned label, the confirmation,
leave, room names, device results then attributed to the trainee, refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts import badges
from server.db import utcnow
from server.devices import bindings
from server.devices.models import Attribution, DeviceFrame, StationBinding
from server.scheduling import service as scheduling
from server.scheduling.schemas import StationUpdate
from tests.factories import ACTOR, make_station, make_trainee
from tests.kiosk.conftest import Hall
from tests.kiosk.station_helpers import label_frame, report_result, scan, signed_in, station_in


def _open_binding(session: Session, hall: Hall) -> StationBinding | None:
    session.rollback()  # a new snapshot: the server wrote since
    return session.exec(
        select(StationBinding).where(
            StationBinding.trainee_id == hall.trainee.id,
            StationBinding.ended_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()


class TestStationPage:
    def test_stations_are_grouped_under_their_rooms_name(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        station_in(session, "VR-03", "VR 实训室")
        station_in(session, "RIG-01", None, kind="fall_rig")
        make_station(session, code="SEAT-01", kind="exam_seat")
        signed_in(client, hall)
        page = client.get("/kiosk/station").text
        assert "您现在没有在任何工位" in page and "扫描工位码" in page
        assert page.index("VR 实训室") < page.index('data-station="VR-03"')
        assert page.index("其他工位") < page.index('data-station="RIG-01"')
        assert (
            'data-station="SEAT-01"' not in page and f'data-station="{hall.kiosk_code}"' not in page
        )
        english = client.get("/kiosk/station?lang=en").text
        assert (
            "You are not at any station now" in english and "Scan the station&#39;s code" in english
        )
        assert "Other stations" in english

    def test_the_page_carries_the_scan_and_its_messages(
        self, client: TestClient, hall: Hall
    ) -> None:
        signed_in(client, hall)
        page = client.get("/kiosk/station").text
        assert 'data-scan-url="/kiosk/station/scan"' in page and "/kiosk/static/scan.js" in page
        assert "这不是工位码" in page and "请在下方直接选择您所在的工位" in page


class TestBindByTouch:
    def test_touching_a_station_binds_and_confirms_it(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        pod = station_in(session, "VR-03", "VR 实训室")
        signed_in(client, hall)
        done = client.post("/kiosk/station/bind", data={"code": "VR-03"}, follow_redirects=False)
        assert done.status_code == 303
        assert done.headers["location"].startswith("/kiosk/station/binding/")
        confirmation = client.get(done.headers["location"]).text
        assert "✔" in confirmation and "已绑定 VR-03" in confirmation
        assert pod.name in confirmation and "VR 实训室" in confirmation
        assert "此工位的成绩将记入您的名下" in confirmation and "返回我的工位" in confirmation
        english = client.get(done.headers["location"] + "?lang=en").text
        assert "You are at VR-03" in english and "recorded for you" in english
        assert pod.id is not None
        session.rollback()
        assert bindings.bound_at(session, pod.id, utcnow()) == hall.trainee.id
        assert "您现在在工位 VR-03" in client.get("/kiosk/station?lang=zh").text

    def test_i_have_left_ends_the_binding_and_confirms_it(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        make_station(session, code="VR-04", kind="vr_pod")
        signed_in(client, hall)
        client.post("/kiosk/station/bind", data={"code": "VR-04"})
        left = client.post("/kiosk/station/leave")
        assert "已离开 VR-04" in left.text and "不再记入您的名下" in left.text
        assert _open_binding(session, hall) is None
        assert "您现在没有在任何工位" in client.get("/kiosk/station").text

    def test_leaving_when_nowhere_is_just_the_page(self, client: TestClient, hall: Hall) -> None:
        signed_in(client, hall)
        assert "您现在没有在任何工位" in client.post("/kiosk/station/leave").text

    def test_a_kiosk_or_unknown_station_is_not_found(self, client: TestClient, hall: Hall) -> None:
        signed_in(client, hall)
        assert client.post("/kiosk/station/bind", data={"code": hall.kiosk_code}).status_code == 404
        unknown = client.post("/kiosk/station/bind", data={"code": "NOPE-1"})
        assert unknown.status_code == 404 and "NOPE-1" in unknown.text


class TestBindByScan:
    def test_a_station_label_binds_the_trainee_there(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        station_in(session, "VR-03", "VR 实训室")
        signed_in(client, hall)
        answer = scan(client, label_frame("VR-03"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "bound" and body["next"].startswith("/kiosk/station/binding/")
        assert "已绑定 VR-03" in client.get(body["next"]).text
        found = _open_binding(session, hall)
        assert found is not None and found.source == "kiosk"

    def test_a_badge_or_another_qr_is_not_a_station_code(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        assert hall.trainee.id is not None
        _, badge = badges.issue(session, ACTOR, hall.trainee.id)
        signed_in(client, hall)
        for text in (badge, "https://example.com/VR-03"):
            answer = scan(client, text=text)
            assert answer.status_code == 200 and answer.json() == {"status": "not_a_station"}
        assert scan(client).json() == {"status": "none"}
        assert _open_binding(session, hall) is None

    def test_an_unknown_station_is_named(self, client: TestClient, hall: Hall) -> None:
        signed_in(client, hall)
        answer = scan(client, label_frame("VR-77"))
        assert answer.status_code == 404
        assert answer.json()["status"] == "refused" and "VR-77" in answer.json()["message"]

    def test_a_kiosk_an_exam_seat_or_a_station_out_of_service_is_refused_by_name(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        make_station(session, code="SEAT-01", kind="exam_seat")
        old = make_station(session, code="VR-09")
        assert old.id is not None
        scheduling.update_station(session, ACTOR, old.id, StationUpdate(is_active=False))
        signed_in(client, hall)
        kiosk = scan(client, label_frame(hall.kiosk_code)).json()
        assert kiosk["error"] == "station_not_bindable" and "自助终端" in kiosk["message"]
        assert hall.kiosk_code in kiosk["message"]
        seat = client.post(
            "/kiosk/station/scan?lang=en",
            content=label_frame("SEAT-01"),
            headers={"Content-Type": "image/jpeg"},
        )
        assert seat.status_code == 404 and "SEAT-01" in seat.json()["message"]
        assert "exam seat" in seat.json()["message"]
        out = scan(client, label_frame("VR-09"))
        assert out.status_code == 409 and "VR-09 已停用" in out.json()["message"]
        assert _open_binding(session, hall) is None

    def test_a_bad_or_too_large_image_is_a_clear_400(self, client: TestClient, hall: Hall) -> None:
        signed_in(client, hall)
        bad = scan(client, b"not a jpeg at all")
        assert bad.status_code == 400 and bad.json()["error"] == "bad_image"
        large = scan(client, b"\xff" * (badges.MAX_FRAME_BYTES + 1))
        assert large.status_code == 400 and large.json()["error"] == "image_too_large"


class TestAttribution:
    def test_a_result_from_the_bound_station_is_the_trainees(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        station_in(session, "VR-03", "VR 实训室")
        signed_in(client, hall)
        assert scan(client, label_frame("VR-03")).json()["status"] == "bound"
        report_result(client, session, "VR-03")
        session.rollback()
        row = session.exec(select(DeviceFrame).where(DeviceFrame.frame_type == "result")).one()
        assert (row.trainee_id, row.attribution) == (hall.trainee.id, Attribution.binding)

    def test_after_leaving_a_result_is_nobodys(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        make_station(session, code="VR-05")
        signed_in(client, hall)
        client.post("/kiosk/station/bind", data={"code": "VR-05"})
        client.post("/kiosk/station/leave")
        report_result(client, session, "VR-05")
        session.rollback()
        row = session.exec(select(DeviceFrame).where(DeviceFrame.frame_type == "result")).one()
        assert (row.trainee_id, row.attribution) == (None, Attribution.unassigned)


class TestRefusals:
    def test_another_trainees_binding_is_not_found(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        make_station(session, code="VR-06")
        other = make_trainee(session)
        assert other.id is not None
        theirs = bindings.bind(session, ACTOR, "VR-06", other.id, source="console")
        signed_in(client, hall)
        response = client.get(f"/kiosk/station/binding/{theirs.id}")
        assert response.status_code == 404 and "VR-06" not in response.text
        assert client.get("/kiosk/station/binding/999999").status_code == 404

    def test_no_trainee_signed_in_is_refused(self, client: TestClient, hall: Hall) -> None:
        client.post("/kiosk/setup", data={"code": hall.setup_code})
        for method, url in (
            ("GET", "/kiosk/station"),
            ("POST", "/kiosk/station/bind"),
            ("POST", "/kiosk/station/scan"),
            ("POST", "/kiosk/station/leave"),
            ("GET", "/kiosk/station/binding/1"),
        ):
            response = client.request(method, url, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/kiosk?signed_out=1"

    def test_a_screen_not_set_up_is_refused(self, client: TestClient) -> None:
        response = client.post("/kiosk/station/scan", content=b"x", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/kiosk/setup"
