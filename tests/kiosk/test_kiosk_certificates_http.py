"""The kiosk's certificate pages over plain HTTP: the trainee's own list and certificate, its
verification QR and PDF, the standings in words, and nothing of anyone else's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.app import create_app
from server.certificates import service as certificates
from server.certificates.models import Certificate
from server.certificates.views import pdf_view
from server.config import Settings
from tests.factories import make_trainee
from tests.kiosk.certificate_helpers import (
    ADMIN,
    certified,
    decode_qr,
    due_soon,
    pdf_shows,
    revoked,
)
from tests.kiosk.conftest import Hall
from tests.kiosk.exam_helpers import signed_in

ROUTES = (
    "/kiosk/certificates/{n}",
    "/kiosk/certificates/{n}/qr.png",
    "/kiosk/certificates/{n}.pdf",
)


@pytest.fixture
def kiosk(cert_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A kiosk screen on an app that can issue (its own signing key)."""
    with TestClient(create_app(settings=cert_settings, engine=engine)) as c:
        yield c


@pytest.fixture
def cert(session: Session, cert_settings: Settings, hall: Hall) -> Certificate:
    return certified(session, cert_settings, hall.trainee)


class TestCertificateList:
    def test_none_yet_says_so_and_points_to_progress(self, kiosk: TestClient, hall: Hall) -> None:
        signed_in(kiosk, hall)
        page = kiosk.get("/kiosk/certificates")
        assert page.status_code == 200
        assert "您还没有证书" in page.text and 'href="/kiosk/progress"' in page.text

    def test_own_certificates_newest_first_with_dates_and_standing(
        self, kiosk: TestClient, session: Session, cert_settings: Settings, hall: Hall
    ) -> None:
        older = certified(session, cert_settings, hall.trainee, starts_on="2026-05-01")
        newer = certified(session, cert_settings, hall.trainee, curriculum="HYDROGENATION")
        session.refresh(older)
        older.issued_on = newer.issued_on.replace(day=1)  # issued earlier this month
        session.add(older)
        session.commit()
        signed_in(kiosk, hall)
        page = kiosk.get("/kiosk/certificates").text
        assert page.index(newer.number) < page.index(older.number)
        assert f'href="/kiosk/certificates/{newer.number}"' in page
        assert "硝化工艺" in page and "加氢工艺" in page
        day = newer.issued_on
        assert f"发证日期 {day.year}年{day.month}月{day.day}日" in page
        until = newer.valid_until
        assert f"有效期至 {until.year}年{until.month}月{until.day}日" in page
        assert "✔</span> 有效" in page

    def test_another_trainees_certificate_is_not_listed(
        self, kiosk: TestClient, session: Session, cert_settings: Settings, hall: Hall
    ) -> None:
        other = certified(session, cert_settings, make_trainee(session, name="李四"))
        signed_in(kiosk, hall)
        page = kiosk.get("/kiosk/certificates").text
        assert other.number not in page and "您还没有证书" in page

    def test_in_english(self, kiosk: TestClient, cert: Certificate, hall: Hall) -> None:
        signed_in(kiosk, hall)
        page = kiosk.get("/kiosk/certificates?lang=en").text
        assert "My certificates" in page and "Valid until" in page and "✔</span> Valid" in page


class TestStandings:
    def test_a_valid_certificate(self, kiosk: TestClient, cert: Certificate, hall: Hall) -> None:
        signed_in(kiosk, hall)
        page = kiosk.get(f"/kiosk/certificates/{cert.number}").text
        assert "✔</span> 有效" in page and 'data-testid="banner"' not in page

    def test_an_expiring_certificate_says_what_is_due_and_when(
        self, kiosk: TestClient, session: Session, cert: Certificate, hall: Hall
    ) -> None:
        due = due_soon(session, cert).valid_until
        signed_in(kiosk, hall)
        text = f"↻</span> 即将到期：请在 {due.year}年{due.month}月{due.day}日 前换证"
        assert text in kiosk.get("/kiosk/certificates").text
        page = kiosk.get(f"/kiosk/certificates/{cert.number}").text
        assert text in page and 'data-testid="banner"' not in page
        english = kiosk.get(f"/kiosk/certificates/{cert.number}?lang=en").text
        assert f"Due soon: renew by {due.day} {due:%b} {due.year}" in english

    def test_a_revoked_certificate_says_so_prominently_with_the_reason(
        self, kiosk: TestClient, session: Session, cert: Certificate, hall: Hall
    ) -> None:
        revoked(session, cert)
        signed_in(kiosk, hall)
        assert "⊗</span> 已撤销" in kiosk.get("/kiosk/certificates").text
        page = kiosk.get(f"/kiosk/certificates/{cert.number}").text
        assert 'role="alert" data-testid="banner"' in page
        assert "此证书已撤销，不再有效" in page and "原因：证书信息有误" in page

    def test_a_superseded_certificate_points_to_the_new_one(
        self,
        kiosk: TestClient,
        session: Session,
        cert_settings: Settings,
        cert: Certificate,
        hall: Hall,
    ) -> None:
        new = certificates.reissue(session, cert_settings, ADMIN, cert.number, reason="换证")
        signed_in(kiosk, hall)
        page = kiosk.get(f"/kiosk/certificates/{cert.number}").text
        assert f"此证书已换发新证，请使用新证书 {new.number}" in page
        assert f'href="/kiosk/certificates/{new.number}"' in page
        listed = kiosk.get("/kiosk/certificates").text
        assert listed.index(new.number) < listed.index(cert.number)


