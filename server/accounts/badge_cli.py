"""`safetrain badges …`: issue a trainee's badge (a printable PDF card) or revoke it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server import clikit
from server.accounts import badges
from server.db import session_scope
from server.errors import SafetrainError
from server.trainees.models import Trainee

badges_app = typer.Typer(help="学员胸卡 / Trainees' badges.", no_args_is_help=True)


@badges_app.command("issue")
def badges_issue(
    trainee_id: Annotated[int, typer.Argument(help="The trainee's number")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the card, e.g. card.pdf")],
) -> None:
    """发放胸卡 / Issue a new badge (the old one stops working) and write its card."""
    with session_scope(clikit.engine()) as session:
        try:
            badge, text = badges.issue(session, clikit.actor(), trainee_id)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
        trainee = session.get(Trainee, trainee_id)
        assert trainee is not None
        out.write_bytes(badges.card_pdf(trainee, text))
    clikit.out.print(f"胸卡 {badge.id} 已写入 / badge {badge.id} card written to {out}")


@badges_app.command("revoke")
def badges_revoke(
    trainee_id: Annotated[int, typer.Argument(help="The trainee's number")],
) -> None:
    """停用胸卡 / Revoke the trainee's badge (lost or handed back)."""
    with session_scope(clikit.engine()) as session:
        try:
            count = badges.revoke(session, clikit.actor(), trainee_id)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    clikit.out.print(f"已停用 {count} 张 / {count} badge(s) revoked")
