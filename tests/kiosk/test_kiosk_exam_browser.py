"""The kiosk's theory exam in a real headless Chromium against the real server: a full exam
with a reload in the middle, the language switch, the exam's idle time, and a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session

from tests.kiosk.conftest import Hall, set_up_screen, shot, small_targets
from tests.kiosk.exam_helpers import (
    key_of,
    open_sitting,
    paper_of,
    seconds_left,
    sign_in_on_screen,
    stored,
    wrong_of,
)

pytestmark = pytest.mark.usefixtures("browser")


def _keep(page: Any, name: str) -> None:
    """A screenshot in tests/artifacts/kiosk (docs/kiosk/exam-*.png are copies of these, made by
    hand, so a test run never changes a committed file)."""
    shot(page, name)


def _timer_seconds(page: Any) -> int:
    minutes, seconds = page.locator("[data-testid=timer-value]").inner_text().split(":")
    return int(minutes) * 60 + int(seconds)


def _answer(page: Any, options: list[str]) -> None:
    for option in options:
        page.click(f"[data-testid=option-{option}]")
    # Shown only once the server said so (the CSP forbids wait_for_function's eval).
    page.locator("[data-testid=save-state][data-state=saved]").wait_for(timeout=10_000)


def _small_targets(page: Any) -> list[str]:
    """Buttons and answer cards ≥ 64 px; the radio inputs inside the cards ≥ 48 px."""
    return small_targets(page, 64, "button, a.button, label.option") + small_targets(
        page, 48, "input"
    )


def _open_exam(page: Any, hall: Hall, paper_id: int | None) -> None:
    set_up_screen(page, hall)
    sign_in_on_screen(page, hall)
    page.click("[data-testid=nav-exams]")
    page.wait_for_url(re.compile(r"/kiosk/exams$"))
    page.click(f"[data-testid=open-exam-{paper_id}]")


class TestAFullExam:
    def test_answer_reload_resume_hand_in_and_read_the_result(
        self, page: Any, hall: Hall, session: Session
    ) -> None:
        open_sitting(session, hall)
        row = paper_of(session, hall.trainee.id)
        key, questions = key_of(row), stored(row).questions
        set_up_screen(page, hall)
        sign_in_on_screen(page, hall)
        page.click("[data-testid=nav-exams]")
        item = page.locator(f"[data-testid=exam-{row.id}]")
        assert "未开始" in item.inner_text() and "考试时间 60 分钟" in item.inner_text()
        _keep(page, "exam-list")
        page.click(f"[data-testid=open-exam-{row.id}]")
        start = page.locator("[data-testid=exam-start]").inner_text()
        assert "共 30 题" in start and "考试时间 60 分钟" in start
        assert _small_targets(page) == []
        _keep(page, "exam-start")
        page.click("[data-testid=start-exam]")
        page.wait_for_url(re.compile(r"/questions/1$"))

        # Questions 1–12: the right answers, except a wrong one to question 2.
        for n, q in enumerate(questions[:12], start=1):
            assert page.locator("[data-testid=question-of]").inner_text() == f"第 {n} 题 / 共 30 题"
            _answer(page, wrong_of(row, q.question_id) if n == 2 else key[q.question_id])
            assert page.locator("[data-testid=save-state]").inner_text() == "✔ 已保存"
            if n == 5:
                assert _small_targets(page) == []
                _keep(page, "exam-question")
            if n < 12:
                page.click("[data-testid=next]")
                page.wait_for_url(re.compile(rf"/questions/{n + 1}$"))

        # A reload (a crash, a power cut) comes back at question 12, the answer shown, the
        # timer as the server counts it.
        page.reload()
        assert page.url.endswith("/questions/12")
        twelfth = questions[11]
        for option in key[twelfth.question_id]:
            assert page.locator(f"[data-testid=option-{option}] input").is_checked()
        assert abs(_timer_seconds(page) - seconds_left(session, row.id)) <= 3
        assert paper_of(session, hall.trainee.id).position == 11

        # The rest, leaving the last one blank.
        for n, q in enumerate(questions[12:29], start=13):
            page.click("[data-testid=next]")
            page.wait_for_url(re.compile(rf"/questions/{n}$"))
            _answer(page, key[q.question_id])
        page.click("[data-testid=overview]")
        page.wait_for_url(re.compile(r"/overview$"))
        assert "已答 29 题，未答 1 题" in page.locator("[data-testid=answered-count]").inner_text()
        assert page.locator("[data-testid=cell-30]").inner_text().startswith("○")
        assert page.locator("[data-testid=cell-2]").inner_text().startswith("✔")
        _keep(page, "exam-overview")
        page.click("[data-testid=cell-30]")
        page.wait_for_url(re.compile(r"/questions/30$"))
        page.click("[data-testid=next]")  # "hand in…" on the last question
        page.wait_for_url(re.compile(r"/confirm$"))
        assert "还有 1 题未作答" in page.locator("[data-testid=unanswered]").inner_text()
        _keep(page, "exam-confirm")
        page.click("[data-testid=submit]")
        page.wait_for_url(re.compile(r"/result$"))
        assert page.locator("[data-testid=score]").inner_text().startswith("94.0 分")
        assert page.locator("[data-testid=verdict]").inner_text() == "✔ 合格"
        topics = page.locator("[data-testid=topics]").inner_text()
        assert "硝化工艺原理与危险特性" in topics
        missed = page.locator("[data-testid=missed-2]").inner_text()
        assert "正确答案" in missed and "解析" in missed
        assert page.locator("[data-testid=explanation-2]").is_visible()
        _keep(page, "exam-result")
        page.click("[data-testid=back-to-list]")
        assert "94.0 分" in page.locator(f"[data-testid=exam-{row.id}]").inner_text()


class TestLanguage:
    def test_the_question_screen_switches_to_english_and_back(
        self, page: Any, hall: Hall, session: Session
    ) -> None:
        open_sitting(session, hall)
        row = paper_of(session, hall.trainee.id)
        _open_exam(page, hall, row.id)
        page.click("[data-testid=start-exam]")
        page.wait_for_url(re.compile(r"/questions/1$"))
        page.click("[data-testid=switch-language]")
        assert page.locator("[data-testid=question-of]").inner_text() == "Question 1 of 30"
        assert page.get_attribute("html", "lang") == "en"
        assert "Time left" in page.locator("[data-testid=timer]").inner_text()
        _keep(page, "exam-question-en")
        page.click("[data-testid=switch-language]")
        assert page.locator("[data-testid=question-of]").inner_text() == "第 1 题 / 共 30 题"


class TestIdle:
    @pytest.mark.kiosk_env(SAFETRAIN_KIOSK_IDLE_SECONDS="5")
    def test_reading_outlasts_the_kiosk_idle_time_and_signing_out_loses_nothing(
        self, page: Any, hall: Hall, session: Session
    ) -> None:
        open_sitting(session, hall)
        row = paper_of(session, hall.trainee.id)
        first = stored(row).questions[0]
        _open_exam(page, hall, row.id)
        page.click("[data-testid=start-exam]")
        page.wait_for_url(re.compile(r"/questions/1$"))
        _answer(page, key_of(row)[first.question_id])
        # The exam page allows 4 × 5 s; its warning comes in the last 10 s — after the kiosk's
        # own 5 s, so the page kept the server's session alive meanwhile.
        warning = page.locator("#exam-idle")
        warning.wait_for(state="visible", timeout=15_000)
        page.click("[data-testid=still-here]")
        warning.wait_for(state="hidden")
        page.click("[data-testid=next]")
        page.wait_for_url(re.compile(r"/questions/2$"))
        page.wait_for_url(re.compile(r"/kiosk\?timeout=1$"), timeout=30_000)
        sign_in_on_screen(page, hall)
        page.click("[data-testid=nav-exams]")
        page.click(f"[data-testid=open-exam-{row.id}]")
        page.wait_for_url(re.compile(r"/questions/2$"))
        page.click("[data-testid=prev]")
        page.wait_for_url(re.compile(r"/questions/1$"))
        assert page.locator("[data-testid=save-state]").inner_text() == "✔ 已保存"


class TestPhone:
    def test_a_question_fits_a_phone(self, phone: Any, hall: Hall, session: Session) -> None:
        open_sitting(session, hall)
        row = paper_of(session, hall.trainee.id)
        _open_exam(phone, hall, row.id)
        phone.click("[data-testid=start-exam]")
        phone.wait_for_url(re.compile(r"/questions/1$"))
        first = stored(row).questions[0]
        _answer(phone, key_of(row)[first.question_id])
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert _small_targets(phone) == []
        assert phone.locator("[data-testid=timer]").is_visible()
        _keep(phone, "exam-question-phone")
