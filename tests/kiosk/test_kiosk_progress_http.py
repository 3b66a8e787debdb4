"""The kiosk's progress pages over HTTP: hours per kind, what is left before the certificate,
every final attempt newest first, only the signed-in trainee's own, and the refusals."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlmodel import Session

from curricula import catalogue
from curricula.model import ModuleKind
from kiosk.progress_routes import hours_done, hours_needed, what_is_left
from scoring.decisions import Attempt, Policy, decide_certification
from scoring.results import part_names
from server.assessment.models import AttemptStatus
from server.assessment.sittings import curriculum_of
from server.certificates import service as certificates
from server.config import Settings
from server.i18n import translate
from tests.factories import ACTOR, enrol, make_course, make_trainee, set_pin
from tests.kiosk.conftest import Hall
from tests.kiosk.exam_helpers import signed_in
from tests.kiosk.progress_helpers import (
    attempt,
    hours_short,
    nothing_done,
    progress_course,
    theory_failed,
)
from tests.server.certificates.readiness import ready

RUNAWAY = "考核项目「硝化釜飞温（反应失控）应急处置」"


def _text(html: str) -> str:
    """The page as a reader sees it: tags dropped, white space folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _course(html: str, course_id: int | None) -> str:
    """The text of one course's card on the page."""
    found = re.search(rf'data-testid="course-{course_id}".*?</section>', html, re.S)
    assert found, f"course {course_id} is not on the page"
    return _text(found.group(0))


def _progress(client: TestClient, hall: Hall, course_id: int | None, lang: str = "zh") -> str:
    signed_in(client, hall)
    page = client.get(f"/kiosk/progress?lang={lang}")
    assert page.status_code == 200, page.text
    return _course(page.text, course_id)


class TestHoursInWords:
    def test_hours_done_round_down_and_hours_needed_round_up(self) -> None:
        assert [hours_done(m) for m in (0, 720, 750, 959, 960)] == ["0", "12", "12.5", "15.9", "16"]
        assert [hours_needed(m) for m in (1, 30, 240, 241)] == ["0.1", "0.5", "4", "4.1"]


def _sentences(**theory_and_practical: list[tuple[str, str]]) -> list[str]:
    """What is left, in Chinese, for histories of the theory and practical exams (score, day);
    the hours are complete and the device scenario passed."""
    histories = {
        part: [Attempt(dt.date.fromisoformat(d), Decimal(s), Decimal(s) >= 80) for s, d in rows]
        for part, rows in theory_and_practical.items()
    }
    histories.setdefault("theory", [Attempt(dt.date(2026, 11, 20), Decimal(90), True)])
    histories.setdefault("practical", [Attempt(dt.date(2026, 11, 20), Decimal(90), True)])
    histories["device:NITR-RUNAWAY"] = [Attempt(dt.date(2026, 11, 20), Decimal(90), True)]
    decision = decide_certification(
        curriculum_of("NITRATION"),
        histories=histories,
        credited_minutes={ModuleKind.theory: 2880, ModuleKind.practical: 960, ModuleKind.vr: 480},
        rule_sets=catalogue().rule_sets,
        policy=Policy(passing_score_valid_months=None),
        on=dt.date(2026, 12, 2),
    )
    titles = {"theory": part_names("theory"), "practical": part_names("practical")}
    return [
        translate(i.key, "zh", part=i.part[0] if i.part else "", hours=i.hours, n=i.sittings)
        for i in what_is_left(decision, titles)
    ]


class TestSentenceForEachState:
    """Each state a part's decision can be in, said in a sentence (from scoring's decision)."""

    def test_a_retake_with_sittings_counted(self) -> None:
        left = _sentences(practical=[("70", "2026-11-01")])
        assert left == ["实际操作考试未通过，需补考（还可考 4 次）"]

    def test_a_make_up_failed_under_order_30_means_retraining(self) -> None:
        left = _sentences(theory=[("60", "2026-05-10"), ("65", "2026-05-20")])
        assert left == ["理论考试已考满规定次数仍未合格，须重新参加培训后才能再考"]

    def test_five_practical_fails_under_order_19_mean_registering_again(self) -> None:
        left = _sentences(practical=[("60", f"2026-11-0{n}") for n in range(1, 6)])
        assert left == ["实际操作考试已考满规定次数仍未合格，须重新报名参加理论考试"]

    def test_a_pass_kept_12_months_has_lapsed(self) -> None:
        left = _sentences(theory=[("85", "2025-06-10")])
        assert left == ["理论考试的合格成绩已过期，需重新参加考试"]

    def test_nothing_left(self) -> None:
        assert _sentences() == ["已具备发证条件，请联系培训教师办理证书"]


