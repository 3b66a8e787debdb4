"""regulator access log; indexes for the regulator's certificate filters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:40:23.403880
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import server.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "regulator_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("finished_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("regulator_access", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regulator_access_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_regulator_access_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index("ix_certificates_issued_on", ["issued_on"], unique=False)
        batch_op.create_index("ix_certificates_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_certificates_supersedes_id", ["supersedes_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_supersedes_id")
        batch_op.drop_index("ix_certificates_status_id")
        batch_op.drop_index("ix_certificates_issued_on")

    with op.batch_alter_table("regulator_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regulator_access_user_id"))
        batch_op.drop_index(batch_op.f("ix_regulator_access_at"))

    op.drop_table("regulator_access")
