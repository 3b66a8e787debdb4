"""exam recordings: a practical attempt's station, and the video files of its exam

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import server.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("station_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_attempts_station_id", "stations", ["station_id"], ["id"])

    op.create_table(
        "exam_recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("started_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("stored_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("keep_until", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pruned_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("gateway_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"]),
        sa.ForeignKeyConstraint(["gateway_user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("exam_recordings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exam_recordings_attempt_id"), ["attempt_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_exam_recordings_keep_until"), ["keep_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("exam_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exam_recordings_keep_until"))
        batch_op.drop_index(batch_op.f("ix_exam_recordings_attempt_id"))
    op.drop_table("exam_recordings")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_attempts_station_id", type_="foreignkey")
        batch_op.drop_column("station_id")
