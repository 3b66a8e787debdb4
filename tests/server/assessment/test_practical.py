"""Practical checklists, device attempts and corrections through the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from curricula import catalogue
from server.accounts.models import Role, User
from server.assessment.models import Attempt
from server.audit.models import AuditEvent
from server.devices.registry import DeviceCreate, create_device
from server.scheduling.models import Course
from tests.factories import (
    ACTOR,
    auth,
    enrol,
    make_course,
    make_session,
    make_station,
    make_token,
    make_trainee,
    make_trainee_user,
    make_user,
)

BLUEPRINT = catalogue().curricula["NITRATION"].assessment.practical
assert BLUEPRINT is not None
ITEMS = [i for s in BLUEPRINT.subjects for i in s.items]


def all_done() -> list[dict[str, Any]]:
    """Every item performed with no deduction and every veto item passed."""
    return [{"item": i.code} for i in ITEMS]


@pytest.fixture
def examiner(session: Session) -> User:
    return make_user(session, role=Role.examiner)


@pytest.fixture
def token(session: Session, examiner: User) -> str:
    return make_token(session, user=examiner)


@pytest.fixture
def course(session: Session) -> Course:
    return make_course(session)


@pytest.fixture
def trainee_id(session: Session, course: Course) -> int:
    trainee = make_trainee(session, name="王强")
    enrol(session, course=course, trainee=trainee)
    assert trainee.id is not None
    return trainee.id


def open_checklist(
    client: TestClient, token: str, course: Course, trainee_id: int
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/courses/{course.id}/practical",
        json={"trainee_id": trainee_id},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def marks(client: TestClient, token: str, attempt_id: int, given: list[dict[str, Any]]) -> Any:
    return client.put(
        f"/api/v1/attempts/{attempt_id}/marks", json={"marks": given}, headers=auth(token)
    )


class TestChecklist:
    def test_live_preview_then_sign_makes_it_final(
        self, client: TestClient, session: Session, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        assert draft["status"] == "draft" and draft["preview"]["complete"] is False
        first = ITEMS[0]
        partial = marks(
            client, token, draft["id"], [{"item": first.code, "deductions": [0, 0]}]
        ).json()
        lost = 2 * first.deductions[0].points * 40 / 100  # K1 is weighted 40
        assert Decimal(partial["preview"]["total"]) == Decimal(100) - Decimal(str(lost))
        assert (
            partial["preview"]["passed"] is None and first.code not in partial["preview"]["missing"]
        )
        done = marks(client, token, draft["id"], all_done()).json()
        assert done["preview"]["complete"] is True and done["preview"]["total"] == "100.0"
        signed = client.post(f"/api/v1/attempts/{draft['id']}/sign", headers=auth(token)).json()
        assert (
            signed["status"] == "final" and signed["score"] == "100.0" and signed["passed"] is True
        )
        again = marks(client, token, draft["id"], all_done())
        assert again.status_code == 409 and again.json()["error"] == "attempt_final"

    def test_a_failed_veto_item_fails_it_whatever_the_points(
        self, client: TestClient, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        given = [{"item": "K4-V", "veto_failed": True}]
        live = marks(client, token, draft["id"], given).json()["preview"]
        assert live["passed"] is False and [v["item"] for v in live["veto_failed"]] == ["K4-V"]
        full = [
            m if m["item"] != "K4-V" else {"item": "K4-V", "veto_failed": True} for m in all_done()
        ]
        marks(client, token, draft["id"], full)
        signed = client.post(f"/api/v1/attempts/{draft['id']}/sign", headers=auth(token)).json()
        assert signed["score"] == "100.0" and signed["passed"] is False
        assert signed["veto_failed"] == ["K4-V"]
        assert any(r["code"] == "veto_failed" for r in signed["result"]["reasons"])

    def test_an_incomplete_checklist_cannot_be_signed(
        self, client: TestClient, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        marks(client, token, draft["id"], all_done()[:-1])
        response = client.post(f"/api/v1/attempts/{draft['id']}/sign", headers=auth(token))
        assert response.status_code == 422 and response.json()["error"] == "incomplete_marks"
        assert response.json()["details"]["missing"] == [ITEMS[-1].code]

    def test_a_mark_naming_something_unknown_is_refused_and_nothing_saved(
        self, client: TestClient, session: Session, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        bad = marks(client, token, draft["id"], [{"item": "K1-1", "deductions": [99]}])
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "deductions"
        session.rollback()
        assert session.get(Attempt, draft["id"]).marks == "[]"  # type: ignore[union-attr]

    def test_the_courses_trainer_may_not_examine_it(
        self,
        client: TestClient,
        session: Session,
        examiner: User,
        token: str,
        course: Course,
        trainee_id: int,
    ) -> None:
        make_session(session, course=course, instructor=examiner)
        response = client.post(
            f"/api/v1/courses/{course.id}/practical",
            json={"trainee_id": trainee_id},
            headers=auth(token),
        )
        assert response.status_code == 403 and response.json()["error"] == "examiner_trained_course"

    def test_another_examiner_cosigns_but_not_the_signer(
        self, client: TestClient, session: Session, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        marks(client, token, draft["id"], all_done())
        client.post(f"/api/v1/attempts/{draft['id']}/sign", headers=auth(token))
        same = client.post(f"/api/v1/attempts/{draft['id']}/cosign", headers=auth(token))
        assert same.status_code == 403 and same.json()["error"] == "same_examiner"
        second = make_token(session, user=make_user(session, role=Role.examiner))
        ok = client.post(f"/api/v1/attempts/{draft['id']}/cosign", headers=auth(second)).json()
        assert ok["cosigned_by"] is not None


class TestCorrections:
    def test_a_correction_is_a_new_version_and_the_old_one_stays(
        self, client: TestClient, session: Session, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        marks(client, token, draft["id"], all_done())
        client.post(f"/api/v1/attempts/{draft['id']}/sign", headers=auth(token))
        fixed = [
            m if m["item"] != "K1-V" else {"item": "K1-V", "veto_failed": True} for m in all_done()
        ]
        response = client.post(
            f"/api/v1/attempts/{draft['id']}/corrections",
            json={"reason": "复看录像：未正确佩戴防护面罩", "marks": fixed},
            headers=auth(token),
        )
        assert response.status_code == 201, response.text
        new = response.json()
        assert (new["version"], new["supersedes_id"], new["passed"]) == (2, draft["id"], False)
        history = client.get(f"/api/v1/trainees/{trainee_id}/attempts", headers=auth(token)).json()[
            "data"
        ]
        assert [(a["version"], a["status"]) for a in history] == [(1, "superseded"), (2, "final")]
        again = client.post(
            f"/api/v1/attempts/{draft['id']}/corrections",
            json={"reason": "再改", "marks": all_done()},
            headers=auth(token),
        )
        assert again.status_code == 409 and again.json()["error"] == "not_current"
        session.rollback()
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "attempt.correct")).one()
        assert event.reason == "复看录像：未正确佩戴防护面罩"

    def test_a_correction_needs_a_reason(
        self, client: TestClient, token: str, course: Course, trainee_id: int
    ) -> None:
        draft = open_checklist(client, token, course, trainee_id)
        marks(client, token, draft["id"], all_done())
        client.post(f"/api/v1/attempts/{draft['id']}/sign", headers=auth(token))
        response = client.post(
            f"/api/v1/attempts/{draft['id']}/corrections",
            json={"reason": " ", "marks": all_done()},
            headers=auth(token),
        )
        assert response.status_code == 422 and response.json()["details"][0]["field"] == "reason"


def result_item(seq: int, score: float, badge: str) -> dict[str, Any]:
    frame = {
        "t": "result",
        "v": 1,
        "dev": "VR-01",
        "boot": "0badf00d",
        "seq": seq,
        "scenario": "NITR-RUNAWAY",
        "badge": badge,
        "score": score,
        "max": 100,
        "passed": score >= 80,
        "duration_s": 300,
        "errors": [],
        "veto": [],
        "ts": "2026-12-02T10:00:00+08:00",
    }
    return {
        "key": f"VR-01:0badf00d:{seq}",
        "station": "VR-01",
        "source": "serial",
        "received_at": "2026-12-02T02:00:01Z",
        "frame": frame,
    }


class TestDeviceAttempts:
    def test_a_result_with_a_badge_becomes_an_attempt_the_trainee_sees(
        self, client: TestClient, session: Session, course: Course, trainee_id: int
    ) -> None:
        make_station(session, code="VR-01", kind="vr_pod")
        create_device(session, ACTOR, DeviceCreate(code="VR-01", kind="vr_pod", station="VR-01"))  # type: ignore[arg-type]
        from server.trainees.models import Trainee

        trainee = session.get(Trainee, trainee_id)
        assert trainee is not None
        gateway = make_token(session, user=make_user(session, role=Role.gateway))
        session.rollback()
        answers = client.post(
            "/api/v1/device-results",
            json={
                "items": [result_item(1, 87.5, trainee.badge), result_item(2, 60, trainee.badge)]
            },
            headers=auth(gateway),
        ).json()["results"]
        assert [a["status"] for a in answers] == ["accepted", "accepted"]
        own = make_token(session, user=make_trainee_user(session, trainee=trainee))
        mine = client.get(f"/api/v1/trainees/{trainee_id}/attempts", headers=auth(own)).json()[
            "data"
        ]
        assert [(a["part"], a["score"], a["passed"], a["course_id"]) for a in mine] == [
            ("device:NITR-RUNAWAY", "87.5", True, course.id),
            ("device:NITR-RUNAWAY", "60.0", False, course.id),
        ]
        other = make_trainee(session)
        theirs = client.get(f"/api/v1/trainees/{other.id}/attempts", headers=auth(own))
        assert theirs.status_code == 403
