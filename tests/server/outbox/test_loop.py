"""The server's own push loop: started with the app, resumed by a new app or a new process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from server.app import create_app
from server.certificates import service as certificates
from server.config import Settings
from server.outbox.models import OutboxState
from tests.conftest import CLI, _free_port
from tests.server.outbox.conftest import ADMIN, assert_in_order, outbox_keys, outbox_rows
from tests.server.outbox.receiver import Receiver


class TestServerLoop:
    def test_the_app_delivers_the_queue_and_each_new_change_as_it_commits(
        self,
        engine: Engine,
        session: Session,
        settings: Settings,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        with TestClient(create_app(settings, engine)):
            receiver.wait_for(lambda: receiver.accepted_keys() == five_changes, "the backlog")
            first = outbox_rows(engine)[0].certificate_number
            # While the loop writes, change through the server's kind of session (on SQLite
            # BEGIN IMMEDIATE), as a request would.
            with Session(engine, expire_on_commit=False) as writer:
                certificates.change_status(writer, ADMIN, first, "revoke", "撤销 revoked")
            keys = outbox_keys(session)
            receiver.wait_for(lambda: receiver.accepted_keys() == keys, "the new change")
        assert_in_order(receiver, keys)

    def test_a_new_app_resumes_from_the_database(
        self,
        engine: Engine,
        settings: Settings,
        receiver: Receiver,
        five_changes: list[str],
    ) -> None:
        receiver.mode = "fail"
        with TestClient(create_app(settings, engine)):
            receiver.wait_for(lambda: len(receiver.arrivals) >= 3, "a few failed attempts")
        assert set(receiver.keys()) == {five_changes[0]}  # the head only, again and again
        head = outbox_rows(engine)[0]
        assert head.state == OutboxState.pending and head.attempts >= 3
        receiver.mode = "ok"
        with TestClient(create_app(settings, engine)):
            receiver.wait_for(lambda: receiver.accepted_keys() == five_changes, "the rest")
        assert_in_order(receiver, five_changes)

    def test_without_an_endpoint_changes_wait_in_the_queue(
        self, engine: Engine, db_url: str, keys_dir: Path, session: Session, receiver: Receiver
    ) -> None:
        from tests.server.outbox.conftest import issue_some, push_settings

        off = push_settings(db_url, keys_dir, "")
        issue_some(session, off, 1)
        with TestClient(create_app(off, engine)) as client:
            assert not client.app.state.settings.regulator_push_url  # type: ignore[attr-defined]
        assert [r.state for r in outbox_rows(engine)] == [OutboxState.pending]


@contextmanager
def _serve(db_url: str, settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`safetrain serve --workers 2` as its own process group, so it can be killed whole."""
    port = _free_port()
    env = os.environ | {
        "SAFETRAIN_DATABASE_URL": db_url,
        "SAFETRAIN_ENVIRONMENT": "test",
        "SAFETRAIN_KEYS_DIR": settings.keys_dir,
        "SAFETRAIN_REGULATOR_PUSH_URL": settings.regulator_push_url,
        "SAFETRAIN_REGULATOR_PUSH_INTERVAL_SECONDS": "0.05",
        "SAFETRAIN_REGULATOR_PUSH_TIMEOUT_SECONDS": "30",
        "SAFETRAIN_REGULATOR_PUSH_MAX_BACKOFF_SECONDS": "0.05",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [CLI, "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("server did not start:\n" + log.read_text())
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


class TestProcessRestart:
    def test_an_event_in_flight_when_the_server_is_killed_is_sent_again_after_restart(
        self,
        db_url: str,
        engine: Engine,
        settings: Settings,
        receiver: Receiver,
        five_changes: list[str],
        tmp_path: Path,
    ) -> None:
        receiver.script.extend(["ok", "hang"])  # the second event is in flight, unanswered
        log = tmp_path / "serve.log"
        with _serve(db_url, settings, log) as proc:
            receiver.wait_for(lambda: len(receiver.arrivals) >= 2, "the second event in flight")
            os.killpg(proc.pid, signal.SIGKILL)  # the whole server, workers and all
            proc.wait(timeout=10)
        receiver.release()
        rows = outbox_rows(engine)
        assert rows[0].state == OutboxState.delivered
        assert rows[1].state == OutboxState.pending and rows[1].attempts == 0  # never recorded
        with _serve(db_url, settings, log):
            receiver.wait_for(
                lambda: receiver.accepted_keys() == five_changes, "all, after restart"
            )
        keys = receiver.keys()
        assert keys[:3] == [five_changes[0], five_changes[1], five_changes[1]]
        assert_in_order(receiver, five_changes)
        assert receiver.most_in_flight == 1  # two workers each time, one stream
