"""The outbox's state where people look: the API, the console page, the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from server.accounts.models import Role
from server.app import create_app
from server.audit.models import AuditEvent
from server.cli import app as cli
from server.config import Settings, get_settings
from server.outbox.deliver import Deliverer
from server.outbox.service import STUCK_AFTER
from tests.factories import auth, form_token, log_in, make_token, make_user
from tests.server.outbox.conftest import outbox_rows
from tests.server.outbox.receiver import Receiver

runner = CliRunner()


@pytest.fixture
def quiet_client(settings: Settings, engine: Engine) -> TestClient:
    """The app without its lifespan: no push loop changes the state under the test."""
    return TestClient(create_app(settings, engine))


class TestApi:
    def test_admin_sees_the_counts_the_head_its_error_and_next_attempt(
        self,
        quiet_client: TestClient,
        session: Session,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.mode = "fail"
        assert deliverer.run().failed
        token = make_token(session, user=make_user(session, role=Role.admin))
        body = quiet_client.get("/api/v1/outbox", headers=auth(token)).json()
        assert body["enabled"] is True and body["endpoint"] == receiver.url
        assert body["counts"] == {"waiting": 4, "retrying": 1, "rejected": 0, "delivered": 0}
        head = body["head"]
        assert head["idempotency_key"] == five_changes[0] and head["state"] == "retrying"
        assert head["attempts"] == 1 and head["last_status"] == 500
        assert head["last_error_code"] == "server_error" and head["next_attempt_at"]
        assert body["blocked"] is False
        assert [e["idempotency_key"] for e in body["queue"]] == five_changes
        for _ in range(STUCK_AFTER - 1):
            deliverer.run(force=True)
        assert quiet_client.get("/api/v1/outbox", headers=auth(token)).json()["blocked"] is True

    def test_retry_makes_the_head_due_now_and_is_audited(
        self,
        quiet_client: TestClient,
        session: Session,
        engine: Engine,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.mode = "reject"
        deliverer.run()
        token = make_token(session, user=make_user(session, role=Role.admin))
        answer = quiet_client.post("/api/v1/outbox/retry", headers=auth(token))
        assert answer.status_code == 200 and answer.json() == {"retried": 1}
        head = outbox_rows(engine)[0]
        assert head.next_attempt_at is None and head.state == "pending"
        session.rollback()
        actions = session.exec(select(AuditEvent.action)).all()
        assert "outbox.retry" in actions

    def test_other_roles_are_refused(self, quiet_client: TestClient, session: Session) -> None:
        for role in (Role.trainer, Role.regulator, Role.gateway):
            token = make_token(session, user=make_user(session, role=role))
            assert quiet_client.get("/api/v1/outbox", headers=auth(token)).status_code == 403


class TestConsolePage:
    def test_the_admin_page_shows_the_blocked_head_in_both_languages_and_retries(
        self,
        quiet_client: TestClient,
        session: Session,
        deliverer: Deliverer,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.mode = "reject"
        deliverer.run()
        admin = make_user(session, role=Role.admin)
        log_in(quiet_client, admin.username)
        page = quiet_client.get("/console/outbox")
        assert page.status_code == 200
        assert "监管推送队列" in page.text and "被拒收" in page.text
        assert "接收方拒收（4xx），需人工检查" in page.text and "HTTP 400" in page.text
        assert five_changes[0] in page.text and 'href="/console/outbox"' in page.text
        english = quiet_client.get("/console/outbox?lang=en").text
        assert "Regulator push outbox" in english and "Delivery is blocked" in english
        done = quiet_client.post(
            "/console/outbox/retry", data={"csrf_token": form_token(page.text)}
        )
        assert done.status_code == 200 and "1 events are due" in done.text

    def test_the_nav_link_is_for_admins_and_the_page_refused_to_trainers(
        self, quiet_client: TestClient, session: Session
    ) -> None:
        trainer = make_user(session, role=Role.trainer)
        log_in(quiet_client, trainer.username)
        assert 'href="/console/outbox"' not in quiet_client.get("/console").text
        assert quiet_client.get("/console/outbox").status_code == 403


@pytest.fixture
def cli_env(
    db_url: str, keys_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    for name, value in {
        "SAFETRAIN_DATABASE_URL": db_url,
        "SAFETRAIN_ENVIRONMENT": "test",
        "SAFETRAIN_KEYS_DIR": str(keys_dir),
        "SAFETRAIN_REGULATOR_PUSH_URL": receiver.url,
        "SAFETRAIN_REGULATOR_PUSH_TIMEOUT_SECONDS": "0.5",
        "SAFETRAIN_REGULATOR_PUSH_MAX_BACKOFF_SECONDS": "60",
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TestCli:
    def test_deliver_status_and_retry_as_an_operator_runs_them(
        self, cli_env: None, engine: Engine, receiver: Receiver, five_changes: list[str]
    ) -> None:
        receiver.mode = "fail"
        failed = runner.invoke(cli, ["outbox", "deliver"])
        assert failed.exit_code == 1, failed.output
        assert f"event {outbox_rows(engine)[0].seq} not delivered" in failed.output
        status = runner.invoke(cli, ["outbox", "status"])
        assert status.exit_code == 0, status.output
        assert "重试中 retrying" in status.output and "HTTP 500" in status.output
        assert five_changes[0] in status.output
        retried = runner.invoke(cli, ["outbox", "retry"])
        assert retried.exit_code == 0 and "due now: 1" in retried.output
        receiver.mode = "ok"
        done = runner.invoke(cli, ["outbox", "deliver"])
        assert done.exit_code == 0, done.output
        assert "delivered: 5" in done.output and "everything delivered" in done.output
        assert receiver.accepted_keys() == five_changes
        as_json = runner.invoke(cli, ["outbox", "status", "--json"])
        assert as_json.exit_code == 0 and '"delivered": 5' in as_json.output

    def test_status_exits_1_when_delivery_is_blocked(
        self, cli_env: None, receiver: Receiver, five_changes: list[str]
    ) -> None:
        receiver.mode = "reject"
        assert runner.invoke(cli, ["outbox", "deliver"]).exit_code == 1
        blocked = runner.invoke(cli, ["outbox", "status"])
        assert blocked.exit_code == 1 and "BLOCKED" in blocked.output

    def test_deliver_without_an_endpoint_is_refused_with_the_setting_named(
        self, cli_env: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_REGULATOR_PUSH_URL", "")
        get_settings.cache_clear()
        refused = runner.invoke(cli, ["outbox", "deliver"])
        assert refused.exit_code == 2 and "SAFETRAIN_REGULATOR_PUSH_URL" in refused.output

    def test_a_bad_endpoint_is_a_settings_error(
        self, cli_env: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_REGULATOR_PUSH_URL", "ftp://regulator/push")
        get_settings.cache_clear()
        refused = runner.invoke(cli, ["outbox", "status"])
        assert refused.exit_code == 2 and "regulator_push_url" in refused.output
