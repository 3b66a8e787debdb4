"""The `safetrain` command line, run as an operator would, against a real database."""

from __future__ import annotations

import csv
import io
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
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SAFETRAIN_DATABASE_URL", db_url)
    monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "test")
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
        monkeypatch.setenv("SAFETRAIN_SECRET_KEY", "x" * 40)
        get_settings.cache_clear()
        result = runner.invoke(app, ["demo", "load"])
        assert result.exit_code == 2 and "production" in result.output

    def test_default_secret_is_refused_in_production(
        self, cli_db: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_ENVIRONMENT", "production")
        get_settings.cache_clear()
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 2 and "SAFETRAIN_SECRET_KEY" in result.output


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
        listed = runner.invoke(app, ["token", "list", "reg.zhou"])
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
