"""`safetrain audit …`."""

from __future__ import annotations

import typer

from server import clikit
from server.audit import service
from server.db import session_scope

audit_app = typer.Typer(help="审计日志 / Audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """校验审计链 / Verify the audit hash chain; names every edited or deleted event (exit 1)."""
    with session_scope(clikit.engine()) as session:
        total = service.count(session)
        with clikit.out.status(f"校验 {total} 条事件 / checking {total} events …"):
            report = service.verify(session)
    if report.ok:
        clikit.out.print(f"[green]审计链完好 / audit chain intact: {report.checked} events[/green]")
        return
    for seq, zh, en in report.problems:
        clikit.err.print(f"event {seq}: {zh} / {en}", style="red")
    clikit.err.print(
        f"审计链已被篡改 / audit chain TAMPERED ({len(report.problems)} problems "
        f"in {report.checked} events)",
        style="red bold",
    )
    raise typer.Exit(1)
