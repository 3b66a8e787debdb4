"""Users, bearer tokens and login rate limits, through the API and the services."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.accounts import service as accounts
from server.accounts.models import ApiToken, Role, User, UserUpdate
from server.config import Environment, Settings
from server.errors import NotAuthenticated, TooManyAttempts
from tests.factories import ACTOR, PASSWORD, auth, form_token, make_token, make_user


@pytest.fixture
def admin_token(session: Session) -> str:
    return make_token(session, user=make_user(session, role=Role.admin))


class TestUsersApi:
    def test_admin_creates_each_role(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        for role in Role:
            body = {
                "username": f"new.{role.value}",
                "display_name": f"新 {role.value}",
                "role": role.value,
                "password": "long-enough-pw",
            }
            response = client.post("/api/v1/users", json=body, headers=auth(admin_token))
            assert response.status_code == 201, response.text
            assert response.json()["role"] == role.value
            assert "password" not in response.json() and "password_hash" not in response.json()

    def test_duplicate_username_is_409_and_changes_nothing(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        body = {
            "username": "dup.user",
            "display_name": "A",
            "role": "trainer",
            "password": "long-enough-pw",
        }
        assert client.post("/api/v1/users", json=body, headers=auth(admin_token)).status_code == 201
        response = client.post(
            "/api/v1/users", json=body | {"display_name": "B"}, headers=auth(admin_token)
        )
        assert response.status_code == 409
        assert response.json()["error"] == "username_taken"
        users = session.exec(select(User).where(User.username == "dup.user")).all()
        assert [u.display_name for u in users] == ["A"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (
                {
                    "username": "x",
                    "display_name": "A",
                    "role": "trainer",
                    "password": "long-enough-pw",
                },
                "username",
            ),
            (
                {
                    "username": "ok.name",
                    "display_name": "A",
                    "role": "wizard",
                    "password": "long-enough-pw",
                },
                "role",
            ),
            (
                {
                    "username": "ok.name",
                    "display_name": "A",
                    "role": "trainer",
                    "password": "short",
                },
                "password",
            ),
            (
                {
                    "username": "ok.name",
                    "display_name": "",
                    "role": "trainer",
                    "password": "long-enough-pw",
                },
                "display_name",
            ),
        ],
    )
    def test_bad_input_names_the_field(
        self,
        client: TestClient,
        session: Session,
        admin_token: str,
        body: dict[str, str],
        field: str,
    ) -> None:
        before = len(session.exec(select(User)).all())
        session.commit()
        response = client.post("/api/v1/users", json=body, headers=auth(admin_token))
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_input"
        assert field in [d["field"] for d in response.json()["details"]]
        assert len(session.exec(select(User)).all()) == before

    def test_console_role_needs_a_password(self, client: TestClient, admin_token: str) -> None:
        response = client.post(
            "/api/v1/users",
            json={"username": "no.pw", "display_name": "A", "role": "examiner"},
            headers=auth(admin_token),
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "password"

    def test_me(self, client: TestClient, session: Session) -> None:
        regulator = make_user(session, role=Role.regulator)
        response = client.get("/api/v1/me", headers=auth(make_token(session, user=regulator)))
        assert response.status_code == 200
        assert response.json()["username"] == regulator.username


class TestTokens:
    def test_token_is_shown_once_and_stored_hashed(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        gateway = make_user(session, role=Role.gateway)
        response = client.post(
            f"/api/v1/users/{gateway.id}/tokens",
            json={"name": "hall 1", "days": 30},
            headers=auth(admin_token),
        )
        assert response.status_code == 201
        secret = response.json()["token"]
        stored = session.exec(select(ApiToken).where(ApiToken.user_id == gateway.id)).one()
        assert secret not in (stored.token_hash, stored.prefix)
        assert client.get("/api/v1/me", headers=auth(secret)).json()["role"] == "gateway"
        listed = client.get("/api/v1/tokens", headers=auth(admin_token)).json()
        assert all("token" not in t and "token_hash" not in t for t in listed["data"])
        mine = next(t for t in listed["data"] if t["user_id"] == gateway.id)
        assert mine["username"] == gateway.username and mine["state"] == "active"

    def test_revoked_token_is_refused(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        user = make_user(session, role=Role.trainer)
        secret = make_token(session, user=user)
        token_id = session.exec(select(ApiToken.id).where(ApiToken.user_id == user.id)).one()
        session.commit()
        response = client.post(
            f"/api/v1/tokens/{token_id}/revoke",
            json={"reason": "laptop lost"},
            headers=auth(admin_token),
        )
        assert response.status_code == 200 and response.json()["revoked_at"]
        refused = client.get("/api/v1/me", headers=auth(secret))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"

    def test_expired_token_is_refused(self, client: TestClient, session: Session) -> None:
        user = make_user(session, role=Role.trainer)
        secret = make_token(session, user=user)
        token = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).one()
        token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.add(token)
        session.commit()
        assert client.get("/api/v1/me", headers=auth(secret)).status_code == 401

    def test_token_is_scoped_to_the_role_it_was_made_for(
        self, client: TestClient, session: Session
    ) -> None:
        user = make_user(session, role=Role.trainer)
        secret = make_token(session, user=user)
        assert user.id is not None
        accounts.update_user(session, ACTOR, user.id, UserUpdate(role=Role.admin))
        assert client.get("/api/v1/users", headers=auth(secret)).status_code == 401

    def test_token_for_unknown_user_is_404(self, client: TestClient, admin_token: str) -> None:
        response = client.post(
            "/api/v1/users/9999/tokens", json={"name": "x"}, headers=auth(admin_token)
        )
        assert response.status_code == 404 and response.json()["error"] == "user_not_found"

    def test_token_longer_than_allowed_is_refused(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        user = make_user(session, role=Role.gateway)
        response = client.post(
            f"/api/v1/users/{user.id}/tokens",
            json={"name": "x", "days": 5000},
            headers=auth(admin_token),
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "days"

    def test_garbage_bearer_is_401(self, client: TestClient) -> None:
        assert client.get("/api/v1/me", headers=auth("st_nonsense")).status_code == 401
        assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


class TestLoginRateLimit:
    def _settings(self, db_url: str) -> Settings:
        return Settings(
            database_url=db_url,
            environment=Environment.test,
            login_max_failures_per_account=3,
            login_max_failures_per_address=5,
        )

    def test_account_locks_after_failures_even_with_right_password(
        self, session: Session, db_url: str
    ) -> None:
        settings = self._settings(db_url)
        user = make_user(session, role=Role.trainer)
        for _ in range(3):
            with pytest.raises(NotAuthenticated):
                accounts.authenticate(session, settings, user.username, "wrong", "10.0.0.1")
        with pytest.raises(TooManyAttempts) as caught:
            accounts.authenticate(session, settings, user.username, PASSWORD, "10.0.0.2")
        assert 0 < caught.value.details["retry_after_seconds"] <= settings.login_window_minutes * 60

    def test_address_locks_across_accounts(self, session: Session, db_url: str) -> None:
        settings = self._settings(db_url)
        user = make_user(session, role=Role.trainer)
        for i in range(5):
            with pytest.raises(NotAuthenticated):
                accounts.authenticate(session, settings, f"nobody{i}", "wrong", "10.0.0.9")
        with pytest.raises(TooManyAttempts):
            accounts.authenticate(session, settings, user.username, PASSWORD, "10.0.0.9")
        session.rollback()
        assert (
            accounts.authenticate(session, settings, user.username, PASSWORD, "10.0.0.10").id
            == user.id
        )

    def test_console_shows_429(self, client: TestClient, session: Session) -> None:
        user = make_user(session, role=Role.trainer)
        limit = client.app.state.settings.login_max_failures_per_account  # type: ignore[attr-defined]
        for _ in range(limit):
            page = client.get("/console/login")
            client.post(
                "/console/login",
                data={
                    "username": user.username,
                    "password": "nope",
                    "csrf_token": form_token(page.text),
                },
            )
        page = client.get("/console/login")
        response = client.post(
            "/console/login",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrf_token": form_token(page.text),
            },
        )
        assert response.status_code == 429
        assert "登录失败次数过多" in response.text


class TestUserAdministration:
    def test_list_get_and_update(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        user = make_user(session, role=Role.examiner)
        listed = client.get("/api/v1/users", headers=auth(admin_token)).json()
        assert user.username in [u["username"] for u in listed["data"]]
        got = client.get(f"/api/v1/users/{user.id}", headers=auth(admin_token)).json()
        assert got["role"] == "examiner"
        changed = client.patch(
            f"/api/v1/users/{user.id}", json={"is_active": False}, headers=auth(admin_token)
        )
        assert changed.status_code == 200 and changed.json()["is_active"] is False

    def test_deactivated_user_cannot_use_a_token(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        user = make_user(session, role=Role.regulator)
        secret = make_token(session, user=user)
        client.patch(
            f"/api/v1/users/{user.id}", json={"is_active": False}, headers=auth(admin_token)
        )
        assert client.get("/api/v1/me", headers=auth(secret)).status_code == 401
        states = [
            t["state"]
            for t in client.get(
                "/api/v1/tokens", params={"user_id": user.id}, headers=auth(admin_token)
            ).json()["data"]
        ]
        assert states == ["user_inactive"]

    def test_update_unknown_user_is_404(self, client: TestClient, admin_token: str) -> None:
        response = client.patch(
            "/api/v1/users/9999", json={"display_name": "x"}, headers=auth(admin_token)
        )
        assert response.status_code == 404

    def test_bad_role_in_update_names_the_field(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        user = make_user(session, role=Role.trainer)
        response = client.patch(
            f"/api/v1/users/{user.id}", json={"role": "emperor"}, headers=auth(admin_token)
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "role"
        session.expire_all()
        assert session.get(User, user.id).role == "trainer"  # type: ignore[union-attr]

    def test_password_reset_ends_console_sessions(
        self, client: TestClient, session: Session, admin_token: str
    ) -> None:
        from server.accounts.models import LoginSession
        from tests.factories import log_in

        user = make_user(session, role=Role.trainer)
        log_in(client, user.username)
        assert session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all()
        session.commit()
        client.cookies.clear()
        response = client.patch(
            f"/api/v1/users/{user.id}",
            json={"password": "a-brand-new-password"},
            headers=auth(admin_token),
        )
        assert response.status_code == 200
        assert session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all() == []
