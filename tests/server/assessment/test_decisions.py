"""Decisions in the server: retakes refused or allowed by the rule set of the day, readiness."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from server.accounts.models import Role
from server.assessment.models import Attempt, AttemptSource, AttemptStatus, TheoryPaper
from server.scheduling.models import Course
from tests.factories import (
    auth,
    enrol,
    make_course,
    make_token,
    make_trainee,
    make_trainee_user,
    make_user,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def sat(session: Session, course: Course, trainee_id: int, part: str, day: str, score: str) -> None:
    """A final attempt in the course's history, as an earlier sitting would have left it."""
    assert course.id is not None
    session.add(
        Attempt(
            trainee_id=trainee_id,
            course_id=course.id,
            curriculum_code=course.curriculum_code,
            curriculum_version=course.curriculum_version,
            part=part,
            source=AttemptSource.theory if part == "theory" else AttemptSource.practical,
            source_ref="history",
            taken_at=dt.datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=SHANGHAI),
            rule_set="SAWS-30" if day < "2026-06-01" else "MEM-19",
            status=AttemptStatus.final,
            score=score,
            passed=float(score) >= 80,
            result=json.dumps({"score": score}),
        )
    )
    session.commit()


@pytest.fixture
def course(session: Session) -> Course:
    return make_course(session, starts_on="2026-04-01", ends_on="2026-12-31")


@pytest.fixture
def examiner(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.examiner))


class TestWhoMaySit:
    def test_a_failed_make_up_under_order_30_means_retraining_after_the_change(
        self, client: TestClient, session: Session, course: Course, examiner: str
    ) -> None:
        done, fresh = make_trainee(session, name="补考未过"), make_trainee(session, name="首次")
        for t in (done, fresh):
            enrol(session, course=course, trainee=t)
        assert done.id is not None and fresh.id is not None
        sat(session, course, done.id, "theory", "2026-05-10", "62.0")
        sat(session, course, done.id, "theory", "2026-05-28", "71.0")  # the one make-up, failed
        body = client.post(
            f"/api/v1/courses/{course.id}/sittings", json={}, headers=auth(examiner)
        ).json()
        assert body["papers"] == 1
        [left_out] = body["not_sitting"]
        assert left_out["trainee_id"] == done.id and left_out["state"] == "must_retrain"
        session.rollback()
        papers = session.exec(select(TheoryPaper.trainee_id)).all()
        assert papers == [fresh.id]

    def test_under_order_19_a_third_theory_sitting_is_allowed(
        self, client: TestClient, session: Session, course: Course, examiner: str
    ) -> None:
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        assert trainee.id is not None
        sat(session, course, trainee.id, "theory", "2026-07-01", "60.0")
        sat(session, course, trainee.id, "theory", "2026-08-01", "70.0")
        body = client.post(
            f"/api/v1/courses/{course.id}/sittings", json={}, headers=auth(examiner)
        ).json()
        assert body["papers"] == 1 and body["not_sitting"] == []

    def test_a_sixth_practical_is_refused_under_order_19(
        self, client: TestClient, session: Session, course: Course, examiner: str
    ) -> None:
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        assert trainee.id is not None
        for month in ("07", "08", "09", "10", "11"):
            sat(session, course, trainee.id, "practical", f"2026-{month}-02", "70.0")
        response = client.post(
            f"/api/v1/courses/{course.id}/practical",
            json={"trainee_id": trainee.id},
            headers=auth(examiner),
        )
        assert response.status_code == 409 and response.json()["error"] == "may_not_sit"
        assert response.json()["details"]["state"] == "must_reregister_theory"
        assert session.exec(select(func.count()).select_from(Attempt)).one() == 5


class TestDecisionPage:
    def test_a_trainee_reads_their_own_decision_with_reasons(
        self, client: TestClient, session: Session, course: Course
    ) -> None:
        trainee = make_trainee(session)
        enrol(session, course=course, trainee=trainee)
        assert trainee.id is not None
        sat(session, course, trainee.id, "theory", "2026-11-02", "92.0")
        token = make_token(session, user=make_trainee_user(session, trainee=trainee))
        body = client.get(
            f"/api/v1/courses/{course.id}/trainees/{trainee.id}/decision", headers=auth(token)
        ).json()["decision"]
        assert body["ready"] is False
        parts = {p["part"]: p for p in body["parts"]}
        assert (
            parts["theory"]["state"] == "passed" and parts["practical"]["state"] == "not_attempted"
        )
        codes = {r["code"] for r in body["reasons"]}
        assert {"hours_short", "part_not_passed"} <= codes
        assert all(r["zh"] and r["en"] for r in body["reasons"])
        other = make_trainee(session)
        refused = client.get(
            f"/api/v1/courses/{course.id}/trainees/{other.id}/decision", headers=auth(token)
        )
        assert refused.status_code == 403

    def test_course_results_list_every_enrolled_trainee(
        self, client: TestClient, session: Session, course: Course
    ) -> None:
        people = [make_trainee(session) for _ in range(3)]
        for p in people:
            enrol(session, course=course, trainee=p)
        trainer = make_token(session, user=make_user(session, role=Role.trainer))
        body = client.get(f"/api/v1/courses/{course.id}/results", headers=auth(trainer)).json()
        assert sorted(d["trainee_id"] for d in body["data"]) == sorted(p.id for p in people)
        assert client.get("/api/v1/courses/999/results", headers=auth(trainer)).status_code == 404
