"""The assessment console as examiners and trainers use it: opening and following a theory
sitting, marking a practical checklist through the real form, signing, co-signing, correcting,
the results pages in both languages, item analysis and unassigned device results."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from curricula import catalogue
from server.accounts.models import Role, User
from server.assessment.models import Attempt, AttemptStatus, ExamSitting, TheoryPaper
from server.audit.models import AuditEvent
from server.devices.models import Attribution, DeviceFrame
from server.devices.registry import DeviceCreate, create_device
from server.scheduling.models import Course
from server.trainees.models import Trainee
from tests.factories import (
    ACTOR,
    auth,
    enrol,
    form_token,
    log_in,
    make_course,
    make_session,
    make_station,
    make_token,
    make_trainee,
    make_user,
)
from tests.server.assessment.test_decisions import sat
from tests.server.assessment.test_practical import result_item
from tests.server.assessment.test_sittings import key_of, open_sitting, paper_of, sitter
from tests.server.test_console_schedule import row_of, tables

BLUEPRINT = catalogue().curricula["NITRATION"].assessment.practical
assert BLUEPRINT is not None
ITEMS = [i for s in BLUEPRINT.subjects for i in s.items]
VETO = next(i for i in ITEMS if i.code == "K4-V")


def fresh(session: Session) -> Session:
    session.rollback()  # see what the server committed since
    session.expire_all()
    return session


def post(client: TestClient, url: str, csrf: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data={"csrf_token": csrf, **(data or {})}, follow_redirects=False)


def text_of(html: str) -> str:
    """The page's words, tags dropped and spaces folded, to look for sentences in."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def all_done(**overrides: str) -> dict[str, str]:
    """The checklist form with every item done without deductions and every veto item passed."""
    data = {f"state:{i.code}": "pass" if i.veto else "done" for i in ITEMS}
    return data | overrides


@pytest.fixture
def examiner(session: Session) -> User:
    return make_user(session, role=Role.examiner)


@pytest.fixture
def course(session: Session) -> Course:
    return make_course(session, starts_on="2026-04-01", ends_on="2026-12-31")


@pytest.fixture
def trainee(session: Session, course: Course) -> Trainee:
    person = make_trainee(session, name="王强")
    enrol(session, course=course, trainee=person)
    return person


def start_checklist(client: TestClient, csrf: str, course: Course, trainee: Trainee) -> str:
    page = client.get(f"/console/courses/{course.id}/practical")
    assert page.status_code == 200 and "王强" in page.text
    response = post(
        client, f"/console/courses/{course.id}/practical", csrf, {"trainee_id": str(trainee.id)}
    )
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    assert re.fullmatch(r"/console/attempts/\d+", location)
    return location