class TestCertificatePage:
    def test_details_the_qr_and_its_url_and_the_pdf_button(
        self, kiosk: TestClient, cert: Certificate, cert_settings: Settings, hall: Hall
    ) -> None:
        signed_in(kiosk, hall)
        page = kiosk.get(f"/kiosk/certificates/{cert.number.lower()}").text
        assert cert.number in page and "郭磊" in page and "硝化工艺" in page
        assert f'src="/kiosk/certificates/{cert.number}/qr.png"' in page
        assert certificates.verify_url(cert_settings, cert.number) in page
        assert f'href="/kiosk/certificates/{cert.number}.pdf"' in page and "下载 PDF" in page

    def test_the_qr_decodes_to_the_verification_url_the_pdf_carries(
        self,
        kiosk: TestClient,
        session: Session,
        cert: Certificate,
        cert_settings: Settings,
        hall: Hall,
    ) -> None:
        signed_in(kiosk, hall)
        response = kiosk.get(f"/kiosk/certificates/{cert.number}/qr.png")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        url = decode_qr(response.content)
        assert url == certificates.verify_url(cert_settings, cert.number)
        assert url == pdf_view(session, cert_settings, cert).verification_url
        assert url.endswith(f"/verify/{cert.number}")

    def test_the_pdf_is_the_certificate_named_by_its_number(
        self, kiosk: TestClient, cert: Certificate, hall: Hall
    ) -> None:
        signed_in(kiosk, hall)
        response = kiosk.get(f"/kiosk/certificates/{cert.number}.pdf")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="{cert.number}.pdf"'
        assert pdf_shows(response.content, cert.number)


class TestNotYours:
    @pytest.mark.parametrize("route", ROUTES)
    def test_another_trainees_certificate_is_not_found(
        self,
        kiosk: TestClient,
        session: Session,
        cert_settings: Settings,
        hall: Hall,
        route: str,
    ) -> None:
        other = certified(session, cert_settings, make_trainee(session, name="李四"))
        signed_in(kiosk, hall)
        theirs = kiosk.get(route.format(n=other.number))
        unknown = kiosk.get(route.format(n="SAFE-2026-999999"))
        assert theirs.status_code == unknown.status_code == 404
        assert "李四" not in theirs.text
        # Word for word what an unknown number gets: nothing says the number was issued.
        assert theirs.text.replace(other.number, "N") == unknown.text.replace(
            "SAFE-2026-999999", "N"
        )

    @pytest.mark.parametrize("route", ROUTES)
    def test_nobody_signed_in_is_sent_to_the_welcome_screen(
        self, kiosk: TestClient, cert: Certificate, hall: Hall, route: str
    ) -> None:
        signed_in(kiosk, hall)
        kiosk.post("/kiosk/sign-out")
        response = kiosk.get(route.format(n=cert.number), follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/kiosk?signed_out=1"

    @pytest.mark.parametrize("route", ROUTES)
    def test_a_screen_not_set_up_is_sent_to_set_up(
        self, kiosk: TestClient, cert: Certificate, route: str
    ) -> None:
        response = kiosk.get(route.format(n=cert.number), follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/kiosk/setup"


class TestDemo:
    def test_the_demo_trainee_sees_their_certificate_at_the_kiosk(
        self, kiosk: TestClient, session: Session, cert_settings: Settings
    ) -> None:
        from server import demo, demo_kiosk

        made = demo.load(session, cert_settings, ADMIN).kiosk
        assert made.certificate and made.setup_code and made.trainee_id_number
        kiosk.post("/kiosk/setup", data={"code": made.setup_code})
        kiosk.post(
            "/kiosk/sign-in",
            data={"id_number": made.trainee_id_number, "pin": demo_kiosk.DEMO_PIN},
        )
        listed = kiosk.get("/kiosk/certificates").text
        assert made.certificate in listed and "化工企业从业人员安全再培训" in listed
        assert "✔</span> 有效" in listed
        page = kiosk.get(f"/kiosk/certificates/{made.certificate}").text
        assert made.trainee_name in page  # type: ignore[operator]
        assert "20 学时" in page and "理论考试" in page
        qr = kiosk.get(f"/kiosk/certificates/{made.certificate}/qr.png").content
        assert decode_qr(qr).endswith(f"/verify/{made.certificate}")
