"""Curricula and rule sets through the API; question banks never reach trainees."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.models import Role
from tests.factories import auth, make_token, make_user


@pytest.fixture
def token_for(session: Session) -> Callable[[Role], str]:
    def make(role: Role) -> str:
        return make_token(session, user=make_user(session, role=role))

    return make


class TestCurricula:
    def test_list_for_a_trainee(self, client: TestClient, token_for: Callable[[Role], str]) -> None:
        body = client.get("/api/v1/curricula", headers=auth(token_for(Role.trainee))).json()
        codes = {c["code"] for c in body["data"]}
        assert {"NITRATION", "DIAZOTIZATION", "INJURY-EXPERIENCE"} <= codes
        nitration = next(c for c in body["data"] if c["code"] == "NITRATION")
        assert nitration["title"]["zh"].startswith("硝化")
        assert nitration["hours"] == {"theory": 48, "practical": 24}

    def test_detail_has_blueprint_but_no_questions(
        self, client: TestClient, token_for: Callable[[Role], str]
    ) -> None:
        body = client.get(
            "/api/v1/curricula/nitration", headers=auth(token_for(Role.trainee))
        ).json()
        assert "questions" not in body
        assert body["assessment"]["theory"]["time_limit_minutes"] == 60
        assert {s["code"] for s in body["assessment"]["practical"]["subjects"]} == {
            "K1",
            "K3",
            "K4",
        }
        assert "answer" not in str(body)

    def test_examiner_reads_the_bank_with_answers(
        self, client: TestClient, token_for: Callable[[Role], str]
    ) -> None:
        body = client.get(
            "/api/v1/curricula/NITRATION/questions", headers=auth(token_for(Role.examiner))
        ).json()
        assert body["count"] >= 40
        assert all(q["answer"] and q["explanation"]["zh"] for q in body["data"])

    def test_unknown_curriculum_is_404(
        self, client: TestClient, token_for: Callable[[Role], str]
    ) -> None:
        response = client.get("/api/v1/curricula/ALCHEMY", headers=auth(token_for(Role.trainer)))
        assert response.status_code == 404
        assert response.json()["error"] == "curriculum_not_found"


class TestRuleSets:
    def test_list(self, client: TestClient, token_for: Callable[[Role], str]) -> None:
        body = client.get("/api/v1/rulesets", headers=auth(token_for(Role.regulator))).json()
        assert [r["code"] for r in body["data"]] == ["SAWS-30", "MEM-19"]

    @pytest.mark.parametrize(("day", "code"), [("2026-05-31", "SAWS-30"), ("2026-06-01", "MEM-19")])
    def test_in_force_on_a_date(
        self, client: TestClient, token_for: Callable[[Role], str], day: str, code: str
    ) -> None:
        body = client.get(
            "/api/v1/rulesets/in-force", params={"on": day}, headers=auth(token_for(Role.gateway))
        ).json()
        assert body["code"] == code

    def test_bad_date_names_the_parameter(
        self, client: TestClient, token_for: Callable[[Role], str]
    ) -> None:
        response = client.get(
            "/api/v1/rulesets/in-force",
            params={"on": "2026-02-30"},
            headers=auth(token_for(Role.trainer)),
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "on"

    def test_before_any_rule_set_is_404(
        self, client: TestClient, token_for: Callable[[Role], str]
    ) -> None:
        response = client.get(
            "/api/v1/rulesets/in-force",
            params={"on": "1999-01-01"},
            headers=auth(token_for(Role.trainer)),
        )
        assert response.status_code == 404
        assert response.json()["error"] == "no_rule_set"
