"""`safetrain recordings …`: the exam recordings kept, and deleting those past their retention."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import col, func, select

from server import clikit
from server.assessment import recordings
from server.assessment.models import ExamRecording
from server.assessment.sittings import LOCAL
from server.db import session_scope

recordings_app = typer.Typer(
    help="考试录像 / Exam recordings: what is kept, and deleting those past retention.",
    no_args_is_help=True,
)


@recordings_app.command("status")
def recordings_status() -> None:
    """录像存量 / Recordings stored, waiting for bytes, and deleted after retention."""
    with session_scope(clikit.engine()) as session:
        rows = session.exec(
            select(
                col(ExamRecording.stored_at).is_not(None),
                col(ExamRecording.pruned_at).is_not(None),
                func.count(),
                func.coalesce(func.sum(ExamRecording.size_bytes), 0),
            ).group_by(
                col(ExamRecording.stored_at).is_not(None),
                col(ExamRecording.pruned_at).is_not(None),
            )
        ).all()
        due = session.exec(
            select(func.min(ExamRecording.keep_until)).where(
                col(ExamRecording.pruned_at).is_(None), col(ExamRecording.stored_at).is_not(None)
            )
        ).one()
    table = Table("状态 state", "文件 files", "大小 size")
    for stored, pruned, count, size in rows:
        label = "已按期删除 pruned" if pruned else "保存中 kept" if stored else "上传中 uploading"
        table.add_row(label, str(count), f"{int(size) / 1e9:.2f} GB")
    clikit.out.print(table)
    if due is not None:
        clikit.out.print(
            f"最早到期 / first due for deletion: {due.astimezone(LOCAL):%Y-%m-%d %H:%M} (+08:00)"
        )


@recordings_app.command("prune")
def recordings_prune(
    yes: Annotated[
        bool, typer.Option("--yes", help="Delete without asking (for a nightly job).")
    ] = False,
) -> None:
    """删除过期录像 / Delete the files of recordings past their retention (never one before)."""
    settings = clikit.settings()
    if not yes and not typer.confirm(
        "删除所有已过保存期的考试录像？/ Delete every recording past retention?"
    ):
        raise typer.Exit(1)
    with session_scope(clikit.engine()) as session:
        done = recordings.prune(session, clikit.actor(), settings)
        freed = sum(r.size_bytes for r in done)
    clikit.out.print(
        f"已删除 {len(done)} 个录像，释放 {freed / 1e9:.2f} GB / "
        f"deleted {len(done)} recordings past retention, {freed / 1e9:.2f} GB freed"
    )
