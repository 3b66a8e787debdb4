"""The `safetrain` command line, run as an operator would, against a real database."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from server.cli import app
from server.config import get_settings
from server.trainees.models import Trainee
from tests.factories import make_trainee, resident_id

runner = CliRunner()


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setenv("SAFETRAIN_DATABASE_URL", db_url)
    monkeypatch.setenv("SAFETRAIN_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "test")
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables at 80 columns when not on a terminal
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [
        (*prefix, c.name or (c.callback.__name__ if c.callback else ""))
        for c in group.registered_commands
    ]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name is not None
        found.append((*prefix, sub.name))
        found += _commands(sub.typer_instance, (*prefix, sub.name))
    return found


class TestHelp:
    @pytest.mark.parametrize("command", _commands(app), ids=" ".join)
    def test_every_command_has_help(self, command: tuple[str, ...]) -> None:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


class TestDbAndDemo:
    def test_upgrade_fresh_sqlite_file_then_current(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'fresh.db'}")
        get_settings.cache_clear()
        assert runner.invoke(app, ["db", "current"]).exit_code == 1
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert runner.invoke(app, ["db", "current"]).exit_code == 0
        get_settings.cache_clear()

    def test_demo_loads_once(self, cli_db: str, session: Session) -> None:
        first = runner.invoke(app, ["demo", "load", "--if-empty"])
        assert first.exit_code == 0, first.output
        assert "wang.jun" in first.output and "safetrain-demo" in first.output
        assert "sun.min: st_" in first.output
        assert "certificate signing key:" in first.output
        count = session.exec(select(func.count()).select_from(Trainee)).one()
        assert count == 30
        session.commit()
        second = runner.invoke(app, ["demo", "load", "--if-empty"])
        assert second.exit_code == 0 and "skipped" in second.output
        assert session.exec(select(func.count()).select_from(Trainee)).one() == 30

    def test_demo_is_refused_in_production(
        self, cli_db: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "production")
        get_settings.cache_clear()
        result = runner.invoke(app, ["demo", "load"])
        assert result.exit_code == 2 and "production" in result.output


class TestUsersAndTokens:
    def test_create_user_and_token_then_call_the_api(self, cli_db: str, client: object) -> None:
        result = runner.invoke(
            app, ["user", "create", "reg.zhou", "--role", "regulator", "--name", "周监管"]
        )
        assert result.exit_code == 0, result.output
        made = runner.invoke(
            app, ["token", "create", "reg.zhou", "--name", "province sync", "--days", "30"]
        )
        assert made.exit_code == 0, made.output
        secret = made.stdout.strip().splitlines()[-1]
        assert secret.startswith("st_")
        from fastapi.testclient import TestClient

        assert isinstance(client, TestClient)
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["role"]
            == "regulator"
        )
        listed = runner.invoke(app, ["token", "list", "reg.zhou"], terminal_width=200)
        assert "province sync" in listed.output and secret not in listed.output
        revoked = runner.invoke(app, ["token", "revoke", "1", "--reason", "rotated"])
        assert revoked.exit_code == 0
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )

    def test_console_user_is_asked_for_a_password(self, cli_db: str) -> None:
        result = runner.invoke(
            app,
            ["user", "create", "t.wu", "--role", "trainer", "--name", "吴老师"],
            input="a-good-password\na-good-password\n",
        )
        assert result.exit_code == 0, result.output

    @pytest.mark.parametrize(
        ("args", "named"),
        [
            (["user", "create", "x.y", "--role", "wizard", "--name", "X"], "--role"),
            (["user", "create", "X Y", "--role", "gateway", "--name", "X"], "username"),
            (["token", "create", "nobody", "--name", "x"], "nobody"),
        ],
    )
    def test_bad_input_exits_2_and_names_it(self, cli_db: str, args: list[str], named: str) -> None:
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert named in result.output


def _roster(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["姓名", "证件号码", "手机号", "工作单位", "文化程度"]
    )
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "名单.csv"
    path.write_bytes(buffer.getvalue().encode("gb18030"))  # as Excel on a Chinese Windows saves it
    return path


def _row(name: str, **overrides: str) -> dict[str, str]:
    return {
        "姓名": name,
        "证件号码": resident_id(),
        "手机号": "13800138000",
        "工作单位": "华东石化助剂有限公司",
        "文化程度": "中专",
    } | overrides


class TestTraineesImport:
    def test_good_file_imports(self, cli_db: str, tmp_path: Path, session: Session) -> None:
        result = runner.invoke(
            app, ["trainees", "import", str(_roster(tmp_path, [_row("甲"), _row("乙")]))]
        )
        assert result.exit_code == 0, result.output
        assert "imported 2" in result.output
        assert session.exec(select(func.count()).select_from(Trainee)).one() == 2

    def test_bad_row_exits_2_names_row_and_column_and_imports_nothing(
        self, cli_db: str, tmp_path: Path, session: Session
    ) -> None:
        path = _roster(tmp_path, [_row("甲"), _row("乙", 证件号码="320602199013011234")])
        result = runner.invoke(app, ["trainees", "import", str(path)])
        assert result.exit_code == 2
        assert "证件号码" in result.output and "3" in result.output
        assert session.exec(select(func.count()).select_from(Trainee)).one() == 0

    def test_valid_only_imports_the_rest(
        self, cli_db: str, tmp_path: Path, session: Session
    ) -> None:
        path = _roster(tmp_path, [_row("甲"), _row("乙", 手机号="000")])
        result = runner.invoke(app, ["trainees", "import", str(path), "--valid-only"])
        assert result.exit_code == 0, result.output
        assert session.exec(select(func.count()).select_from(Trainee)).one() == 1

    def test_missing_file_exits_2(self, cli_db: str, tmp_path: Path) -> None:
        result = runner.invoke(app, ["trainees", "import", str(tmp_path / "none.csv")])
        assert result.exit_code == 2


class TestCurriculaCheck:
    def test_shipped_curricula_are_valid(self) -> None:
        result = runner.invoke(app, ["curricula", "check"])
        assert result.exit_code == 0, result.output
        assert "NITRATION" in result.output and "MEM-19" in result.output

    def test_bad_file_is_named_with_its_key(self, tmp_path: Path) -> None:
        from curricula.loader import CURRICULA_DIR

        source = (CURRICULA_DIR / "hydrogenation.toml").read_text(encoding="utf-8")
        (tmp_path / "hydrogenation.toml").write_text(
            source.replace("min_score = 80", "min_score = 180", 1), encoding="utf-8"
        )
        result = runner.invoke(
            app, ["curricula", "check", "--directory", str(tmp_path)], terminal_width=200
        )
        assert result.exit_code == 2
        assert "hydrogenation.toml" in result.output
        assert "scenarios[" in result.output and "exceeds max_score" in result.output


class TestAuditVerify:
    def test_intact_then_tampered(self, cli_db: str, session: Session) -> None:
        for _ in range(3):
            make_trainee(session)
        ok = runner.invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0 and "intact" in ok.output
        session.exec(text("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2"))  # type: ignore[call-overload]
        session.commit()
        bad = runner.invoke(app, ["audit", "verify"], terminal_width=200)
        assert bad.exit_code == 1
        assert "event 2" in bad.output and "modified" in bad.output


class TestServe:
    def test_refuses_to_start_on_an_old_schema(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
        get_settings.cache_clear()
        result = runner.invoke(app, ["serve"])
        assert result.exit_code == 2 and "db upgrade" in result.output
        get_settings.cache_clear()


SAFETRAIN = str(Path(sys.executable).with_name("safetrain"))


class TestRealProcess:
    """The installed `safetrain` command in a fresh interpreter, as an operator runs it."""

    def _run(
        self, db_url: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"SAFETRAIN_DATABASE_URL": db_url, "SAFETRAIN_ENVIRONMENT": "test"}
        return subprocess.run(
            [SAFETRAIN, *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_first_admin_can_be_created(self, db_url: str) -> None:
        result = self._run(
            db_url,
            "user",
            "create",
            "admin",
            "--role",
            "admin",
            "--name",
            "管理员",
            "--password",
            "first-admin-pw",
        )
        assert result.returncode == 0, result.stderr
        assert "created user admin" in result.stdout

    def test_error_text_with_brackets_is_printed_whole(self, db_url: str) -> None:
        result = self._run(db_url, "user", "create", "Bad Name", "--role", "gateway", "--name", "x")
        assert result.returncode == 2
        assert "[a-z0-9]" in result.stderr

    def test_unreachable_database_exits_3_without_traceback(self) -> None:
        result = self._run("postgresql://nobody@127.0.0.1:1/none", "audit", "verify")
        assert result.returncode == 3
        assert "cannot reach the database" in result.stderr
        assert "Traceback" not in result.stderr


class TestMoreCommands:
    def test_unlock_lifts_a_login_lock(self, cli_db: str, session: Session) -> None:
        from server.accounts import service as accounts
        from server.accounts.models import Role
        from server.config import Environment, Settings
        from server.errors import NotAuthenticated, TooManyAttempts
        from tests.factories import PASSWORD, make_user

        settings = Settings(
            database_url=cli_db, environment=Environment.test, login_max_failures_per_account=2
        )
        user = make_user(session, role=Role.trainer)
        username = user.username  # read now: after a rollback it would open a read snapshot
        for _ in range(2):
            with pytest.raises(NotAuthenticated):
                accounts.authenticate(session, settings, username, "wrong", "10.1.1.1")
        with pytest.raises(TooManyAttempts):
            accounts.authenticate(session, settings, username, PASSWORD, "10.1.1.1")
        session.rollback()
        result = runner.invoke(app, ["user", "unlock", username])
        assert result.exit_code == 0 and "cleared 2" in result.output
        assert (
            accounts.authenticate(session, settings, username, PASSWORD, "10.1.1.1").id == user.id
        )

    def test_demo_load_twice_without_if_empty_is_harmless(
        self, cli_db: str, session: Session
    ) -> None:
        assert runner.invoke(app, ["demo", "load"]).exit_code == 0
        again = runner.invoke(app, ["demo", "load"])
        assert again.exit_code == 0, again.output
        assert session.exec(select(func.count()).select_from(Trainee)).one() == 30

    def test_token_list_names_owner_and_state(self, cli_db: str) -> None:
        runner.invoke(app, ["user", "create", "gw.hall2", "--role", "gateway", "--name", "二号厅"])
        runner.invoke(app, ["token", "create", "gw.hall2", "--name", "hall 2"])
        runner.invoke(app, ["token", "revoke", "1"])
        runner.invoke(app, ["token", "create", "gw.hall2", "--name", "hall 2 new"])
        listed = runner.invoke(app, ["token", "list"], terminal_width=200).output
        assert "gw.hall2" in listed and "revoked" in listed and "active" in listed

    def test_dry_run_says_how_many_would_be_imported(self, cli_db: str, tmp_path: Path) -> None:
        result = runner.invoke(
            app,
            ["trainees", "import", str(_roster(tmp_path, [_row("甲"), _row("乙")])), "--dry-run"],
        )
        assert result.exit_code == 0, result.output
        assert "would import 2" in result.output

    def test_trainee_account_linked_to_a_trainee(self, cli_db: str, session: Session) -> None:
        trainee = make_trainee(session)
        result = runner.invoke(
            app,
            [
                "user",
                "create",
                "t.self",
                "--role",
                "trainee",
                "--name",
                "学员本人",
                "--trainee-id",
                str(trainee.id),
            ],
        )
        assert result.exit_code == 0, result.output
        wrong = runner.invoke(
            app,
            [
                "user",
                "create",
                "t.other",
                "--role",
                "gateway",
                "--name",
                "x",
                "--trainee-id",
                str(trainee.id),
            ],
        )
        assert wrong.exit_code == 2 and "trainee" in wrong.output


class TestEdges:
    def test_unmigrated_database_says_to_upgrade(self, tmp_path: Path) -> None:
        env = os.environ | {"SAFETRAIN_DATABASE_URL": f"sqlite:///{tmp_path / 'blank.db'}"}
        result = subprocess.run(
            [SAFETRAIN, "audit", "verify"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert "safetrain db upgrade" in result.stderr and "Traceback" not in result.stderr

    def test_token_list_shows_a_deactivated_owner(self, cli_db: str, session: Session) -> None:
        from server.accounts import service as accounts
        from server.accounts.models import UserUpdate
        from tests.factories import ACTOR

        runner.invoke(app, ["user", "create", "gw.old", "--role", "gateway", "--name", "旧网关"])
        runner.invoke(app, ["token", "create", "gw.old", "--name", "[b]hall[/b] 3"])
        user = accounts.user_by_username(session, "gw.old")
        assert user is not None and user.id is not None
        accounts.update_user(session, ACTOR, user.id, UserUpdate(is_active=False))
        listed = runner.invoke(app, ["token", "list"]).output
        assert "user_inactive" in listed
        assert "[b]hall[/b] 3" in listed
