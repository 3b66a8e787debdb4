"""The kiosk's certificate pages in a real headless Chromium against the real server: the list
and one certificate in Chinese, its QR read back from the screen, the PDF downloaded, the
language switch, and a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.certificates import service as certificates
from server.certificates.models import Certificate
from server.config import Settings
from tests.kiosk.certificate_helpers import certified, decode_qr, pdf_shows, revoked
from tests.kiosk.conftest import Hall, set_up_screen, shot, small_targets
from tests.kiosk.exam_helpers import sign_in_on_screen

pytestmark = pytest.mark.usefixtures("browser")


@pytest.fixture
def cert(session: Session, cert_settings: Settings, hall: Hall) -> Certificate:
    return certified(session, cert_settings, hall.trainee)


def _small_targets(page: Any) -> list[str]:
    return small_targets(page, 64, "button, a.button, a.cert-row")


def _open_certificates(page: Any, hall: Hall) -> None:
    set_up_screen(page, hall)
    sign_in_on_screen(page, hall)
    page.click("[data-testid=nav-certificates]")
    page.wait_for_url(re.compile(r"/kiosk/certificates$"))


class TestOnTheHallsScreen:
    def test_the_list_then_a_certificate_whose_qr_scans_from_the_screen(
        self, page: Any, hall: Hall, cert: Certificate, cert_settings: Settings, tmp_path: Path
    ) -> None:
        _open_certificates(page, hall)
        row = page.locator(f"[data-testid=cert-{cert.number}]")
        assert "硝化工艺" in row.inner_text() and "✔ 有效" in row.inner_text()
        assert not _small_targets(page)
        shot(page, "certificates")
        row.click()
        page.wait_for_url(re.compile(rf"/kiosk/certificates/{cert.number}$"))
        assert "✔ 有效" in page.locator("[data-testid=standing]").inner_text()
        url = certificates.verify_url(cert_settings, cert.number)
        assert page.locator("[data-testid=verify-url]").inner_text() == url
        qr = page.locator("[data-testid=qr]")
        box = qr.bounding_box()
        assert box["width"] >= 300 and box["height"] >= 300  # scannable from a phone
        assert decode_qr(page.screenshot()) == url  # what a phone's camera sees
        assert not _small_targets(page)
        shot(page, "certificate")
        with page.expect_download() as caught:
            page.click("[data-testid=download-pdf]")
        download = caught.value
        assert download.suggested_filename == f"{cert.number}.pdf"
        saved = tmp_path / "saved.pdf"
        download.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF-") and pdf_shows(
            saved.read_bytes(), cert.number
        )

    def test_in_english_after_the_switch(self, page: Any, hall: Hall, cert: Certificate) -> None:
        _open_certificates(page, hall)
        page.click(f"[data-testid=cert-{cert.number}]")
        page.click("[data-testid=switch-language]")
        page.wait_for_url(re.compile(r"\?lang=en$"))
        assert "Valid" in page.locator("[data-testid=standing]").inner_text()
        assert page.locator("[data-testid=download-pdf]").inner_text().endswith("Download PDF")
        assert "Scan to verify" in page.inner_text("main")
        shot(page, "certificate-en")
        page.click("[data-testid=back]")
        assert "My certificates" in page.inner_text("h1")

    def test_a_revoked_certificate_says_so_first(
        self, page: Any, session: Session, hall: Hall, cert: Certificate
    ) -> None:
        revoked(session, cert)
        _open_certificates(page, hall)
        assert "⊗ 已撤销" in page.inner_text(f"[data-testid=cert-{cert.number}]")
        page.click(f"[data-testid=cert-{cert.number}]")
        banner = page.locator("[role=alert][data-testid=banner]")
        assert "此证书已撤销，不再有效" in banner.inner_text()
        assert "原因：证书信息有误" in banner.inner_text()
        assert (
            banner.bounding_box()["y"] < page.locator("[data-testid=standing]").bounding_box()["y"]
        )
        shot(page, "certificate-revoked")

    def test_none_yet_points_to_progress(self, page: Any, hall: Hall) -> None:
        _open_certificates(page, hall)
        assert "您还没有证书" in page.inner_text("[data-testid=no-certificates]")
        assert page.get_attribute("[data-testid=see-progress]", "href") == "/kiosk/progress"
        shot(page, "certificates-none")


class TestOnAPhone:
    def test_one_column_no_sideways_scroll_and_the_qr_still_scans(
        self, phone: Any, hall: Hall, cert: Certificate, cert_settings: Settings
    ) -> None:
        _open_certificates(phone, hall)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        phone.click(f"[data-testid=cert-{cert.number}]")
        phone.wait_for_url(re.compile(rf"/kiosk/certificates/{cert.number}$"))
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert not _small_targets(phone)
        qr = phone.locator("[data-testid=qr]")
        qr.scroll_into_view_if_needed()
        assert decode_qr(qr.screenshot()) == certificates.verify_url(cert_settings, cert.number)
        shot(phone, "certificate-phone")
