"""The kiosk's progress screen in a real headless Chromium against the real server: reached from
the section bar, in Chinese then English, the course's every attempt, and on a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session

from tests.factories import make_trainee
from tests.kiosk.conftest import ARTIFACTS, Hall, set_up_screen, shot, small_targets
from tests.kiosk.exam_helpers import sign_in_on_screen
from tests.kiosk.progress_helpers import only_in, progress_course, retakes
from tests.server.certificates.readiness import ready

pytestmark = pytest.mark.usefixtures("browser")


def _keep(page: Any, name: str) -> None:
    """The whole page in tests/artifacts/kiosk, and what the screen shows (`<name>-screen`):
    docs/kiosk/progress*.png are copies of those, made by hand, so a test run never changes a
    committed file."""
    shot(page, name)
    page.screenshot(path=str(ARTIFACTS / f"{name}-screen.png"))


def _small_targets(page: Any, pixels: int) -> list[str]:
    return small_targets(page, pixels, "button, a.button, a.tab")


def _story(session: Session, hall: Hall) -> int | None:
    """The hall's trainee in a finished course: hours done, theory failed four times (62 last),
    the rest passed; a classmate in the same course is ready."""
    course = progress_course(session)
    retakes(session, course, hall.trainee)
    only_in(session, hall.trainee, course)
    ready(session, course, make_trainee(session, name="李文静"))
    return course.id


def _open_progress(page: Any, hall: Hall) -> None:
    set_up_screen(page, hall)
    sign_in_on_screen(page, hall)
    page.click("[data-testid=nav-progress]")
    page.wait_for_url(re.compile(r"/kiosk/progress$"))


class TestProgressScreen:
    def test_what_is_left_hours_and_attempts_in_chinese_then_english(
        self, page: Any, session: Session, hall: Hall
    ) -> None:
        course_id = _story(session, hall)
        _open_progress(page, hall)
        assert page.locator("[data-testid=nav-progress]").get_attribute("aria-current") == "page"
        card = page.locator(f"[data-testid=course-{course_id}]")
        text = card.inner_text()
        assert "理论考试未通过，需补考（不限次数）" in text
        assert "✔ 理论 48 / 48 学时" in text and "✔ 实操 16 / 16 学时" in text
        attempts = card.locator("[data-testid=attempt]")
        assert attempts.count() == 5  # the newest five; the rest one touch away
        first = attempts.first.inner_text()
        assert "理论考试" in first and "2026-11-20 10:00" in first and "✘ 不合格" in first
        assert "62.0 分" in first and "合格线 80 分" in first
        assert "李文静" not in page.content() and "已具备发证条件" not in text
        assert _small_targets(page, 64) == []
        _keep(page, "progress")

        page.click("[data-testid=switch-language]")
        page.wait_for_url(re.compile(r"lang=en"))
        text = page.locator(f"[data-testid=course-{course_id}]").inner_text()
        assert "The theory exam was not passed: a retake is needed (no limit on sittings)" in text
        assert "Theory 48 / 48 hours" in text and "✘ Not passed" in text
        assert "理论考试未通过" not in text
        _keep(page, "progress-en")

        page.click(f"[data-testid=all-attempts-{course_id}]")
        page.wait_for_url(re.compile(rf"/kiosk/progress/{course_id}$"))
        scores = page.locator("[data-testid=attempt] .kp-attempt-score").all_inner_texts()
        assert len(scores) == 6
        assert [re.search(r"[\d.]+ points", s).group(0) for s in scores[-3:]] == [  # type: ignore[union-attr]
            "58.0 points",
            "55.0 points",
            "48.0 points",
        ]
        _keep(page, "progress-course")
        page.click("[data-testid=back-to-progress]")
        page.wait_for_url(re.compile(r"/kiosk/progress$"))


class TestPhone:
    def test_progress_fits_a_phone(self, phone: Any, session: Session, hall: Hall) -> None:
        course_id = _story(session, hall)
        _open_progress(phone, hall)
        assert "需补考" in phone.locator(f"[data-testid=course-{course_id}]").inner_text()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways on a phone"
        assert _small_targets(phone, 48) == []
        _keep(phone, "progress-phone")
        phone.click(f"[data-testid=all-attempts-{course_id}]")
        phone.wait_for_url(re.compile(rf"/kiosk/progress/{course_id}$"))
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert _small_targets(phone, 48) == []
