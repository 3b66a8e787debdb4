"""device result → attempt link by the attempt's source_ref; unassigned results index

The frame no longer carries the attempt's id (an UPDATE of every stored frame, the costliest
step of a PostgreSQL batch); the attempt names the frame's key as its source_ref, and a partial
unique index makes a device result at most one original attempt. The index of unassigned
results holds only those (it held every frame).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEVICE_ORIGINAL = "source = 'device' AND supersedes_id IS NULL"
UNASSIGNED_RESULT = "frame_type = 'result' AND attribution = 'unassigned'"


def upgrade() -> None:
    with op.batch_alter_table("device_frames") as batch:
        batch.drop_index("ix_device_frames_unassigned")
        batch.drop_column("attempt_id")
    op.create_index(
        "ix_device_frames_unassigned",
        "device_frames",
        ["id"],
        sqlite_where=sa.text(UNASSIGNED_RESULT),
        postgresql_where=sa.text(UNASSIGNED_RESULT),
    )
    op.create_index(
        "ux_attempts_device_result",
        "attempts",
        ["source_ref"],
        unique=True,
        sqlite_where=sa.text(DEVICE_ORIGINAL),
        postgresql_where=sa.text(DEVICE_ORIGINAL),
    )


def downgrade() -> None:
    op.drop_index(
        "ux_attempts_device_result",
        table_name="attempts",
        sqlite_where=sa.text(DEVICE_ORIGINAL),
        postgresql_where=sa.text(DEVICE_ORIGINAL),
    )
    op.drop_index("ix_device_frames_unassigned", table_name="device_frames")
    with op.batch_alter_table("device_frames") as batch:
        batch.create_index("ix_device_frames_unassigned", ["attribution", "frame_type"])
        batch.add_column(sa.Column("attempt_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_device_frames_attempt_id", "attempts", ["attempt_id"], ["id"])
    op.execute(
        "UPDATE device_frames SET attempt_id = (SELECT a.id FROM attempts a"
        " WHERE a.source = 'device' AND a.supersedes_id IS NULL"
        " AND a.source_ref = device_frames.key)"
    )
