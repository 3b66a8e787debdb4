"""Badge sign-in in a real headless Chromium whose fake camera shows a badge QR."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlmodel import Session

from server.accounts import badges
from tests.factories import ACTOR, make_kiosk
from tests.kiosk.conftest import DESKTOP, PHONE, Hall, set_up_screen, shot
from tests.kiosk.scan_helpers import camera_browser, camera_video, qr_image, write_y4m

__all__ = ["camera_browser", "camera_video"]  # module fixtures


def _page(browser: Any, base_url: str, **options: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, locale="zh-CN", **options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


class TestBadgeScan:
    def test_holding_the_badge_up_signs_the_trainee_in(
        self,
        camera_browser: Any,
        camera_video: Path,
        kiosk_server: str,
        session: Session,
        hall: Hall,
    ) -> None:
        assert hall.trainee.id is not None
        _, text = badges.issue(session, ACTOR, hall.trainee.id)
        write_y4m(camera_video, qr_image(text))
        for page in _page(camera_browser, kiosk_server, viewport=DESKTOP, has_touch=True):
            set_up_screen(page, hall)
            shot(page, "scan-welcome")
            page.click("[data-testid=scan-badge]")
            page.wait_for_url(re.compile(r"/kiosk/home$"))
            assert "郭磊" in page.content()

    def test_a_camera_seeing_no_badge_says_keep_holding(
        self,
        camera_browser: Any,
        camera_video: Path,
        kiosk_server: str,
        session: Session,
        hall: Hall,
    ) -> None:
        write_y4m(camera_video, qr_image("https://example.com/not-a-badge"))
        for page in _page(camera_browser, kiosk_server, viewport=DESKTOP, has_touch=True):
            set_up_screen(page, hall)
            page.goto("/kiosk/scan")
            status = page.locator("[data-testid=scan-status]")
            status.filter(has_text="这不是学员胸卡").wait_for()
            shot(page, "scan-camera")
        for phone in _page(
            camera_browser, kiosk_server, viewport=PHONE, has_touch=True, is_mobile=True
        ):
            set_up_screen(phone, replace(hall, setup_code=make_kiosk(session)[1]))
            phone.goto("/kiosk/scan?lang=en")
            phone.locator("[data-testid=scan-status]").filter(
                has_text="not a trainee badge"
            ).wait_for()
            shot(phone, "scan-camera-phone")

    def test_a_revoked_badge_is_refused_and_waits_for_a_touch(
        self,
        camera_browser: Any,
        camera_video: Path,
        kiosk_server: str,
        session: Session,
        hall: Hall,
    ) -> None:
        assert hall.trainee.id is not None
        _, text = badges.issue(session, ACTOR, hall.trainee.id)
        badges.revoke(session, ACTOR, hall.trainee.id)
        write_y4m(camera_video, qr_image(text))
        for page in _page(camera_browser, kiosk_server, viewport=DESKTOP, has_touch=True):
            set_up_screen(page, hall)
            page.goto("/kiosk/scan")
            page.locator("[data-testid=scan-status]").filter(has_text="此卡无效或已停用").wait_for()
            assert page.locator("[data-testid=scan-again]").is_visible()
            shot(page, "scan-refused")