class TestWhatIsLeft:
    def test_nothing_done_needs_every_hour_and_every_exam(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        nothing_done(session, course, hall.trainee)
        card = _progress(client, hall, course.id)
        for sentence in (
            "还需理论培训 48 学时",
            "还需实操 16 学时",
            "还需 VR 仿真实训 8 学时",
            "还需参加理论考试",
            "还需参加实际操作考试",
            f"还需参加{RUNAWAY}",
        ):
            assert sentence in card
        assert "○ 理论 0 / 48 学时 （未完成）" in card
        assert "还没有考核成绩" in card
        assert "已具备发证条件" not in card

    def test_hours_short_says_how_many_are_left(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        hours_short(session, course, hall.trainee)
        card = _progress(client, hall, course.id)
        assert "还需实操 4 学时" in card
        assert "实际操作培训学时未完成：已计 12:00，要求 16:00" in card  # the decision's words
        assert "○ 实操 12 / 16 学时 （未完成）" in card
        assert "✔ 理论 48 / 48 学时 （已完成）" in card
        assert "还需理论培训" not in card

    def test_hours_done_but_theory_failed_needs_a_retake(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        theory_failed(session, course, hall.trainee)
        card = _progress(client, hall, course.id)
        assert "理论考试未通过，需补考（不限次数）" in card
        assert "2026-11-20 的理论考试未合格（62.0 分），可以再次参加，不限次数" in card
        assert "学时" in card and "还需实操" not in card and "还需理论培训" not in card
        assert "还需参加实际操作考试" not in card and "已具备发证条件" not in card

    def test_ready_says_so(self, client: TestClient, session: Session, hall: Hall) -> None:
        course = progress_course(session)
        ready(session, course, hall.trainee)
        card = _progress(client, hall, course.id)
        assert "✔ 已具备发证条件，请联系培训教师办理证书" in card
        assert "还需" not in card
        for line in ("✔ 理论 48 / 48 学时", "✔ 实操 16 / 16 学时", "✔ VR 仿真 8 / 8 学时"):
            assert line in card

    def test_a_certificate_issued_is_said_with_its_number_and_a_link(
        self, client: TestClient, session: Session, hall: Hall, cert_settings: Settings
    ) -> None:
        course = progress_course(session)
        ready(session, course, hall.trainee)
        assert hall.trainee.id is not None and course.id is not None
        cert, _ = certificates.issue(session, cert_settings, ACTOR, hall.trainee.id, course.id)
        signed_in(client, hall)
        page = client.get("/kiosk/progress")
        card = _course(page.text, course.id)
        assert f"★ 证书已颁发：编号 {cert.number}（有效）" in card
        assert 'href="/kiosk/certificates"' in page.text
        assert "已具备发证条件" not in card

    def test_in_english(self, client: TestClient, session: Session, hall: Hall) -> None:
        course = progress_course(session)
        hours_short(session, course, hall.trainee)
        card = _progress(client, hall, course.id, lang="en")
        assert "4 more hours of practical training" in card
        assert "Practical 12 / 16 hours (not complete)" in card
        assert "The theory exam is still to be taken" in card
        assert "Nitration Process Operation" in card
        assert "还需" not in card

    def test_a_history_the_rules_cannot_read_asks_for_the_trainer(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        enrol(session, course=course, trainee=hall.trainee)
        attempt(session, course, hall.trainee, day="2026-11-01", score="90.0")
        attempt(session, course, hall.trainee, day="2026-11-02", score="91.0")  # while passed
        card = _progress(client, hall, course.id)
        assert "暂时无法判定您的发证条件，请联系培训教师核对成绩记录" in card
        assert "91.0 分" in card  # the attempts are still shown


class TestAttempts:
    def test_each_attempt_has_its_local_date_score_pass_mark_verdict_and_reasons(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        enrol(session, course=course, trainee=hall.trainee)
        attempt(session, course, hall.trainee, day="2026-11-08", at="00:30", score="62.0")
        card = _progress(client, hall, course.id)
        # 00:30 in Shanghai is 16:30 UTC of the day before: the page says the local time
        assert "理论考试 2026-11-08 00:30" in card
        assert "✘ 不合格 62.0 分 · 合格线 80 分" in card
        assert "理论考试成绩 62.0 分，低于合格线 80 分：不合格" in card

    def test_in_english(self, client: TestClient, session: Session, hall: Hall) -> None:
        course = progress_course(session)
        enrol(session, course=course, trainee=hall.trainee)
        attempt(session, course, hall.trainee, day="2026-11-08", score="88.0")
        card = _progress(client, hall, course.id, lang="en")
        assert "✔ Passed 88.0 points · pass mark 80" in card
        assert "Theory exam: 88.0, at or above the pass mark of 80: passed" in card

    def test_many_attempts_newest_first_and_all_on_the_courses_page(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        enrol(session, course=course, trainee=hall.trainee)
        for n in range(7):
            attempt(session, course, hall.trainee, day=f"2026-11-0{n + 1}", score=f"5{n}.0")
        signed_in(client, hall)
        overview = client.get("/kiosk/progress").text
        card = _course(overview, course.id)
        shown = re.findall(r"(5\d\.0) 分 ·", card)
        assert shown == ["56.0", "55.0", "54.0", "53.0", "52.0"]
        assert f'href="/kiosk/progress/{course.id}"' in overview and "查看全部 7 次考核记录" in card
        whole = client.get(f"/kiosk/progress/{course.id}")
        assert whole.status_code == 200
        assert re.findall(r"(5\d\.0) 分 ·", _text(whole.text)) == [
            f"5{n}.0" for n in range(6, -1, -1)
        ]

    def test_a_superseded_version_is_not_shown_its_correction_is(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        enrol(session, course=course, trainee=hall.trainee)
        old = attempt(session, course, hall.trainee, day="2026-11-08", score="78.0")
        old.status = AttemptStatus.superseded
        session.add(old)
        session.commit()
        new = attempt(session, course, hall.trainee, day="2026-11-08", at="10:01", score="81.0")
        new.supersedes_id, new.version = old.id, 2
        session.add(new)
        session.commit()
        card = _progress(client, hall, course.id)
        assert "81.0 分" in card and "（成绩已更正）" in card
        assert "78.0" not in card


class TestOnlyMine:
    def test_a_classmates_results_never_show(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)
        theory_failed(session, course, hall.trainee)
        classmate = make_trainee(session, name="李文静")
        ready(session, course, classmate)
        attempt(session, course, classmate, part="practical", day="2026-11-25", score="97.5")
        signed_in(client, hall)
        page = _text(client.get("/kiosk/progress").text)
        assert "62.0 分" in page and "理论考试未通过，需补考" in page
        assert "97.5" not in page and "李文静" not in page
        assert "已具备发证条件" not in page

    def test_a_course_not_mine_is_not_found(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        course = progress_course(session)  # the hall's trainee is not enrolled
        classmate = make_trainee(session, name="李文静")
        ready(session, course, classmate)
        other = make_course(session)
        signed_in(client, hall)
        for course_id in (course.id, other.id, 999_999):
            page = client.get(f"/kiosk/progress/{course_id}")
            assert page.status_code == 404
            assert "李文静" not in page.text and "90.0" not in page.text
        assert f"course-{course.id}" not in client.get("/kiosk/progress").text

    def test_my_own_course_page_opens(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        signed_in(client, hall)
        page = client.get(f"/kiosk/progress/{hall.course.id}")
        assert page.status_code == 200 and f'data-testid="course-{hall.course.id}"' in page.text
        assert "返回学习进度" in page.text
        # the strict CSP holds: no inline style or script (the bars are <progress>, not widths)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "style=" not in page.text and "<script>" not in page.text
        assert page.headers["cache-control"] == "no-store"


class TestRefusals:
    def test_a_screen_not_set_up_is_sent_to_set_up(self, client: TestClient, hall: Hall) -> None:
        for url in ("/kiosk/progress", f"/kiosk/progress/{hall.course.id}"):
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/kiosk/setup"

    def test_no_trainee_signed_in_is_sent_to_welcome(self, client: TestClient, hall: Hall) -> None:
        client.post("/kiosk/setup", data={"code": hall.setup_code})
        for url in ("/kiosk/progress", f"/kiosk/progress/{hall.course.id}"):
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/kiosk?signed_out=1"

    def test_no_course_says_so(self, client: TestClient, session: Session, hall: Hall) -> None:
        lonely = make_trainee(session, name="孙强")
        set_pin(session, trainee=lonely)
        hall.trainee = lonely
        signed_in(client, hall)
        assert "您目前没有在册的培训班" in client.get("/kiosk/progress").text
