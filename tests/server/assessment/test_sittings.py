"""Theory sittings through the API: papers per trainee, answers as given, resume, time, grading."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from curricula import catalogue
from scoring.papers import Paper, answer_key
from server.accounts.models import Role, User
from server.app import create_app
from server.assessment import sittings
from server.assessment.models import Attempt, ExamSitting, TheoryAnswer, TheoryPaper
from server.config import Settings
from server.db import make_engine
from server.scheduling.models import Course
from tests.factories import (
    auth,
    enrol,
    make_course,
    make_session,
    make_token,
    make_trainee,
    make_trainee_user,
    make_user,
)
from tests.server.scheduling.test_enrolment import run_together

NITRATION = catalogue().curricula["NITRATION"]
assert NITRATION.assessment.theory is not None
LIMIT_MINUTES = NITRATION.assessment.theory.time_limit_minutes


@dataclass
class Sitter:
    trainee_id: int
    token: str


@pytest.fixture
def examiner(session: Session) -> User:
    return make_user(session, role=Role.examiner)


@pytest.fixture
def examiner_token(session: Session, examiner: User) -> str:
    return make_token(session, user=examiner)


@pytest.fixture
def course(session: Session) -> Course:
    return make_course(session, capacity=2)


def sitter(session: Session, course: Course, name: str) -> Sitter:
    trainee = make_trainee(session, name=name)
    enrol(session, course=course, trainee=trainee)
    user = make_trainee_user(session, trainee=trainee)
    assert trainee.id is not None
    return Sitter(trainee.id, make_token(session, user=user))


def open_sitting(client: TestClient, token: str, course: Course) -> dict[str, object]:
    response = client.post(f"/api/v1/courses/{course.id}/sittings", json={}, headers=auth(token))
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def paper_of(session: Session, trainee_id: int) -> TheoryPaper:
    session.rollback()
    return session.exec(select(TheoryPaper).where(TheoryPaper.trainee_id == trainee_id)).one()


def key_of(session: Session, trainee_id: int) -> dict[str, list[str]]:
    """The right option ids of a trainee's paper, as an examiner's tool would read them."""
    paper = Paper.from_dict(json.loads(paper_of(session, trainee_id).paper))
    return {k.question_id: list(k.options) for k in answer_key(paper, NITRATION)}


def move_deadline(session: Session, paper_id: int, minutes_ago: int) -> None:
    """Let time pass: the paper's deadline (and the sitting's close) lie in the past."""
    session.rollback()
    row = session.get(TheoryPaper, paper_id)
    assert row is not None
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    row.deadline = past
    sitting = session.get(ExamSitting, row.sitting_id)
    assert sitting is not None
    sitting.closes_at = past
    session.add(row)
    session.add(sitting)
    session.commit()


class TestOpening:
    def test_every_enrolled_trainee_gets_a_paper_of_their_own(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        a, b = sitter(session, course, "甲"), sitter(session, course, "乙")
        waiting = make_trainee(session, name="候补")
        enrol(session, course=course, trainee=waiting)  # the course holds 2: waitlisted
        body = open_sitting(client, examiner_token, course)
        assert body["papers"] == 2 and body["time_limit_minutes"] == LIMIT_MINUTES
        first = Paper.from_dict(json.loads(paper_of(session, a.trainee_id).paper))
        second = Paper.from_dict(json.loads(paper_of(session, b.trainee_id).paper))
        assert [q.question_id for q in first.questions] != [q.question_id for q in second.questions]
        assert len(first.questions) == NITRATION.assessment.theory.question_count  # type: ignore[union-attr]
        session.rollback()
        assert session.exec(select(func.count()).select_from(TheoryPaper)).one() == 2

    def test_an_examiner_who_taught_the_course_is_refused(
        self,
        client: TestClient,
        session: Session,
        course: Course,
        examiner: User,
        examiner_token: str,
    ) -> None:
        sitter(session, course, "甲")
        make_session(session, course=course, instructor=examiner)
        response = client.post(
            f"/api/v1/courses/{course.id}/sittings", json={}, headers=auth(examiner_token)
        )
        assert response.status_code == 403
        assert response.json()["error"] == "examiner_trained_course"
        assert session.exec(select(func.count()).select_from(ExamSitting)).one() == 0

    def test_a_course_without_trainees_has_no_sitting(
        self, client: TestClient, course: Course, examiner_token: str
    ) -> None:
        response = client.post(
            f"/api/v1/courses/{course.id}/sittings", json={}, headers=auth(examiner_token)
        )
        assert response.status_code == 422 and response.json()["error"] == "no_trainees"

    def test_a_bad_late_start_is_named(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        sitter(session, course, "甲")
        response = client.post(
            f"/api/v1/courses/{course.id}/sittings",
            json={"late_start_minutes": 999},
            headers=auth(examiner_token),
        )
        assert response.status_code == 422
        assert "late_start_minutes" in response.text


class TestTakingThePaper:
    def test_the_paper_never_carries_the_key(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        before = client.get(f"/api/v1/papers/{paper_id}", headers=auth(me.token)).json()
        assert before["status"] == "not_started" and before["questions"] is None
        body = client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token)).json()
        assert body["status"] == "in_progress"
        assert (LIMIT_MINUTES - 1) * 60 < body["remaining_seconds"] <= LIMIT_MINUTES * 60
        assert len(body["questions"]) == body["question_count"]
        text = json.dumps(body, ensure_ascii=False)
        for question in NITRATION.questions[:5]:
            assert question.explanation.zh not in text
        assert '"answer"' not in text and body["result"] is None

    def test_answers_survive_a_reboot_and_time_keeps_running(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        started = client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token)).json()
        first, second = started["questions"][0], started["questions"][1]
        for q, position in ((first, 0), (second, 1)):
            saved = client.put(
                f"/api/v1/papers/{paper_id}/answers/{q['id']}",
                json={"chosen": [q["options"][0]["id"]], "position": position},
                headers=auth(me.token),
            )
            assert saved.status_code == 200, saved.text
        # The kiosk reboots: a new browser, the same trainee, asks for the paper again.
        again = client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token)).json()
        assert again["deadline"] == started["deadline"]  # starting again does not add time
        assert again["position"] == 1
        assert again["answers"] == {
            first["id"]: [first["options"][0]["id"]],
            second["id"]: [second["options"][0]["id"]],
        }
        assert again["remaining_seconds"] <= started["remaining_seconds"]

    def test_changing_an_answer_keeps_the_latest(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        q = client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token)).json()[
            "questions"
        ][0]
        for option in (q["options"][0]["id"], q["options"][1]["id"]):
            client.put(
                f"/api/v1/papers/{paper_id}/answers/{q['id']}",
                json={"chosen": [option]},
                headers=auth(me.token),
            )
        session.rollback()
        stored = session.exec(select(TheoryAnswer)).one()
        assert stored.chosen == q["options"][1]["id"] and stored.changes == 1

    def test_an_option_the_question_lacks_is_refused_and_nothing_saved(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        q = client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token)).json()[
            "questions"
        ][0]
        response = client.put(
            f"/api/v1/papers/{paper_id}/answers/{q['id']}",
            json={"chosen": ["Z"]},
            headers=auth(me.token),
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "chosen"
        unknown = client.put(
            f"/api/v1/papers/{paper_id}/answers/NOT-ON-PAPER",
            json={"chosen": ["A"]},
            headers=auth(me.token),
        )
        assert unknown.status_code == 422 and unknown.json()["error"] == "question_not_on_paper"
        session.rollback()
        assert session.exec(select(TheoryAnswer)).all() == []

    def test_answering_before_starting_is_refused(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        response = client.put(
            f"/api/v1/papers/{paper_id}/answers/X", json={"chosen": []}, headers=auth(me.token)
        )
        assert response.status_code == 409 and response.json()["error"] == "paper_not_started"

    def test_another_trainees_paper_is_refused(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me, other = sitter(session, course, "甲"), sitter(session, course, "乙")
        open_sitting(client, examiner_token, course)
        theirs = paper_of(session, other.trainee_id).id
        for method, path in (
            ("GET", f"/api/v1/papers/{theirs}"),
            ("POST", f"/api/v1/papers/{theirs}/start"),
            ("POST", f"/api/v1/papers/{theirs}/submit"),
        ):
            response = client.request(method, path, headers=auth(me.token))
            assert response.status_code == 403 and response.json()["error"] == "not_own_record"
        assert paper_of(session, other.trainee_id).started_at is None


class TestGrading:
    def _start(self, client: TestClient, session: Session, me: Sitter) -> tuple[int, dict]:  # type: ignore[type-arg]
        paper_id = paper_of(session, me.trainee_id).id
        assert paper_id is not None
        body = client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token)).json()
        return paper_id, body

    def test_all_right_scores_100_and_handing_in_twice_changes_nothing(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id, _ = self._start(client, session, me)
        for question_id, options in key_of(session, me.trainee_id).items():
            client.put(
                f"/api/v1/papers/{paper_id}/answers/{question_id}",
                json={"chosen": options},
                headers=auth(me.token),
            )
        result = client.post(f"/api/v1/papers/{paper_id}/submit", headers=auth(me.token)).json()
        assert result["status"] == "graded"
        assert result["result"]["score"] == "100.0" and result["result"]["passed"] is True
        assert result["review"] == []
        again = client.post(f"/api/v1/papers/{paper_id}/submit", headers=auth(me.token))
        assert again.status_code == 200 and again.json()["result"] == result["result"]
        session.rollback()
        assert session.exec(select(func.count()).select_from(Attempt)).one() == 1
        late = client.put(
            f"/api/v1/papers/{paper_id}/answers/{next(iter(key_of(session, me.trainee_id)))}",
            json={"chosen": []},
            headers=auth(me.token),
        )
        assert late.status_code == 409 and late.json()["error"] == "exam_closed"

    def test_missed_questions_are_explained_after_grading(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id, body = self._start(client, session, me)
        key = key_of(session, me.trainee_id)
        half = body["question_count"] // 2
        answered = body["questions"][:half]
        for q in answered:
            client.put(
                f"/api/v1/papers/{paper_id}/answers/{q['id']}",
                json={"chosen": key[q["id"]]},
                headers=auth(me.token),
            )
        result = client.post(f"/api/v1/papers/{paper_id}/submit", headers=auth(me.token)).json()
        missed = result["review"]
        assert len(missed) == body["question_count"] - half
        assert all(item["chosen"] == [] and item["right"] for item in missed)
        bank = {q.id: q for q in NITRATION.questions}
        assert missed[0]["explanation"]["zh"] == bank[missed[0]["question_id"]].explanation.zh
        assert result["result"]["passed"] is (float(result["result"]["score"]) >= 80)

    def test_time_up_grades_what_was_given_and_refuses_more(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id, body = self._start(client, session, me)
        q = body["questions"][0]
        key = key_of(session, me.trainee_id)
        client.put(
            f"/api/v1/papers/{paper_id}/answers/{q['id']}",
            json={"chosen": key[q["id"]]},
            headers=auth(me.token),
        )
        move_deadline(session, paper_id, minutes_ago=1)
        late = client.put(
            f"/api/v1/papers/{paper_id}/answers/{body['questions'][1]['id']}",
            json={"chosen": key[body["questions"][1]["id"]]},
            headers=auth(me.token),
        )
        assert late.status_code == 409 and late.json()["error"] == "exam_closed"
        state = client.get(f"/api/v1/papers/{paper_id}", headers=auth(me.token)).json()
        assert state["status"] == "graded" and state["remaining_seconds"] == 0
        points = next(p for p in body["questions"] if p["id"] == q["id"])["points"]
        assert state["result"]["exact"] == points  # only the one answer given in time counts
        session.rollback()
        assert len(session.exec(select(TheoryAnswer)).all()) == 1

    def test_closing_the_sitting_grades_every_paper(
        self, client: TestClient, session: Session, course: Course, examiner_token: str
    ) -> None:
        a, b = sitter(session, course, "甲"), sitter(session, course, "乙")
        sitting = open_sitting(client, examiner_token, course)
        self._start(client, session, a)  # b never starts
        closed = client.post(
            f"/api/v1/sittings/{sitting['id']}/close", headers=auth(examiner_token)
        ).json()
        assert closed["status"] == "closed"
        assert sorted(p["status"] for p in closed["progress"]) == ["graded", "graded"]
        assert {p["score"] for p in closed["progress"]} == {"0.0"}
        mine = client.get("/api/v1/me/papers", headers=auth(b.token)).json()
        assert mine["data"][0]["status"] == "graded" and mine["data"][0]["passed"] is False


class TestTheServersOwnClock:
    def test_a_paper_nobody_looks_at_is_graded_when_its_time_is_up(
        self, session: Session, settings: Settings, engine: Engine, examiner_token: str
    ) -> None:
        fast = settings.model_copy(update={"exam_grading_interval_seconds": 0.1})
        course = make_course(session, capacity=2)
        me = sitter(session, course, "甲")
        with TestClient(create_app(settings=fast, engine=engine)) as client:
            open_sitting(client, examiner_token, course)
            paper_id = paper_of(session, me.trainee_id).id
            assert paper_id is not None
            client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token))
            move_deadline(session, paper_id, minutes_ago=1)
            for _ in range(100):  # wait for the loop, touching no route of the sitting
                time.sleep(0.05)
                if paper_of(session, me.trainee_id).graded_at is not None:
                    break
        graded = paper_of(session, me.trainee_id)
        assert graded.graded_at is not None and graded.attempt_id is not None
        session.rollback()
        sitting = session.exec(select(ExamSitting)).one()
        assert sitting.status == "closed"


@pytest.mark.postgres_only
class TestGradedExactlyOnce:
    def test_two_processes_grading_at_once_make_one_attempt(
        self, client: TestClient, session: Session, db_url: str, examiner_token: str
    ) -> None:
        """Real concurrent transactions: the paper's row lock lets only one of them grade."""
        course = make_course(session, capacity=2)
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        assert paper_id is not None
        client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token))
        move_deadline(session, paper_id, minutes_ago=1)
        engine = make_engine(db_url)

        def grade() -> int:
            with Session(engine) as own:
                return sittings.grade_due(own)

        outcomes = run_together(grade, grade, grade)
        engine.dispose()
        assert sorted(outcomes) == [0, 0, 1]  # type: ignore[type-var]
        session.rollback()
        assert session.exec(select(func.count()).select_from(Attempt)).one() == 1


class TestANewCurriculumVersion:
    def test_a_paper_is_still_graded_when_its_questions_are_unchanged(
        self,
        client: TestClient,
        session: Session,
        examiner_token: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        course = make_course(session, capacity=2)
        me = sitter(session, course, "甲")
        open_sitting(client, examiner_token, course)
        paper_id = paper_of(session, me.trainee_id).id
        client.post(f"/api/v1/papers/{paper_id}/start", headers=auth(me.token))
        newer = NITRATION.model_copy(update={"version": NITRATION.version + "-rev"})
        monkeypatch.setitem(catalogue().curricula, "NITRATION", newer)
        done = client.post(f"/api/v1/papers/{paper_id}/submit", headers=auth(me.token))
        assert done.status_code == 200 and done.json()["status"] == "graded"
