"""The station page in a real headless Chromium: choose by touch, the confirmation, leave, scan a
station's label with a fake camera, no camera, the phone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.accounts import badges
from tests.factories import ACTOR
from tests.kiosk.conftest import DESKTOP, PHONE, Hall, shot, small_targets
from tests.kiosk.exam_helpers import sign_in_on_screen
from tests.kiosk.scan_helpers import camera_browser, camera_video, qr_image, write_y4m
from tests.kiosk.station_helpers import label_image, station_in

__all__ = ["camera_browser", "camera_video"]  # module fixtures

NO_CAMERA = "Object.defineProperty(navigator, 'mediaDevices', { value: undefined });"


@pytest.fixture
def screen(camera_browser: Any, kiosk_server: str, hall: Hall) -> Iterator[Callable[..., Any]]:
    """A kiosk screen (desktop unless told), set up and with the hall's trainee signed in."""
    contexts: list[Any] = []

    def open_screen(*, init_script: str | None = None, **options: Any) -> Any:
        options = {"viewport": DESKTOP, "has_touch": True, **options}
        context = camera_browser.new_context(base_url=kiosk_server, locale="zh-CN", **options)
        contexts.append(context)
        context.set_default_timeout(15_000)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.goto("/kiosk")
        page.fill("#code", hall.setup_code)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/kiosk$"))
        sign_in_on_screen(page, hall)
        return page

    yield open_screen
    for context in contexts:
        context.close()


@pytest.fixture
def camera_shows(camera_video: Path) -> Callable[[Any], None]:
    """What the fake camera sees from the next time a page opens it: a frame (BGR image)."""
    return lambda frame: write_y4m(camera_video, frame)


def _small_targets(page: Any, pixels: int) -> list[str]:
    return small_targets(page, pixels, "button, a.button, a.tab")


class TestChooseByTouch:
    def test_touching_a_station_confirms_it_and_the_page_then_shows_it(
        self, screen: Callable[..., Any], session: Session
    ) -> None:
        station_in(session, "VR-03", "VR 实训室")
        station_in(session, "VR-04", "VR 实训室")
        station_in(session, "RIG-01", "高处坠落体验区", kind="fall_rig")
        page = screen()
        page.click("[data-testid=nav-station]")
        page.wait_for_url(re.compile(r"/kiosk/station$"))
        assert "您现在没有在任何工位" in page.inner_text("[data-testid=station-current]")
        rooms = page.locator("[data-testid=station-room] h3").all_inner_texts()
        assert rooms == ["▤ VR 实训室", "▤ 高处坠落体验区"]
        assert _small_targets(page, 64) == []
        shot(page, "station")
        page.click("[data-station=VR-03]")
        page.wait_for_url(re.compile(r"/kiosk/station/binding/\d+$"))
        confirmation = page.inner_text("[data-testid=confirmation]")
        assert "已绑定 VR-03" in confirmation and "此工位的成绩将记入您的名下" in confirmation
        assert "VR 实训室" in confirmation
        shot(page, "station-bound")
        page.click("[data-testid=back-station]")
        page.wait_for_url(re.compile(r"/kiosk/station$"))
        assert "您现在在工位 VR-03" in page.inner_text("[data-testid=station-current]")
        assert page.get_attribute("[data-station=VR-03]", "aria-current") == "true"

    def test_i_have_left_confirms_and_unbinds(
        self, screen: Callable[..., Any], session: Session
    ) -> None:
        station_in(session, "VR-05", None)
        page = screen()
        page.goto("/kiosk/station")
        page.click("[data-station=VR-05]")
        page.wait_for_url(re.compile(r"/kiosk/station/binding/\d+$"))
        page.click("[data-testid=back-station]")
        page.click("[data-testid=station-leave]")
        page.wait_for_url(re.compile(r"/kiosk/station/binding/\d+$"))
        assert "已离开 VR-05" in page.inner_text("[data-testid=confirmation]")
        shot(page, "station-left")
        page.click("[data-testid=back-station]")
        assert "您现在没有在任何工位" in page.inner_text("[data-testid=station-current]")


class TestScanTheLabel:
    def test_the_camera_seeing_a_station_label_binds_the_trainee(
        self, screen: Callable[..., Any], camera_shows: Callable[[Any], None], session: Session
    ) -> None:
        station_in(session, "VR-03", "VR 实训室")
        camera_shows(label_image("VR-03"))
        page = screen()
        page.goto("/kiosk/station")
        assert not page.locator(".station-scan").is_visible()
        page.click("[data-testid=station-scan]")
        page.wait_for_url(re.compile(r"/kiosk/station/binding/\d+$"))
        assert "已绑定 VR-03" in page.inner_text("[data-testid=confirmation]")

    def test_a_badge_shown_here_is_not_a_station_code(
        self,
        screen: Callable[..., Any],
        camera_shows: Callable[[Any], None],
        session: Session,
        hall: Hall,
    ) -> None:
        assert hall.trainee.id is not None
        station_in(session, "VR-03", "VR 实训室")
        camera_shows(qr_image(badges.issue(session, ACTOR, hall.trainee.id)[1]))
        page = screen()
        page.goto("/kiosk/station")
        page.click("[data-testid=station-scan]")
        status = page.locator("[data-testid=scan-status]")
        status.filter(has_text="这不是工位码").wait_for()
        assert not page.locator("[data-testid=scan-again]").is_visible()  # it goes on looking
        page.wait_for_timeout(500)  # the video's first frames are drawn
        shot(page, "station-scan")
        page.click("[data-testid=scan-close]")
        assert not page.locator(".station-scan").is_visible()
        assert page.locator("[data-testid=station-scan]").is_visible()

    def test_an_unknown_station_label_is_named_and_waits_for_a_touch(
        self, screen: Callable[..., Any], camera_shows: Callable[[Any], None]
    ) -> None:
        camera_shows(label_image("VR-77"))
        page = screen()
        page.goto("/kiosk/station")
        page.click("[data-testid=station-scan]")
        page.locator("[data-testid=scan-status]").filter(has_text="VR-77").wait_for()
        assert "不存在" in page.inner_text("[data-testid=scan-status]")
        assert page.locator("[data-testid=scan-again]").is_visible()

    def test_without_a_camera_the_page_says_so_and_the_stations_are_there(
        self, screen: Callable[..., Any], session: Session
    ) -> None:
        station_in(session, "VR-03", "VR 实训室")
        page = screen(init_script=NO_CAMERA)
        page.goto("/kiosk/station")
        page.click("[data-testid=station-scan]")
        status = page.locator("[data-testid=scan-status]")
        status.filter(has_text="无法使用摄像头").wait_for()
        assert "请在下方直接选择您所在的工位" in status.inner_text()
        page.click("[data-station=VR-03]")
        page.wait_for_url(re.compile(r"/kiosk/station/binding/\d+$"))


class TestPhone:
    def test_the_station_page_and_its_confirmation_fit_a_phone_in_english(
        self, screen: Callable[..., Any], session: Session
    ) -> None:
        station_in(session, "VR-03", "VR training room")
        station_in(session, "RIG-01", "Fall-arrest area", kind="fall_rig")
        phone = screen(viewport=PHONE, is_mobile=True)
        phone.goto("/kiosk/station?lang=en")
        assert "You are not at any station now" in phone.inner_text("main")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert _small_targets(phone, 48) == []
        shot(phone, "station-phone")
        phone.click("[data-station=RIG-01]")
        phone.wait_for_url(re.compile(r"/kiosk/station/binding/\d+"))
        assert "You are at RIG-01" in phone.inner_text("[data-testid=confirmation]")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(phone, "station-bound-phone")
