"""The kiosk in a real headless Chromium against the real server (two worker processes)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session

from server.scheduling import attendance
from tests.factories import ACTOR, enrol, make_trainee, set_pin
from tests.kiosk.conftest import Hall, set_up_screen, shot, small_targets

pytestmark = pytest.mark.usefixtures("browser")


def _type_on_keypad(page: Any, text: str) -> None:
    for char in text:
        page.click(f".key[data-key='{char}']")


def _sign_in(page: Any, hall: Hall, pin: str | None = None) -> None:
    page.goto("/kiosk/sign-in")
    page.click("#id_number")
    _type_on_keypad(page, hall.trainee.id_number)
    # The keypad moves on to the PIN by itself once the ID number is complete.
    _type_on_keypad(page, pin or hall.pin)
    page.click("[data-testid=sign-in]")


def _touch_targets_at_least(page: Any, pixels: int) -> list[str]:
    return small_targets(page, pixels, "button, a.button, input")


class TestSignInAndCheckIn:
    def test_id_and_pin_on_the_keypad_then_check_in(self, page: Any, hall: Hall) -> None:
        set_up_screen(page, hall)
        assert page.locator("h1").inner_text() == "请刷卡或输入身份证号"
        assert "Scan your badge or enter your ID number" in page.content()
        shot(page, "welcome")
        page.click("[data-testid=enter-id]")
        page.wait_for_url(re.compile(r"/kiosk/sign-in$"))
        assert _touch_targets_at_least(page, 64) == []
        shot(page, "sign-in")
        page.click("#id_number")
        _type_on_keypad(page, hall.trainee.id_number)
        assert page.input_value("#id_number") == hall.trainee.id_number
        _type_on_keypad(page, hall.pin)
        assert page.input_value("#pin") == hall.pin
        page.click("[data-testid=sign-in]")
        page.wait_for_url(re.compile(r"/kiosk/home$"))
        card = page.locator(f"[data-testid=session-{hall.class_session.id}]")
        assert "硝化安全晨会" in card.inner_text() and "未签到" in card.inner_text()
        assert _touch_targets_at_least(page, 64) == []
        shot(page, "home")
        page.click(f"[data-testid=check-in-{hall.class_session.id}]")
        confirmation = page.locator("[data-testid=confirmation]")
        assert "签到成功" in confirmation.inner_text()
        shot(page, "checked-in")
        page.click("[data-testid=back-home]")
        assert "已签到" in card.inner_text()
        assert page.locator(f"[data-testid=check-out-{hall.class_session.id}]").is_visible()
        page.click("[data-testid=sign-out]")
        page.wait_for_url(re.compile(r"/kiosk$"))
        page.goto("/kiosk/home")
        assert page.url.endswith("/kiosk?signed_out=1")

    def test_wrong_pins_then_the_lockout_message(self, page: Any, hall: Hall) -> None:
        set_up_screen(page, hall)
        for _ in range(5):
            _sign_in(page, hall, pin="135792")
            assert (
                "证件号码或 PIN 码错误" in page.locator("[data-testid=sign-in-error]").inner_text()
            )
        # The ID number stays typed in; only the PIN is asked again.
        assert page.input_value("#id_number") == hall.trainee.id_number
        _sign_in(page, hall)
        assert "该证件号码已锁定" in page.locator("[data-testid=sign-in-error]").inner_text()
        assert page.url.endswith("/kiosk/sign-in")
        shot(page, "locked")


class TestLanguage:
    def test_switch_to_english_and_back_on_every_screen(self, page: Any, hall: Hall) -> None:
        set_up_screen(page, hall)
        page.click("[data-testid=switch-language]")
        assert page.locator("h1").inner_text() == "Scan your badge or enter your ID number"
        assert page.get_attribute("html", "lang") == "en"
        page.click("[data-testid=enter-id]")
        assert page.locator("label[for=pin]").inner_text().startswith("PIN (6 digits)")
        _sign_in(page, hall)
        page.wait_for_url(re.compile(r"/kiosk/home$"))
        assert "Hello, 郭磊" in page.locator("h1").inner_text()
        assert (
            page.locator(f"[data-testid=check-in-{hall.class_session.id}]")
            .inner_text()
            .endswith("Check in")
        )
        shot(page, "home-en")
        page.click("[data-testid=switch-language]")
        assert "您好" in page.locator("h1").inner_text()
        assert page.get_attribute("html", "lang") == "zh-CN"


class TestIdle:
    @pytest.mark.kiosk_env(SAFETRAIN_KIOSK_IDLE_SECONDS="17")
    def test_a_countdown_then_back_to_welcome_and_forgotten(self, page: Any, hall: Hall) -> None:
        set_up_screen(page, hall)
        _sign_in(page, hall)
        page.wait_for_url(re.compile(r"/kiosk/home$"))
        warning = page.locator("#idle-warning")
        warning.wait_for(state="visible", timeout=6_000)  # the last 15 of 17 seconds
        assert re.search(r"\d+ 秒后自动退出", page.locator("#idle-text").inner_text())
        shot(page, "idle-warning")
        page.click("[data-testid=still-here]")
        warning.wait_for(state="hidden")
        assert page.url.endswith("/kiosk/home")
        page.wait_for_url(re.compile(r"/kiosk\?timeout=1$"), timeout=25_000)
        assert "长时间未操作，已自动退出" in page.content()
        page.goto("/kiosk/home")  # the server has forgotten the trainee too
        assert "/kiosk/home" not in page.url and "郭磊" not in page.content()


class TestOtherTrainees:
    def test_a_url_naming_another_trainees_record_is_refused(
        self, page: Any, hall: Hall, session: Session
    ) -> None:
        other = make_trainee(session, name="王芳")
        enrol(session, course=hall.course, trainee=other)
        set_pin(session, trainee=other)
        assert hall.class_session.id is not None and other.id is not None
        theirs = attendance.check_in(session, ACTOR, hall.class_session.id, other.id, None, "api")
        set_up_screen(page, hall)
        _sign_in(page, hall)
        page.wait_for_url(re.compile(r"/kiosk/home$"))
        response = page.goto(f"/kiosk/attendance/{theirs.id}")
        assert response is not None and response.status == 404
        assert "王芳" not in page.content()
        assert "不存在" in page.locator("[data-testid=error-message]").inner_text()


class TestPhone:
    def test_sign_in_and_today_fit_a_phone(self, phone: Any, hall: Hall) -> None:
        set_up_screen(phone, hall)
        _sign_in(phone, hall)
        phone.wait_for_url(re.compile(r"/kiosk/home$"))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways on a phone"
        button = phone.locator(f"[data-testid=check-in-{hall.class_session.id}]")
        box = button.bounding_box()
        assert box is not None and box["height"] >= 64
        assert _touch_targets_at_least(phone, 48) == []
        shot(phone, "home-phone")
