"""One migration history for SQLite and PostgreSQL, matching the models exactly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from server import migrate
from server.models import metadata


class TestMigrations:
    def test_models_and_migrations_agree(self, engine: Engine) -> None:
        """A model change without a migration fails here, on both databases."""
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        assert diff == []

    def test_downgrade_to_base_and_upgrade_again(self, db_url: str, engine: Engine) -> None:
        command.downgrade(migrate.alembic_config(db_url), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(db_url)
        assert migrate.is_current(engine)
        assert "trainees" in inspect(engine).get_table_names()

    def test_upgrade_twice_is_harmless(self, db_url: str, engine: Engine) -> None:
        migrate.upgrade(db_url)
        assert migrate.is_current(engine)
