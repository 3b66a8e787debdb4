"""`safetrain serve --workers 2` on PostgreSQL: sessions and rate limits hold across processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from server.accounts.models import Role
from tests.factories import PASSWORD, make_user

CLI = str(Path(sys.executable).with_name("safetrain"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = os.environ | {
        "SAFETRAIN_DATABASE_URL": db_url,
        "SAFETRAIN_ENVIRONMENT": "test",
        "SAFETRAIN_LOGIN_MAX_FAILURES_PER_ACCOUNT": "4",
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [CLI, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("server did not start:\n" + (tmp_path / "serve.log").read_text())
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        pids = set(
            re.findall(r"Started server process \[(\d+)\]", (tmp_path / "serve.log").read_text())
        )
        assert len(pids) == 2, "expected two worker processes"


def _login_form(client: httpx.Client, base: str) -> str:
    page = client.get(f"{base}/console/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


@pytest.mark.postgres_only
class TestMultiProcess:
    def test_session_is_honoured_by_every_worker(self, served: str, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        with httpx.Client() as browser:
            token = _login_form(browser, served)
            response = browser.post(
                f"{served}/console/login",
                data={"username": trainer.username, "password": PASSWORD, "csrf_token": token},
            )
            assert response.status_code == 303
        cookie = browser.cookies.get("safetrain_session")
        assert cookie
        # New connections each time, so the kernel spreads them over both workers.
        for _ in range(30):
            page = httpx.get(f"{served}/console/trainees", cookies={"safetrain_session": cookie})
            assert page.status_code == 200
            assert trainer.display_name in page.text

    def test_rate_limit_counts_across_workers(self, served: str, session: Session) -> None:
        trainer = make_user(session, role=Role.trainer)
        statuses = []
        for _ in range(6):
            with httpx.Client() as browser:
                token = _login_form(browser, served)
                response = browser.post(
                    f"{served}/console/login",
                    data={
                        "username": trainer.username,
                        "password": "wrong-password",
                        "csrf_token": token,
                    },
                )
                statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 401, 429, 429]
