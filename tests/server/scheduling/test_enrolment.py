"""Enrolment: seats in order, waitlist, automatic promotion, eligibility, clashes, and races."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from functools import partial
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from curricula.model import EducationLevel
from server.accounts.models import Role
from server.audit.models import AuditEvent
from server.db import make_engine
from server.scheduling import enrolment
from server.scheduling.models import Enrolment, EnrolmentStatus
from server.trainees.identity import Sex
from tests.factories import (
    ACTOR,
    auth,
    enrol,
    make_course,
    make_session,
    make_token,
    make_trainee,
    make_user,
    resident_id,
)


@pytest.fixture
def planner(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.trainer))


class TestSeatsAndWaitlist:
    def test_full_course_goes_to_waitlist_in_order(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, capacity=2)
        people = [make_trainee(session, name=n) for n in ("甲", "乙", "丙", "丁")]
        statuses = []
        for p in people:
            r = client.post(
                f"/api/v1/courses/{course.id}/enrolments",
                json={"trainee_id": p.id},
                headers=auth(planner),
            )
            assert r.status_code == 201, r.text
            statuses.append((r.json()["status"], r.json()["waitlist_position"]))
        assert statuses == [
            ("enrolled", None),
            ("enrolled", None),
            ("waitlisted", 1),
            ("waitlisted", 2),
        ]
        got = client.get(f"/api/v1/courses/{course.id}", headers=auth(planner)).json()
        assert (got["enrolled"], got["waitlisted"]) == (2, 2)

    def test_withdrawal_promotes_the_first_waiting_and_is_audited(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, capacity=1)
        first, second, third = (make_trainee(session, name=n) for n in ("甲", "乙", "丙"))
        seat = enrol(session, course=course, trainee=first)
        enrol(session, course=course, trainee=second)
        enrol(session, course=course, trainee=third)
        response = client.post(
            f"/api/v1/enrolments/{seat.id}/withdraw", json={"reason": "调岗"}, headers=auth(planner)
        )
        assert response.status_code == 200
        assert response.json()["trainee_name"] == "乙" and response.json()["status"] == "enrolled"
        roster = client.get(
            f"/api/v1/courses/{course.id}/enrolments", headers=auth(planner)
        ).json()["data"]
        assert [(e["trainee_name"], e["status"], e["waitlist_position"]) for e in roster] == [
            ("甲", "withdrawn", None),
            ("乙", "enrolled", None),
            ("丙", "waitlisted", 1),
        ]
        actions = [
            e.action
            for e in session.exec(
                select(AuditEvent).where(AuditEvent.entity_type == "enrolment")
            ).all()
        ]
        assert actions[-2:] == ["enrolment.withdraw", "enrolment.promote"]

    def test_withdrawing_from_the_waitlist_promotes_nobody(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, capacity=1)
        enrol(session, course=course, trainee=make_trainee(session))
        waiting = enrol(session, course=course, trainee=make_trainee(session))
        response = client.post(
            f"/api/v1/enrolments/{waiting.id}/withdraw", json={}, headers=auth(planner)
        )
        assert response.status_code == 200 and response.json() is None

    def test_enrolling_twice_is_a_conflict_and_re_enrolling_after_withdrawal_works(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        trainee = make_trainee(session)
        e = enrol(session, course=course, trainee=trainee)
        again = client.post(
            f"/api/v1/courses/{course.id}/enrolments",
            json={"trainee_id": trainee.id},
            headers=auth(planner),
        )
        assert again.status_code == 409 and again.json()["error"] == "already_enrolled"
        client.post(f"/api/v1/enrolments/{e.id}/withdraw", json={}, headers=auth(planner))
        back = client.post(
            f"/api/v1/courses/{course.id}/enrolments",
            json={"trainee_id": trainee.id},
            headers=auth(planner),
        )
        assert back.status_code == 201 and back.json()["status"] == "enrolled"

    def test_bulk_enrolment_reports_each_person(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, capacity=1)
        a, b = make_trainee(session), make_trainee(session)
        young = make_trainee(session, id_number=resident_id(birth=dt.date(2010, 1, 1)))
        body = {"trainee_ids": [a.id, young.id, b.id, 4242]}
        results = client.post(
            f"/api/v1/courses/{course.id}/enrolments/bulk", json=body, headers=auth(planner)
        ).json()["results"]
        assert [(r["trainee_id"], r["status"], r["error"]) for r in results] == [
            (a.id, "enrolled", None),
            (young.id, "refused", "not_eligible"),
            (b.id, "waitlisted", None),
            (4242, "refused", "trainee_not_found"),
        ]


class TestEligibility:
    def test_under_18_at_the_start_is_refused_with_the_reason(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, starts_on="2026-12-01")
        young = make_trainee(session, id_number=resident_id(birth=dt.date(2008, 12, 2)))
        response = client.post(
            f"/api/v1/courses/{course.id}/enrolments",
            json={"trainee_id": young.id},
            headers=auth(planner),
        )
        assert response.status_code == 422
        assert response.json()["error"] == "not_eligible"
        assert "18" in response.json()["message"]
        assert [d["code"] for d in response.json()["details"]] == ["too_young"]

    def test_education_required_by_the_curriculum(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(
            session
        )  # hazardous-chemical operation: senior high school or equivalent
        trainee = make_trainee(session, education=EducationLevel.junior_high)
        response = client.post(
            f"/api/v1/courses/{course.id}/enrolments",
            json={"trainee_id": trainee.id},
            headers=auth(planner),
        )
        assert response.status_code == 422
        assert [d["code"] for d in response.json()["details"]] == ["education"]
        experience = make_course(session, curriculum="INJURY-EXPERIENCE")  # no education rule
        ok = client.post(
            f"/api/v1/courses/{experience.id}/enrolments",
            json={"trainee_id": trainee.id},
            headers=auth(planner),
        )
        assert ok.status_code == 201

    def test_past_statutory_retirement_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        retired = make_trainee(
            session, id_number=resident_id(birth=dt.date(1964, 6, 1), sex=Sex.male)
        )
        response = client.post(
            f"/api/v1/courses/{course.id}/enrolments",
            json={"trainee_id": retired.id},
            headers=auth(planner),
        )
        assert response.status_code == 422
        assert [d["code"] for d in response.json()["details"]] == ["past_retirement"]


class TestClashOnEnrol:
    def test_overlapping_course_is_refused(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        first, second = make_course(session), make_course(session, curriculum="OXIDATION")
        make_session(session, course=first, day="2026-12-10")
        make_session(session, course=second, day="2026-12-10", start="11:00", end="14:00")
        trainee = make_trainee(session)
        enrol(session, course=first, trainee=trainee)
        response = client.post(
            f"/api/v1/courses/{second.id}/enrolments",
            json={"trainee_id": trainee.id},
            headers=auth(planner),
        )
        assert response.status_code == 409
        assert response.json()["details"]["clashes"][0]["kind"] == "trainee_double_booked"


def run_together(*calls: Callable[[], object]) -> list[object]:
    """Start the calls in threads released by one barrier; their results (or errors), in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.postgres_only
