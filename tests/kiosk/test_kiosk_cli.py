"""`safetrain trainees pin` and `safetrain kiosk enrol|revoke`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from server.accounts.models import KioskDevice, User
from server.cli import app
from server.config import get_settings
from tests.factories import make_station, make_trainee

runner = CliRunner()


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SAFETRAIN_DATABASE_URL", db_url)
    monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "test")
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


class TestTraineesPin:
    def test_set_by_id_number_asked_hidden(self, cli_db: str, session: Session) -> None:
        trainee = make_trainee(session, name="郭磊")
        result = runner.invoke(
            app, ["trainees", "pin", trainee.id_number], input="590314\n590314\n"
        )
        assert result.exit_code == 0, result.output
        assert "PIN set: 郭磊" in result.output and "590314" not in result.output
        session.rollback()
        user = session.exec(select(User).where(User.trainee_id == trainee.id)).one()
        assert user.pin_hash is not None

    def test_a_trivial_pin_exits_2_with_the_reason(self, cli_db: str, session: Session) -> None:
        trainee = make_trainee(session)
        result = runner.invoke(app, ["trainees", "pin", str(trainee.id), "--pin", "111111"])
        assert result.exit_code == 2 and "cannot be one digit repeated" in result.output

    def test_an_unknown_trainee_exits_2(self, cli_db: str) -> None:
        result = runner.invoke(app, ["trainees", "pin", "99999", "--pin", "590314"])
        assert result.exit_code == 2 and "no trainee 99999" in result.output


class TestKioskEnrol:
    def test_enrol_then_set_up_then_revoke(
        self, cli_db: str, session: Session, client: TestClient
    ) -> None:
        make_station(session, code="KIOSK-09", kind="kiosk")
        result = runner.invoke(app, ["kiosk", "enrol", "kiosk-09"])
        assert result.exit_code == 0, result.output
        code = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", result.output)
        assert code is not None
        # Typed in lower case and without dashes, as someone at a screen might.
        response = client.post(
            "/kiosk/setup", data={"code": code.group(0).replace("-", "").lower()}
        )
        assert response.status_code == 200 and "KIOSK-09" in response.text
        revoked = runner.invoke(app, ["kiosk", "revoke", "KIOSK-09"])
        assert revoked.exit_code == 0 and "1 screen(s) stopped" in revoked.output
        session.rollback()
        assert all(d.revoked_at for d in session.exec(select(KioskDevice)).all())
        assert client.get("/kiosk", follow_redirects=False).headers["location"] == "/kiosk/setup"

    def test_a_station_that_is_not_a_kiosk_is_refused(self, cli_db: str, session: Session) -> None:
        make_station(session, code="VR-44")
        result = runner.invoke(app, ["kiosk", "enrol", "VR-44"])
        assert result.exit_code == 2 and "is not a kiosk" in result.output


class TestKioskList:
    def test_lists_each_screen_with_its_state(self, cli_db: str, session: Session) -> None:
        make_station(session, code="KIOSK-11", kind="kiosk")
        make_station(session, code="KIOSK-12", kind="kiosk")
        assert runner.invoke(app, ["kiosk", "enrol", "KIOSK-11"]).exit_code == 0
        assert runner.invoke(app, ["kiosk", "enrol", "KIOSK-12"]).exit_code == 0
        assert runner.invoke(app, ["kiosk", "revoke", "KIOSK-12"]).exit_code == 0
        result = runner.invoke(app, ["kiosk", "list"])
        assert result.exit_code == 0, result.output
        rows = [line for line in result.output.splitlines() if "KIOSK-1" in line]
        assert len(rows) == 2
        assert "KIOSK-12" in rows[0] and "revoked" in rows[0]  # newest first
        assert "KIOSK-11" in rows[1] and "waiting" in rows[1]
