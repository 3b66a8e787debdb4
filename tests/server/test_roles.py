"""Every API route states its roles (x-roles), and every other role is refused."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from server.accounts.models import Role
from server.app import ROUTERS
from tests.factories import auth, log_in, make_token, make_user

PATH_VALUES = {
    "user_id": "1",
    "token_id": "1",
    "trainee_id": "1",
    "code": "NITRATION",
    "kind": "xlsx",
}


def _routes() -> list[APIRoute]:
    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def _allowed(route: APIRoute) -> list[str]:
    return list((route.openapi_extra or {}).get("x-roles", []))


def _url(route: APIRoute) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "1"), route.path)


class TestRoleDeclarations:
    # Kiosk pages state "kiosk" (a screen set up as a kiosk) or "trainee" (signed in there);
    # tests/kiosk/test_kiosk_http.py proves the refusals.

    def test_every_route_states_its_roles(self) -> None:
        missing = [f"{sorted(r.methods)} {r.path}" for r in _routes() if not _allowed(r)]
        assert missing == []

    def test_only_health_login_and_certificate_checks_are_public(self) -> None:
        public = sorted(r.path for r in _routes() if "public" in _allowed(r))
        assert public == [
            "/.well-known/jwks.json",
            "/api/v1/verify/{number}",
            "/console/login",
            "/console/login",
            "/feeds/{secret}.ics",
            "/healthz",
            "/kiosk/setup",
            "/kiosk/setup",
            "/readyz",
            "/verify/{number}",
        ]


API_CASES = [
    (method, route, role)
    for route in _routes()
    if route.path.startswith("/api/") and "public" not in _allowed(route)
    for method in sorted(route.methods)
    for role in Role
    if role.value not in _allowed(route)
]


class TestApiRefusals:
    @pytest.mark.parametrize(
        ("method", "route", "role"),
        API_CASES,
        ids=[f"{m} {r.path} as {role.value}" for m, r, role in API_CASES],
    )
    def test_other_roles_get_403(
        self, client: TestClient, session: Session, method: str, route: APIRoute, role: Role
    ) -> None:
        token = make_token(session, user=make_user(session, role=role))
        response = client.request(method, _url(route), headers=auth(token))
        assert response.status_code == 403, response.text
        assert response.json()["error"] in ("not_permitted", "not_own_record")

    @pytest.mark.parametrize(
        "route",
        [r for r in _routes() if r.path.startswith("/api/") and "public" not in _allowed(r)],
        ids=lambda r: f"{sorted(r.methods)} {r.path}",
    )
    def test_no_token_gets_401(self, client: TestClient, route: APIRoute) -> None:
        for method in route.methods:
            response = client.request(method, _url(route))
            assert response.status_code == 401
            assert response.json()["error"] == "not_authenticated"


CONSOLE_CASES = [
    (method, route, role)
    for route in _routes()
    if route.path.startswith("/console") and "public" not in _allowed(route)
    for method in sorted(route.methods)
    for role in (Role.admin, Role.trainer, Role.examiner)
    if role.value not in _allowed(route)
]


class TestConsoleRefusals:
    @pytest.mark.parametrize(
        ("method", "route", "role"),
        CONSOLE_CASES,
        ids=[f"{m} {r.path} as {role.value}" for m, r, role in CONSOLE_CASES],
    )
    def test_other_console_roles_get_403(
        self, client: TestClient, session: Session, method: str, route: APIRoute, role: Role
    ) -> None:
        user = make_user(session, role=role)
        log_in(client, user.username)
        response = client.request(method, _url(route), follow_redirects=False)
        assert response.status_code == 403

    @pytest.mark.parametrize(
        "route",
        [r for r in _routes() if r.path.startswith("/console") and "public" not in _allowed(r)],
        ids=lambda r: f"{sorted(r.methods)} {r.path}",
    )
    def test_anonymous_is_sent_to_login(self, client: TestClient, route: APIRoute) -> None:
        for method in route.methods:
            response = client.request(method, _url(route), follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/console/login?next=")
