"""Who may read regulator data (regulator and admin, nobody else), the regulator role reads
only, and every read leaves an access-log row: who, when, what, how many records."""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.models import Role
from server.app import ROUTERS
from server.regulator.routes import router
from tests.factories import auth, make_token, make_user
from tests.server.regulator.world import World, access_rows, headers

READS = [
    "/api/v1/regulator/certificates",
    "/api/v1/regulator/changes?since=0",
    "/api/v1/regulator/trainees/110101199003070000/results",
    "/api/v1/regulator/export",
    "/api/v1/regulator/export?format=ndjson",
]


class TestRoles:
    @pytest.mark.parametrize("role", [Role.trainer, Role.examiner, Role.trainee, Role.gateway])
    def test_other_roles_are_refused_everywhere(
        self, api: TestClient, session: Session, role: Role
    ) -> None:
        auth = headers(session, role)
        for url in [*READS, "/api/v1/regulator/access"]:
            answer = api.get(url, headers=auth)
            assert answer.status_code == 403, (url, answer.text)
            body = answer.json()
            assert body["error"] == "not_permitted"
            assert body["details"]["allowed_roles"] in (["admin", "regulator"], ["admin"])
        assert access_rows(session) == []  # refused calls read nothing and log nothing

    def test_no_token_is_401(self, api: TestClient) -> None:
        for url in READS:
            assert api.get(url).status_code == 401

    def test_admin_reads_too_and_is_logged_as_admin(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        answer = api.get("/api/v1/regulator/certificates", headers=headers(session, Role.admin))
        assert answer.status_code == 200
        assert access_rows(session)[-1].role == "admin"

    def test_only_admin_reads_the_access_log(self, api: TestClient, session: Session) -> None:
        url = "/api/v1/regulator/access"
        assert api.get(url, headers=headers(session)).status_code == 403
        assert api.get(url, headers=headers(session, Role.admin)).status_code == 200

    def test_the_regulator_role_can_only_read(self) -> None:
        """Its token is scoped to the role, and no route that allows the role writes."""
        routes = [r for rt in ROUTERS for r in rt.routes if isinstance(r, APIRoute)]
        readable = [r for r in routes if "regulator" in (r.openapi_extra or {}).get("x-roles", [])]
        assert {m for r in readable for m in r.methods} == {"GET"}
        ours = [r for r in router.routes if isinstance(r, APIRoute)]
        assert all(set(r.methods) == {"GET"} for r in ours)


class TestAccessLog:
    def test_every_read_is_logged_with_who_what_and_how_many(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        reader = make_user(session, role=Role.regulator, username="province")
        secret = make_token(session, user=reader)
        hdrs = auth(secret)
        api.get(
            "/api/v1/regulator/certificates",
            params={
                "limit": 3,
                "status": ["valid", "expiring"],
                "employer": "江海精细化工有限公司",
            },
            headers=hdrs,
        )
        api.get("/api/v1/regulator/changes", params={"since": 0, "limit": 4}, headers=hdrs)
        api.get(f"/api/v1/regulator/trainees/{world.id_numbers['valid']}/results", headers=hdrs)
        api.get("/api/v1/regulator/export", headers=hdrs)
        rows = access_rows(session)
        assert [r.endpoint for r in rows] == ["certificates", "changes", "results", "export"]
        assert {(r.user_id, r.actor, r.role, r.address) for r in rows} == {
            (reader.id, "province", "regulator", "testclient")
        }
        assert len({r.token_id for r in rows}) == 1 and rows[0].token_id is not None
        listing, changes, results, exported = rows
        assert json.loads(listing.query) == {
            "cursor": None,
            "employer": "江海精细化工有限公司",
            "limit": 3,
            "standings": ["valid", "expiring"],
        }
        assert listing.records == 2  # valid (A); expiring — "new" is employer B's
        assert json.loads(changes.query) == {"limit": 4, "since": 0} and changes.records == 4
        assert results.records > 0
        assert (exported.records, exported.complete) == (9, True)
        assert all(r.at is not None for r in rows)

    def test_the_admin_reads_the_log_a_page_at_a_time(
        self, api: TestClient, session: Session, world: World
    ) -> None:
        reg = headers(session)
        for _ in range(3):
            api.get("/api/v1/regulator/changes", headers=reg)
        admin = headers(session, Role.admin)
        first = api.get("/api/v1/regulator/access", params={"limit": 2}, headers=admin).json()
        assert len(first["data"]) == 2 and first["next_after"] == first["data"][-1]["id"]
        rest = api.get(
            "/api/v1/regulator/access", params={"after": first["next_after"]}, headers=admin
        ).json()
        assert len(rest["data"]) == 1 and rest["next_after"] is None
        assert {r["endpoint"] for r in first["data"] + rest["data"]} == {"changes"}
