"""kiosk: trainees' PINs, kiosk screens (devices) and kiosk sessions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import server.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pin_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )

    op.create_table(
        "kiosk_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("setup_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("setup_expires_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("setup_hash"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("kiosk_devices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kiosk_devices_station_id"), ["station_id"], unique=False
        )

    op.create_table(
        "kiosk_sessions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("trainee_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["kiosk_devices.id"]),
        sa.ForeignKeyConstraint(["trainee_id"], ["trainees.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kiosk_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kiosk_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_kiosk_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kiosk_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kiosk_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_kiosk_sessions_expires_at"))
    op.drop_table("kiosk_sessions")
    with op.batch_alter_table("kiosk_devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kiosk_devices_station_id"))
    op.drop_table("kiosk_devices")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("pin_hash")
