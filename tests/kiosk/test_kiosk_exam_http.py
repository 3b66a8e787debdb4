"""The kiosk's theory exam screens over plain HTTP: list, start, answers as given, resume,
time up, hand in, result; and every refusal (tests/kiosk/test_kiosk_http.py's TestRoles also
walks these routes: a screen not set up and nobody signed in are refused there)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from server.assessment.models import Attempt, TheoryAnswer
from tests.factories import enrol, make_trainee
from tests.kiosk.conftest import Hall
from tests.kiosk.exam_helpers import (
    key_of,
    let_time_pass,
    open_sitting,
    paper_of,
    signed_in,
    stored,
    wrong_of,
)


def _started(client: TestClient, session: Session, hall: Hall) -> int:
    open_sitting(session, hall)
    signed_in(client, hall)
    paper_id = paper_of(session, hall.trainee.id).id
    started = client.post(f"/kiosk/exams/{paper_id}/start", follow_redirects=False)
    assert started.status_code == 303
    assert started.headers["location"] == f"/kiosk/exams/{paper_id}/questions/1"
    assert paper_id is not None
    return paper_id


def _answers(session: Session, paper_id: int) -> dict[str, str]:
    session.rollback()
    rows = session.exec(select(TheoryAnswer).where(TheoryAnswer.paper_id == paper_id)).all()
    return {a.question_id: a.chosen for a in rows}


class TestExamList:
    def test_no_papers_is_a_plain_notice(self, client: TestClient, hall: Hall) -> None:
        signed_in(client, hall)
        page = client.get("/kiosk/exams")
        assert page.status_code == 200 and "您目前没有理论考试" in page.text

    def test_an_open_paper_shows_the_time_allowed_then_the_time_left(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        open_sitting(session, hall)
        signed_in(client, hall)
        page = client.get("/kiosk/exams")
        assert "硝化工艺作业安全技术培训" in page.text and "共 30 题" in page.text
        assert "考试时间 60 分钟" in page.text and "未开始" in page.text
        paper_id = paper_of(session, hall.trainee.id).id
        client.post(f"/kiosk/exams/{paper_id}/start")
        let_time_pass(session, paper_id, 25 * 60)
        again = client.get("/kiosk/exams?lang=en")
        assert "In progress" in again.text and "Time left: 35 minutes" in again.text


class TestStart:
    def test_the_start_screen_says_what_the_exam_is(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        open_sitting(session, hall)
        signed_in(client, hall)
        paper_id = paper_of(session, hall.trainee.id).id
        page = client.get(f"/kiosk/exams/{paper_id}")
        assert "共 30 题" in page.text and "考试时间 60 分钟" in page.text
        assert 'data-testid="start-exam"' in page.text
        assert paper_of(session, hall.trainee.id).started_at is None  # looking starts nothing

    def test_starting_fixes_the_deadline_on_the_server_and_starting_again_resumes(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        row = paper_of(session, hall.trainee.id)
        assert row.started_at is not None and row.deadline is not None
        assert (row.deadline - row.started_at).total_seconds() == 3600
        client.post(f"/kiosk/exams/{paper_id}/go", data={"number": "7"})
        again = client.post(f"/kiosk/exams/{paper_id}/start", follow_redirects=False)
        assert again.headers["location"].endswith("/questions/7")
        assert paper_of(session, hall.trainee.id).deadline == row.deadline

    def test_a_sitting_not_open_yet_cannot_be_started(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        import datetime as dt

        open_sitting(session, hall, opens_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
        signed_in(client, hall)
        paper_id = paper_of(session, hall.trainee.id).id
        assert "考试尚未开始" in client.get(f"/kiosk/exams/{paper_id}").text
        refused = client.post(f"/kiosk/exams/{paper_id}/start")
        assert refused.status_code == 409 and "考试尚未开始" in refused.text
        assert paper_of(session, hall.trainee.id).started_at is None


class TestQuestion:
    def test_one_question_with_its_options_timer_and_position(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        first = stored(paper_of(session, hall.trainee.id)).questions[0]
        page = client.get(f"/kiosk/exams/{paper_id}/questions/1")
        assert "第 1 题 / 共 30 题" in page.text and "单选题" in page.text
        for option in first.options:
            assert f'data-testid="option-{option}"' in page.text
        remaining = int(re.search(r'data-remaining="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
        assert 3590 <= remaining <= 3600
        assert client.get(f"/kiosk/exams/{paper_id}/questions/31").status_code == 404

    def test_the_form_saves_the_choice_and_moves_on_without_javascript(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        row = paper_of(session, hall.trainee.id)
        q = row and stored(row).questions[0]
        choice = key_of(row)[q.question_id]
        moved = client.post(
            f"/kiosk/exams/{paper_id}/questions/1",
            data={"chosen": choice, "go": "next"},
            follow_redirects=False,
        )
        assert moved.status_code == 303 and moved.headers["location"].endswith("/questions/2")
        assert _answers(session, paper_id) == {q.question_id: ",".join(sorted(choice))}
        assert paper_of(session, hall.trainee.id).position == 1
        back = client.post(f"/kiosk/exams/{paper_id}/questions/2", data={"go": "prev"})
        assert "第 1 题" in back.text and "checked" in back.text
        assert paper_of(session, hall.trainee.id).position == 0

    def test_a_reload_resumes_at_the_same_question_after_signing_in_again(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        row = paper_of(session, hall.trainee.id)
        q5 = stored(row).questions[4]
        client.post(f"/kiosk/exams/{paper_id}/go", data={"number": "5"})
        saved = client.put(
            f"/kiosk/exams/{paper_id}/answers/{q5.question_id}",
            json={"chosen": [q5.options[0]], "position": 4},
        )
        assert saved.status_code == 200 and saved.json()["chosen"] == [q5.options[0]]
        client.post("/kiosk/sign-out")
        signed_in(client, hall)
        resumed = client.get(f"/kiosk/exams/{paper_id}")
        assert str(resumed.url).endswith("/questions/5")
        assert f'value="{q5.options[0]}" checked' in resumed.text and "✔ 已保存" in resumed.text


class TestSavingAnswers:
    def test_a_choice_is_saved_at_once_with_the_time_left(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        multiple = next(
            q for q in stored(paper_of(session, hall.trainee.id)).questions if q.type == "multiple"
        )
        url = f"/kiosk/exams/{paper_id}/answers/{multiple.question_id}"
        saved = client.put(url, json={"chosen": list(multiple.options[:2])})
        assert saved.status_code == 200
        assert 3590 <= saved.json()["remaining_seconds"] <= 3600
        assert _answers(session, paper_id) == {
            multiple.question_id: ",".join(sorted(multiple.options[:2]))
        }

    def test_a_bad_question_or_option_is_named_and_nothing_changes(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        q = stored(paper_of(session, hall.trainee.id)).questions[0]
        client.put(
            f"/kiosk/exams/{paper_id}/answers/{q.question_id}", json={"chosen": [q.options[0]]}
        )
        before = _answers(session, paper_id)
        no_question = client.put(
            f"/kiosk/exams/{paper_id}/answers/NO-SUCH-Q", json={"chosen": ["A"]}
        )
        assert no_question.status_code == 422 and "NO-SUCH-Q" in no_question.json()["message"]
        no_option = client.put(
            f"/kiosk/exams/{paper_id}/answers/{q.question_id}?lang=en", json={"chosen": ["Z"]}
        )
        assert no_option.status_code == 422 and "no option Z" in no_option.json()["message"]
        form = client.post(f"/kiosk/exams/{paper_id}/questions/1", data={"chosen": ["Z"]})
        assert form.status_code == 422 and "没有选项 Z" in form.text
        assert _answers(session, paper_id) == before

    def test_answers_after_time_up_are_refused_and_what_was_saved_is_graded(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        row = paper_of(session, hall.trainee.id)
        key = key_of(row)
        first, second = list(key)[:2]
        client.put(f"/kiosk/exams/{paper_id}/answers/{first}", json={"chosen": key[first]})
        let_time_pass(session, paper_id, 3601)
        late = client.put(f"/kiosk/exams/{paper_id}/answers/{second}", json={"chosen": key[second]})
        assert late.status_code == 409 and late.json()["message"] == "考试时间已到，答案未保存"
        form = client.post(f"/kiosk/exams/{paper_id}/questions/2", data={"chosen": key[second]})
        assert form.status_code == 409 and "考试时间已到，答案未保存" in form.text
        assert "考试成绩" in form.text and "不合格" in form.text
        assert set(_answers(session, paper_id)) == {first}
        attempt = session.exec(select(Attempt)).one()
        assert attempt.score is not None and float(attempt.score) > 0  # the saved answer counted

    def test_the_time_endpoint_keeps_the_session_and_tells_the_servers_time(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        let_time_pass(session, paper_id, 600)
        body = client.get(f"/kiosk/exams/{paper_id}/time").json()
        assert body["status"] == "in_progress" and 2990 <= body["remaining_seconds"] <= 3000


class TestHandingIn:
    def test_confirm_says_how_many_are_unanswered_then_the_result(
        self, client: TestClient, session: Session, hall: Hall
    ) -> None:
        paper_id = _started(client, session, hall)
        row = paper_of(session, hall.trainee.id)
        key = key_of(row)
        ids = list(key)
        for qid in ids[:27]:
            client.put(f"/kiosk/exams/{paper_id}/answers/{qid}", json={"chosen": key[qid]})
        client.put(
            f"/kiosk/exams/{paper_id}/answers/{ids[27]}", json={"chosen": wrong_of(row, ids[27])}
        )
        overview = client.get(f"/kiosk/exams/{paper_id}/overview")
        assert "已答 28 题，未答 2 题" in overview.text
        assert overview.text.count('class="cell answered') == 28
        confirm = client.get(f"/kiosk/exams/{paper_id}/confirm")
        assert "还有 2 题未作答" in confirm.text
        done = client.post(f"/kiosk/exams/{paper_id}/submit", follow_redirects=False)
        assert done.headers["location"] == f"/kiosk/exams/{paper_id}/result"
        result = client.get(done.headers["location"])
        session.rollback()
        attempt = session.exec(select(Attempt)).one()
        assert f"{attempt.score} 分" in result.text and "合格线 80 分" in result.text
        assert ("✔ 合格" if attempt.passed else "✘ 不合格") in result.text
        assert "各部分得分" in result.text and "硝化工艺原理与危险特性" in result.text
        # The three missed: the wrong one and the two blank ones, each with the key and why.
        assert result.text.count('class="missed-item"') == 3 and "解析" in result.text
        assert "未作答" in result.text
        again = client.post(f"/kiosk/exams/{paper_id}/submit")
        assert again.status_code == 200
        assert session.exec(select(func.count()).select_from(Attempt)).one() == 1
        # A graded paper opens at its result; its questions can no longer be answered.
        assert str(client.get(f"/kiosk/exams/{paper_id}/questions/1").url).endswith("/result")


class TestOtherTrainees:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", ""),
            ("POST", "/start"),
            ("GET", "/questions/1"),
            ("POST", "/questions/1"),
            ("GET", "/overview"),
            ("POST", "/go"),
            ("GET", "/confirm"),
            ("POST", "/submit"),
            ("GET", "/result"),
            ("GET", "/time"),
            ("PUT", "/answers/X"),
        ],
    )
    def test_another_trainees_paper_is_not_found(
        self, client: TestClient, session: Session, hall: Hall, method: str, path: str
    ) -> None:
        other = make_trainee(session, name="王芳")
        enrol(session, course=hall.course, trainee=other)
        open_sitting(session, hall)
        theirs = paper_of(session, other.id)
        signed_in(client, hall)
        kwargs: dict[str, object] = {}
        if method == "PUT":
            kwargs["json"] = {"chosen": ["A"]}
        elif method == "POST":
            kwargs["data"] = {"number": "1"}
        response = client.request(method, f"/kiosk/exams/{theirs.id}{path}", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 404 and "王芳" not in response.text
        row = paper_of(session, other.id)
        assert row.started_at is None and row.attempt_id is None
        assert _answers(session, row.id or 0) == {}


class TestExplanationsKeptBack:
    def test_a_curriculum_that_keeps_them_back_shows_the_key_but_no_explanation(
        self, client: TestClient, session: Session, hall: Hall, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from server.assessment import sittings
        from tests.kiosk.exam_helpers import NITRATION

        theory = NITRATION.assessment.theory
        assert theory is not None
        closed = NITRATION.model_copy(
            update={
                "assessment": NITRATION.assessment.model_copy(
                    update={"theory": theory.model_copy(update={"show_explanations": False})}
                )
            }
        )
        monkeypatch.setattr(sittings, "curriculum_of", lambda code, version=None: closed)
        paper_id = _started(client, session, hall)
        client.post(f"/kiosk/exams/{paper_id}/submit")
        result = client.get(f"/kiosk/exams/{paper_id}/result")
        assert "✘ 不合格" in result.text and "正确答案" in result.text
        assert (
            "本课程考后不公布解析" in result.text and 'data-testid="explanation-' not in result.text
        )
