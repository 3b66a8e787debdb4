"""GET /api/v1/regulator/trainees/{id_number}/results: attempts and hours of one person."""

from __future__ import annotations

import datetime as dt
import json

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from scoring.decisions import required_parts
from server.assessment.models import Attempt, AttemptSource, AttemptStatus
from server.assessment.sittings import curriculum_of
from server.scheduling.models import Course
from server.trainees.models import Trainee
from tests.server.regulator.world import World, access_rows, headers

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def url(id_number: str) -> str:
    return f"/api/v1/regulator/trainees/{id_number}/results"


def _add(session: Session, trainee: Trainee, course: Course, **values: object) -> None:
    assert trainee.id is not None and course.id is not None
    row = {
        "trainee_id": trainee.id,
        "course_id": course.id,
        "curriculum_code": course.curriculum_code,
        "curriculum_version": course.curriculum_version,
        "part": "practical",
        "source": AttemptSource.practical,
        "source_ref": f"test:{trainee.id}:extra",
        "taken_at": dt.datetime(2026, 11, 1, 10, tzinfo=SHANGHAI),
        "rule_set": "MEM-19",
        "result": json.dumps({}),
        **values,
    }
    session.add(Attempt.model_validate(row))
    session.commit()


class TestResults:
    def test_attempts_final_and_superseded_and_hours_per_kind(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        id_number = world.id_numbers["valid"]
        trainee = session.exec(select(Trainee).where(Trainee.id_number == id_number)).one()
        attempt = session.exec(select(Attempt).where(Attempt.trainee_id == trainee.id)).first()
        assert attempt is not None and attempt.course_id is not None
        course = session.get(Course, attempt.course_id)
        assert course is not None
        _add(
            session,
            trainee,
            course,
            status=AttemptStatus.superseded,
            score="70.0",
            passed=False,
            veto_failed="K1-03,K4-01",
            correction_reason="复核更正",
        )
        _add(session, trainee, course, status=AttemptStatus.draft, score=None, passed=None)
        answer = api.get(url(id_number), headers=headers(session))
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        [person] = answer.json()["trainees"]
        assert person["name"] == "王建国" and person["id_number"] == id_number
        parts = {p for p, _ in required_parts(curriculum_of("NITRATION"))}
        finals = [a for a in person["attempts"] if a["status"] == "final"]
        assert {a["part"] for a in finals} == parts
        assert all(a["passed"] and a["score"] == "90.0" for a in finals)
        [old] = [a for a in person["attempts"] if a["status"] == "superseded"]
        assert old["veto_failed"] == ["K1-03", "K4-01"] and old["correction_reason"] == "复核更正"
        assert old["course"] == course.code and old["rule_set"] == "MEM-19"
        assert all(a["status"] != "draft" for a in person["attempts"])
        [taken] = person["courses"]
        assert taken["course"] == course.code and taken["enrolment"] == "enrolled"
        hours = {h["kind"]: h for h in taken["hours"]}
        assert set(hours) == {"theory", "practical", "vr", "rig"}
        for line in hours.values():
            assert line["credited_minutes"] == line["required_minutes"], line
        assert person["certificates"] == [world.number("valid")]

    def test_nobody_with_the_number_is_404_and_still_logged(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        before = len(access_rows(session))
        answer = api.get(url("110101199003070000"), headers=headers(session))
        assert answer.status_code == 404
        assert answer.json()["error"] == "trainee_not_found"
        rows = access_rows(session)
        assert len(rows) == before + 1
        assert rows[-1].endpoint == "results" and rows[-1].records == 0
        assert json.loads(rows[-1].query) == {"id_number": "110101199003070000"}
