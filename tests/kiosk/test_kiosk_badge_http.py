"""Badge sign-in at the kiosk over HTTP: frames with a badge QR, revoked, unknown, no QR, bad."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from kiosk.pages import DEVICE_COOKIE, SESSION_COOKIE
from server.accounts import badges
from server.accounts.models import KioskSession
from server.app import create_app
from server.config import Environment, Settings
from tests.factories import ACTOR
from tests.kiosk.conftest import Hall
from tests.kiosk.scan_helpers import blank_jpeg, jpeg, qr_image

UNKNOWN = "STB1:" + "A" * 32


def _set_up(client: TestClient, hall: Hall) -> None:
    response = client.post("/kiosk/setup", data={"code": hall.setup_code}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert DEVICE_COOKIE in response.cookies


def _scan(client: TestClient, text: str | None) -> object:
    body = blank_jpeg() if text is None else jpeg(qr_image(text))
    return client.post("/kiosk/scan/badge", content=body, headers={"Content-Type": "image/jpeg"})


def _badge(session: Session, hall: Hall) -> str:
    assert hall.trainee.id is not None
    return badges.issue(session, ACTOR, hall.trainee.id)[1]


class TestBadgeSignIn:
    def test_the_welcome_screen_offers_the_scan(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        assert "刷卡登录" in client.get("/kiosk").text
        page = client.get("/kiosk/scan")
        assert page.status_code == 200
        assert "请将胸卡二维码对准摄像头" in page.text and "/kiosk/static/scan.js" in page.text
        assert "改用身份证号和 PIN 码" in page.text
        assert "Hold your badge QR up" in client.get("/kiosk/scan?lang=en").text

    def test_a_good_badge_signs_in_like_id_and_pin(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _set_up(client, hall)
        response = _scan(client, _badge(session, hall))
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        assert response.json() == {"status": "signed_in", "next": "/kiosk/home"}  # type: ignore[attr-defined]
        assert SESSION_COOKIE in response.cookies  # type: ignore[attr-defined]
        home = client.get("/kiosk/home", follow_redirects=False)
        assert home.status_code == 200 and "郭磊" in home.text
        rows = session.exec(select(KioskSession).where(KioskSession.trainee_id == hall.trainee.id))
        assert len(rows.all()) == 1

    def test_a_frame_without_a_qr_says_keep_holding(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        response = _scan(client, None)
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert response.json() == {"status": "none"}  # type: ignore[attr-defined]

    def test_another_qr_is_not_a_badge(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        assert _scan(client, "https://example.com").json() == {"status": "not_a_badge"}  # type: ignore[attr-defined]

    def test_a_revoked_badge_is_refused_clearly(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        _set_up(client, hall)
        old = _badge(session, hall)
        _badge(session, hall)  # a new one revokes the old
        response = _scan(client, old)
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert "此卡无效或已停用" in response.json()["message"]  # type: ignore[attr-defined]
        assert client.get("/kiosk/home", follow_redirects=False).status_code == 303

    def test_an_unknown_badge_is_refused_in_english_too(
        self, client: TestClient, hall: Hall
    ) -> None:
        _set_up(client, hall)
        client.cookies.set("safetrain_lang", "en")
        response = _scan(client, UNKNOWN)
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert response.json()["error"] == "bad_badge"  # type: ignore[attr-defined]

    def test_a_bad_image_is_a_clear_400(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        response = client.post("/kiosk/scan/badge", content=b"not a jpeg")
        assert response.status_code == 400
        assert response.json()["error"] == "bad_image"
        assert "JPEG" in response.json()["message"]

    def test_a_too_large_upload_is_refused(self, client: TestClient, hall: Hall) -> None:
        _set_up(client, hall)
        response = client.post("/kiosk/scan/badge", content=b"\xff" * (badges.MAX_FRAME_BYTES + 1))
        assert response.status_code == 400
        assert response.json()["error"] == "image_too_large"

    def test_unknown_badges_count_toward_the_kiosks_lockout(
        self, db_url: str, engine: Engine, session: Session, hall: Hall
    ) -> None:
        settings = Settings(
            database_url=db_url, environment=Environment.test, kiosk_pin_max_failures_per_kiosk=3
        )
        good = _badge(session, hall)
        with TestClient(create_app(settings=settings, engine=engine)) as client:
            _set_up(client, hall)
            for _ in range(3):
                assert _scan(client, UNKNOWN).status_code == 401  # type: ignore[attr-defined]
            paused = _scan(client, good)
            assert paused.status_code == 429  # type: ignore[attr-defined]
            assert "本终端错误次数过多" in paused.json()["message"]  # type: ignore[attr-defined]
            assert "Retry-After" in paused.headers  # type: ignore[attr-defined]
            pin = client.post(
                "/kiosk/sign-in",
                data={"id_number": hall.trainee.id_number, "pin": hall.pin},
                follow_redirects=False,
            )
            assert pin.status_code == 429  # the same kiosk lockout as ID + PIN

    def test_a_screen_not_set_up_is_refused(self, client: TestClient) -> None:
        response = client.post("/kiosk/scan/badge", content=blank_jpeg(), follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/kiosk/setup"