class TestSittings:
    def test_open_a_sitting_through_the_form_and_follow_it(
        self, client: TestClient, session: Session, course: Course, examiner: User
    ) -> None:
        ready = make_trainee(session, name="首次参加")
        done = make_trainee(session, name="补考未过")
        for person in (ready, done):
            enrol(session, course=course, trainee=person)
        assert done.id is not None
        sat(session, course, done.id, "theory", "2026-05-10", "62.0")
        sat(session, course, done.id, "theory", "2026-05-28", "71.0")  # the one make-up, failed
        csrf = log_in(client, examiner.username)

        exams = client.get("/console/exams")
        assert exams.status_code == 200 and course.code in exams.text
        assert f'href="/console/courses/{course.id}/sittings/new"' in exams.text
        form = client.get(f"/console/courses/{course.id}/sittings/new")
        assert form.status_code == 200
        left_out = row_of(form.text, "补考未过")
        assert left_out[1] == "须重新培训" and "补考" in left_out[2]

        response = post(
            client,
            f"/console/courses/{course.id}/sittings",
            csrf,
            {"when": "now", "late_start_minutes": "15"},
        )
        assert response.status_code == 303, response.text
        page = client.get(response.headers["location"])
        assert page.status_code == 200
        assert "已开考" in page.text
        row = row_of(page.text, "首次参加")
        questions = catalogue().curricula["NITRATION"].assessment.theory.question_count  # type: ignore[union-attr]
        assert row[1] == "未开始答题" and row[2] == f"0 / {questions} 题"
        assert row_of(page.text, "补考未过")[1] == "须重新培训"
        assert (
            'src="/static/assessment-live.js"' in page.text
            and 'data-live-refresh="15"' in page.text
        )
        sitting = fresh(session).exec(select(ExamSitting)).one()
        assert [p.trainee_id for p in session.exec(select(TheoryPaper)).all()] == [ready.id]

        english = client.get(f"/console/sittings/{sitting.id}?lang=en")
        assert row_of(english.text, "首次参加")[1] == "Not started"

        confirm = client.get(f"/console/sittings/{sitting.id}/close?lang=zh")
        assert confirm.status_code == 200 and "确定要立即结束本场考试吗" in confirm.text
        closed = post(client, f"/console/sittings/{sitting.id}/close", form_token(confirm.text))
        assert closed.status_code == 303
        page = client.get(closed.headers["location"])
        assert row_of(page.text, "首次参加")[1] == "已评分"
        assert "data-live-refresh" not in page.text and "assessment-live.js" not in page.text

    def test_bad_input_is_named_by_its_field(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        csrf = log_in(client, examiner.username)
        response = post(
            client,
            f"/console/courses/{course.id}/sittings",
            csrf,
            {"when": "at", "opens_at": "", "late_start_minutes": "999"},
        )
        assert response.status_code == 422
        assert 'id="s-opens_at-err"' in response.text and 'id="s-late-err"' in response.text
        assert re.search(r'id="s-late"[^>]*aria-invalid="true"', response.text)
        assert fresh(session).exec(select(ExamSitting)).first() is None

    def test_the_courses_trainer_may_not_open_it(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        make_session(session, course=course, instructor=examiner)
        csrf = log_in(client, examiner.username)
        page = client.get(f"/console/courses/{course.id}/sittings/new")
        assert page.status_code == 403 and "教考分离" in page.text
        response = post(
            client,
            f"/console/courses/{course.id}/sittings",
            csrf,
            {"when": "now", "late_start_minutes": "30"},
        )
        assert response.status_code == 403 and "教考分离" in response.text


class TestPracticalMarking:
    def test_mark_sign_cosign_and_correct_through_the_form(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        csrf = log_in(client, examiner.username)
        attempt_url = start_checklist(client, csrf, course, trainee)
        page = client.get(attempt_url)
        assert page.status_code == 200
        assert 'action="' + attempt_url + '/marks"' in page.text
        assert 'src="/static/assessment-marking.js"' in page.text
        assert "否决项" in page.text and "权重 40" in page.text
        # Nothing marked: every item is missing and the most reachable is full marks.
        assert f"尚未评分的项目 {len(ITEMS)} 项" in page.text

        first = ITEMS[0]  # K1-1 (35 points, weight 40): a 10-point deduction counted twice
        partial = post(
            client, attempt_url + "/marks", csrf, {f"count:{first.code}:0": "2", "action": "save"}
        )
        assert partial.status_code == 303
        page = client.get(partial.headers["location"])
        assert "最高可得 92.0 分" in page.text and "尚未评完" in page.text
        assert re.search(rf'name="state:{first.code}" value="done" checked', page.text)
        assert re.search(rf'name="count:{first.code}:0"[^>]*value="2"', page.text)

        whole = all_done(**{f"count:{first.code}:0": "2"})
        saved = post(client, attempt_url + "/marks", csrf, whole | {"action": "sign"})
        assert saved.status_code == 303 and saved.headers["location"] == attempt_url + "/sign"
        confirm = client.get(attempt_url + "/sign")
        assert confirm.status_code == 200 and "92.0 分" in confirm.text and "合格" in confirm.text
        signed = post(client, attempt_url + "/sign", form_token(confirm.text))
        assert signed.status_code == 303
        page = client.get(signed.headers["location"])
        assert "已签字" in page.text and examiner.display_name in page.text
        assert 'action="' + attempt_url + '/marks"' not in page.text  # read-only now
        assert "尚无会签" in page.text

        again = post(client, attempt_url + "/cosign", csrf)
        assert again.status_code == 403 and "会签须由另一位考评员" in again.text
        second = make_user(session, role=Role.examiner)
        csrf2 = log_in(client, second.username)
        page = client.get(attempt_url)
        assert 'action="' + attempt_url + '/cosign"' in page.text
        cosigned = post(client, attempt_url + "/cosign", csrf2)
        assert cosigned.status_code == 303
        page = client.get(cosigned.headers["location"])
        assert f"会签：{second.display_name}" in page.text

        missing_reason = post(client, attempt_url + "/corrections", csrf2, whole | {"reason": ""})
        assert missing_reason.status_code == 422 and 'id="c-reason-err"' in missing_reason.text
        fixed = all_done(**{f"count:{first.code}:0": "1"})
        corrected = post(
            client,
            attempt_url + "/corrections",
            csrf2,
            fixed | {"reason": "复看录像：只漏查一次气瓶压力"},
        )
        assert corrected.status_code == 303, corrected.text
        new_url = corrected.headers["location"].split("?")[0]
        assert new_url != attempt_url
        page = client.get(corrected.headers["location"])
        assert "96.0 分" in page.text and "复看录像：只漏查一次气瓶压力" in page.text
        versions = next(t for t in tables(page.text) if t and t[0][0] == "记录")
        assert [(r[1], r[2], r[4]) for r in versions[1:]] == [
            ("第 1 版", "已被更正（作废）", "92.0"),
            ("第 2 版", "有效", "96.0"),
        ]
        assert "<s>92.0</s>" in page.text
        rows = fresh(session).exec(select(Attempt).order_by(col(Attempt.id))).all()
        assert [(a.version, a.status, a.score) for a in rows] == [
            (1, AttemptStatus.superseded, "92.0"),
            (2, AttemptStatus.final, "96.0"),
        ]
        assert rows[0].cosigned_by == second.id

    def test_a_failed_veto_item_fails_whatever_the_points(
        self, client: TestClient, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        csrf = log_in(client, examiner.username)
        attempt_url = start_checklist(client, csrf, course, trainee)
        early = post(client, attempt_url + "/marks", csrf, {f"state:{VETO.code}": "fail"})
        page = client.get(early.headers["location"])
        words = text_of(page.text)
        assert "否决项未通过" in words and VETO.text.zh in words and "不合格" in words
        assert "无论其余各项如何" in words
        post(client, attempt_url + "/marks", csrf, all_done(**{f"state:{VETO.code}": "fail"}))
        page = client.get(attempt_url)
        words = text_of(page.text)
        assert "100.0 分" in words and "不合格" in words and "无论得分多少" in words
        english = text_of(client.get(attempt_url + "?lang=en").text)
        assert "Veto item failed" in english and VETO.text.en in english and "Failed" in english
        signed = post(client, attempt_url + "/sign", csrf)
        page = client.get(signed.headers["location"] + "&lang=zh")
        assert "否决项未通过" in text_of(page.text)

    def test_an_incomplete_checklist_is_refused_at_signing_naming_the_missing_item(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        csrf = log_in(client, examiner.username)
        attempt_url = start_checklist(client, csrf, course, trainee)
        last = ITEMS[-1]
        post(client, attempt_url + "/marks", csrf, all_done(**{f"state:{last.code}": ""}))
        confirm = client.get(attempt_url + "/sign")
        assert confirm.status_code == 422 and "不能签字" in confirm.text
        assert last.code in confirm.text and last.text.zh in confirm.text
        assert 'action="' + attempt_url + '/sign"' not in confirm.text
        response = post(client, attempt_url + "/sign", csrf)
        assert response.status_code == 422
        words = text_of(response.text)
        assert "以下项目未评分" in words and last.code in words and last.text.zh in words
        assert fresh(session).exec(select(Attempt)).one().status == AttemptStatus.draft

    def test_a_bad_count_is_named_and_nothing_is_saved(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        csrf = log_in(client, examiner.username)
        attempt_url = start_checklist(client, csrf, course, trainee)
        response = post(client, attempt_url + "/marks", csrf, all_done(**{"count:K1-1:0": "-3"}))
        assert response.status_code == 422
        assert re.search(r'id="item-K1-1-d0"[^>]*aria-invalid="true"', response.text)
        assert 'id="item-K1-1-d0-err"' in response.text
        assert fresh(session).exec(select(Attempt)).one().marks == "[]"

    def test_the_courses_trainer_is_refused_as_examiner(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        make_session(session, course=course, instructor=examiner)
        csrf = log_in(client, examiner.username)
        page = client.get(f"/console/courses/{course.id}/practical")
        assert page.status_code == 403 and "教考分离" in page.text
        response = post(
            client, f"/console/courses/{course.id}/practical", csrf, {"trainee_id": str(trainee.id)}
        )
        assert response.status_code == 403 and "教考分离" in response.text
        english = client.get(f"/console/courses/{course.id}/practical?lang=en")
        assert "training and examining are kept apart" in english.text
        assert fresh(session).exec(select(Attempt)).first() is None

    def test_trainers_and_admins_read_a_checklist_but_do_not_mark_it(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee, examiner: User
    ) -> None:
        csrf = log_in(client, examiner.username)
        attempt_url = start_checklist(client, csrf, course, trainee)
        post(client, attempt_url + "/marks", csrf, {"state:K1-1": "not_performed"})
        for role in (Role.trainer, Role.admin):
            user = make_user(session, role=role)
            csrf = log_in(client, user.username)
            page = client.get(attempt_url)
            assert page.status_code == 200 and "只读" in page.text
            assert "/marks" not in page.text and "assessment-marking.js" not in page.text
            assert "未操作（0 分）" in page.text
            assert post(client, attempt_url + "/marks", csrf, all_done()).status_code == 403


class TestResults:
    def test_the_course_results_say_each_part_in_words(
        self, client: TestClient, session: Session, course: Course
    ) -> None:
        passed, retrain = (
            make_trainee(session, name="理论已过"),
            make_trainee(session, name="须重培"),
        )
        for person in (passed, retrain):
            enrol(session, course=course, trainee=person)
        assert passed.id is not None and retrain.id is not None
        sat(session, course, passed.id, "theory", "2026-11-02", "92.0")
        sat(session, course, retrain.id, "theory", "2026-05-10", "62.0")
        sat(session, course, retrain.id, "theory", "2026-05-28", "71.0")
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)

        course_page = client.get(f"/console/courses/{course.id}")
        assert f'href="/console/courses/{course.id}/results"' in course_page.text
        page = client.get(f"/console/courses/{course.id}/results")
        assert page.status_code == 200
        header = next(t for t in tables(page.text) if t and t[0][0] == "姓名")[0]
        assert header[1:3] == ["理论考试", "实际操作考试"]
        row = row_of(page.text, "理论已过")
        assert row[1].startswith("已合格") and "上次 92.0 分" in row[1]
        assert row[2] == "未参加"
        assert row[header.index("可发证")] == "暂不能发证"
        assert row_of(page.text, "须重培")[1].startswith("须重新培训")

        english = client.get(f"/console/courses/{course.id}/results?lang=en")
        header = next(t for t in tables(english.text) if t and t[0][0] == "Name")[0]
        assert header[1:3] == ["theory exam", "practical exam"]
        row = row_of(english.text, "理论已过")
        assert row[1].startswith("Passed") and row[2] == "Not attempted"
        assert row[header.index("Ready to certify")] == "Not ready"
        assert row_of(english.text, "须重培")[1].startswith("Must retrain")

    def test_a_trainees_attempts_with_a_score_correction(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        assert trainee.id is not None
        sat(session, course, trainee.id, "theory", "2026-11-02", "78.0")
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        url = f"/console/trainees/{trainee.id}/results?course={course.id}"
        page = client.get(url)
        assert page.status_code == 200 and "/corrections" not in page.text  # trainers read only
        row = row_of(page.text, "理论考试")
        assert row[1].startswith("可补考") and "上次 78.0 分" in row[4]

        examiner = make_user(session, role=Role.examiner)
        csrf = log_in(client, examiner.username)
        [attempt] = fresh(session).exec(select(Attempt)).all()
        bad = post(
            client,
            f"/console/attempts/{attempt.id}/corrections",
            csrf,
            {"from": "results", "score": "101", "reason": "复核"},
        )
        assert bad.status_code == 422 and f'id="c{attempt.id}-score-err"' in bad.text
        response = post(
            client,
            f"/console/attempts/{attempt.id}/corrections",
            csrf,
            {"from": "results", "score": "81.0", "reason": "复核试卷：第 12 题答案有误"},
        )
        assert response.status_code == 303
        assert (
            response.headers["location"]
            == f"/console/trainees/{trainee.id}/results?course={course.id}&done=corrected"
        )
        page = client.get(response.headers["location"])
        history = next(t for t in tables(page.text) if t and t[0][0] == "记录")
        assert [(r[2], r[3], r[5], r[6], r[9]) for r in history[1:]] == [
            ("第 1 版", "已被更正（作废）", "78.0", "不合格", ""),
            ("第 2 版", "有效", "81.0", "合格", "复核试卷：第 12 题答案有误"),
        ]
        assert row_of(page.text, "理论考试")[1].startswith("已合格")
        english = client.get(url + "&lang=en")
        history = next(t for t in tables(english.text) if t and t[0][0] == "Record")
        assert history[1][3] == "Superseded (corrected)"
        event = (
            fresh(session)
            .exec(select(AuditEvent).where(AuditEvent.action == "attempt.correct"))
            .one()
        )
        assert event.reason == "复核试卷：第 12 题答案有误"


class TestItemAnalysis:
    def test_the_report_and_its_csv(self, client: TestClient, session: Session) -> None:
        token = make_token(session, user=make_user(session, role=Role.examiner))
        course = make_course(session, capacity=3)
        people = [sitter(session, course, name) for name in ("甲", "乙", "丙")]
        open_sitting(client, token, course)
        for n, me in enumerate(people):
            paper_id = paper_of(session, me.trainee_id).id
            client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token))
            key = key_of(session, me.trainee_id)
            for question_id in list(key)[: (n + 1) * 5]:
                client.put(
                    f"/api/v1/papers/{paper_id}/answers/{question_id}",
                    json={"chosen": key[question_id]},
                    headers=auth(me.token),
                )
            client.post(f"/api/v1/papers/{paper_id}/submit", headers=auth(me.token))
        fresh(session)
        trainer = make_user(session, role=Role.trainer)
        log_in(client, trainer.username)
        page = client.get("/console/curricula/nitration/items")
        assert page.status_code == 200
        words = text_of(page.text)
        assert "KR-20" in words and "作答人数太少，数据仅供参考" in words
        facts = re.search(r"<dt>试卷</dt><dd>(\d+)</dd>", page.text)
        assert facts and facts.group(1) == "3"
        bank = len(catalogue().curricula["NITRATION"].questions)
        assert f"全部 {bank} 道题" in words
        english = text_of(client.get("/console/curricula/NITRATION/items?lang=en").text)
        assert "too few responses to judge" in english and "Flagged questions" in english
        assert 'href="/console/curricula/NITRATION/items.csv"' in page.text
        download = client.get("/console/curricula/NITRATION/items.csv")
        assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
        assert download.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert rows[0][0] == "题号 question" and len(rows) == 1 + bank
        assert client.get("/console/curricula/NOPE/items").status_code == 404


class TestDeviceResults:
    def test_an_unassigned_result_is_attributed_with_a_reason(
        self, client: TestClient, session: Session, course: Course, trainee: Trainee
    ) -> None:
        make_station(session, code="VR-01", kind="vr_pod")
        create_device(session, ACTOR, DeviceCreate(code="VR-01", kind="vr_pod", station="VR-01"))  # type: ignore[arg-type]
        gateway = make_token(session, user=make_user(session, role=Role.gateway))
        trainer = make_user(session, role=Role.trainer)
        fresh(session)
        answer = client.post(
            "/api/v1/device-results",
            json={"items": [result_item(1, 87.5, "NOBODY")]},
            headers=auth(gateway),
        ).json()["results"]
        assert answer[0]["status"] == "accepted"
        csrf = log_in(client, trainer.username)
        page = client.get("/console/device-results")
        assert page.status_code == 200
        row = next(r for t in tables(page.text) for r in t if len(r) > 2 and r[1] == "VR-01")
        assert (
            row[2].startswith("NITR-RUNAWAY")
            and row[4].startswith("87.5 / 100")
            and row[5] == "NOBODY"
        )
        frame = (
            fresh(session).exec(select(DeviceFrame).where(DeviceFrame.frame_type == "result")).one()
        )

        unknown = post(
            client,
            f"/console/device-results/{frame.id}/assign",
            csrf,
            {"trainee": "XX", "reason": "核实"},
        )
        assert unknown.status_code == 422 and f'id="r{frame.id}-trainee-err"' in unknown.text
        assert "没有这个证件号码或胸卡号的学员" in unknown.text
        response = post(
            client,
            f"/console/device-results/{frame.id}/assign",
            csrf,
            {"trainee": trainee.badge.lower(), "reason": "学员忘带胸卡，监控录像核实"},
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"])
        assert "没有未归属的设备成绩" in page.text and "王强" in page.text
        fresh(session)
        frame = session.get(DeviceFrame, frame.id)  # type: ignore[assignment]
        assert frame is not None and frame.attribution == Attribution.resolved
        attempt = session.exec(select(Attempt)).one()
        assert (attempt.trainee_id, attempt.score, attempt.course_id) == (
            trainee.id,
            "87.5",
            course.id,
        )
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "device_result.assign")
        ).one()
        assert event.reason == "学员忘带胸卡，监控录像核实"


class TestStatic:
    @pytest.mark.parametrize(
        "name", ["assessment-marking.js", "assessment-live.js", "assessment.css"]
    )
    def test_the_pages_files_are_served(self, client: TestClient, name: str) -> None:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.text) > 100
        kind = "css" if name.endswith(".css") else "javascript"
        assert kind in response.headers["content-type"]