class TestLastSeatRace:
    def test_two_enrolments_at_once_for_the_last_seat(self, session: Session, db_url: str) -> None:
        """Real concurrent transactions on PostgreSQL: one seat, one waitlist place."""
        engine = make_engine(db_url)

        def take(course_id: int, trainee_id: int) -> str:
            with Session(engine) as own:
                e = enrolment.enrol(own, ACTOR, course_id, trainee_id, ZoneInfo("Asia/Shanghai"))
                return str(e.status)

        for _ in range(5):
            course = make_course(session, capacity=1)
            a, b = make_trainee(session), make_trainee(session)
            assert course.id is not None and a.id is not None and b.id is not None
            outcomes = run_together(partial(take, course.id, a.id), partial(take, course.id, b.id))
            assert sorted(map(str, outcomes)) == ["enrolled", "waitlisted"]
            rows = session.exec(select(Enrolment).where(Enrolment.course_id == course.id)).all()
            session.commit()
            assert sorted(r.status for r in rows) == [
                EnrolmentStatus.enrolled,
                EnrolmentStatus.waitlisted,
            ]
        engine.dispose()


@pytest.mark.postgres_only
class TestLastSeatRaceOverHttp:
    def test_two_trainers_post_at_once(self, live_server: str, session: Session) -> None:
        """Two trainers' requests hit a two-worker server at the same moment."""
        tokens = [make_token(session, user=make_user(session, role=Role.trainer)) for _ in range(2)]

        def post(token: str, course_id: int, trainee_id: int) -> httpx.Response:
            with httpx.Client(base_url=live_server, timeout=30) as http:
                return http.post(
                    f"/api/v1/courses/{course_id}/enrolments",
                    json={"trainee_id": trainee_id},
                    headers=auth(token),
                )

        for _ in range(3):
            course = make_course(session, capacity=1)
            people = [make_trainee(session), make_trainee(session)]
            assert course.id is not None
            answers = run_together(
                *(
                    partial(post, tok, course.id, p.id)
                    for tok, p in zip(tokens, people, strict=True)
                )
            )
            assert all(isinstance(a, httpx.Response) and a.status_code == 201 for a in answers), (
                answers
            )
            assert sorted(a.json()["status"] for a in answers if isinstance(a, httpx.Response)) == [
                "enrolled",
                "waitlisted",
            ]


class TestRosterFile:
    def _file(self, rows: list[tuple[str, str]]) -> bytes:
        lines = ["姓名,证件号码,手机号,工作单位,文化程度"] + [
            f"{n},{i},13800138000,某公司,高中" for n, i in rows
        ]
        return ("\n".join(lines) + "\n").encode("utf-8-sig")

    def test_new_and_registered_people_enrolled_in_file_order(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session, capacity=2)
        known = make_trainee(session, name="老学员")
        young = resident_id(birth=dt.date(2010, 5, 5))
        data = self._file(
            [
                ("新甲", resident_id()),
                ("老学员", known.id_number),
                ("少年", young),
                ("新乙", resident_id()),
            ]
        )
        body = client.post(
            f"/api/v1/courses/{course.id}/enrolments/roster",
            files={"file": ("班级名单.csv", data, "text/csv")},
            headers=auth(planner),
        ).json()
        assert body["registry"]["imported"] == 3  # 新甲, 少年, 新乙 are new to the registry
        assert [(r["row"], r["status"], r["error"]) for r in body["results"]] == [
            (2, "enrolled", None),
            (3, "enrolled", None),
            (4, "refused", "not_eligible"),
            (5, "waitlisted", None),
        ]

    def test_a_bad_row_changes_nothing(
        self, client: TestClient, session: Session, planner: str
    ) -> None:
        course = make_course(session)
        data = self._file([("甲", resident_id()), ("乙", "123")])
        body = client.post(
            f"/api/v1/courses/{course.id}/enrolments/roster",
            files={"file": ("r.csv", data)},
            headers=auth(planner),
        ).json()
        assert body["results"] == [] and body["registry"]["imported"] == 0
        assert [(e["row"], e["code"]) for e in body["registry"]["errors"]] == [
            (3, "id_number_length")
        ]
        assert session.exec(select(Enrolment)).all() == []
