"""`safetrain serve --workers 2` on PostgreSQL: sessions and rate limits hold across processes."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import Session

from server.accounts.models import Role
from tests.factories import PASSWORD, make_user


def _login_form(client: httpx.Client, base: str) -> str:
    page = client.get(f"{base}/console/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


@pytest.mark.postgres_only
class TestMultiProcess:
    def test_session_is_honoured_by_every_worker(self, live_server: str, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        with httpx.Client() as browser:
            token = _login_form(browser, live_server)
            response = browser.post(
                f"{live_server}/console/login",
                data={"username": trainer.username, "password": PASSWORD, "csrf_token": token},
            )
            assert response.status_code == 303
        cookie = browser.cookies.get("safetrain_session")
        assert cookie
        # New connections each time, so the kernel spreads them over both workers.
        for _ in range(30):
            page = httpx.get(
                f"{live_server}/console/trainees", cookies={"safetrain_session": cookie}
            )
            assert page.status_code == 200
            assert trainer.display_name in page.text

    def test_rate_limit_counts_across_workers(self, live_server: str, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        statuses = []
        for _ in range(6):
            with httpx.Client() as browser:
                token = _login_form(browser, live_server)
                response = browser.post(
                    f"{live_server}/console/login",
                    data={
                        "username": trainer.username,
                        "password": "wrong-password",
                        "csrf_token": token,
                    },
                )
                statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 401, 429, 429]
