"""`safetrain trainees …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlmodel import select

from server import clikit
from server.db import session_scope
from server.trainees import service

trainees_app = typer.Typer(help="学员 / Trainees.", no_args_is_help=True)


@trainees_app.command("import")
def trainees_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or XLSX roster")
    ],
    valid_only: Annotated[
        bool, typer.Option("--valid-only", help="Import the good rows even if some rows are bad")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check only; import nothing")] = False,
) -> None:
    """导入学员花名册 / Import a roster; lists every bad row with its column and reason."""
    with (
        clikit.out.status("导入中 / importing …"),
        session_scope(clikit.engine()) as session,
    ):
        report = service.import_roster(
            session,
            clikit.actor(),
            file.read_bytes(),
            file.name,
            valid_only=valid_only,
            dry_run=dry_run,
        )
    if report.errors:
        table = Table(
            "行 row",
            "列 column",
            "问题 problem",
            "内容 value",
            title=f"{file}: {len(report.errors)} 处错误 / problems",
        )
        for e in report.errors:
            table.add_row(str(e.row), escape(e.column), escape(e.message), escape(e.value))
        clikit.err.print(table)
    rows = f"读取 {report.rows_read} 行 / read {report.rows_read} row(s)"
    if dry_run:
        clikit.out.print(
            f"{rows}; 可导入 {report.valid_rows} 人 / would import {report.valid_rows}"
        )
    else:
        clikit.out.print(f"{rows}; 导入 {report.imported} 人 / imported {report.imported}")
    if report.employers_created:
        clikit.out.print("新增工作单位 / new employers: " + "、".join(report.employers_created))
    if report.errors and not report.imported and not dry_run:
        hint = (
            "" if valid_only or not report.valid_rows else " (--valid-only imports the good rows)"
        )
        raise clikit.fail(f"未导入任何学员 / nothing was imported{hint}")
    if report.errors and dry_run:
        raise typer.Exit(clikit.EXIT_BAD_INPUT)


@trainees_app.command("pin")
def trainees_pin(
    trainee: Annotated[str, typer.Argument(help="Trainee id, or their ID number")],
    pin: Annotated[
        str | None, typer.Option(help="The new 6-digit PIN (asked for, hidden, if omitted)")
    ] = None,
) -> None:
    """设置学员自助终端 PIN 码 / Set or reset a trainee's kiosk PIN (6 digits, never shown)."""
    from server.accounts import pins
    from server.accounts.kiosk import normalize_id_number
    from server.errors import SafetrainError
    from server.trainees.models import Trainee

    if pin is None:
        pin = typer.prompt("PIN (6 位数字 / 6 digits)", hide_input=True, confirmation_prompt=True)
    with session_scope(clikit.engine()) as session:
        if trainee.isdigit() and len(trainee) < 10:
            found = session.get(Trainee, int(trainee))
        else:
            found = session.exec(
                select(Trainee).where(Trainee.id_number == normalize_id_number(trainee))
            ).first()
        if found is None or found.id is None:
            raise clikit.fail(f"学员 {trainee} 不存在 / no trainee {trainee}")
        try:
            pins.set_pin(session, clikit.actor(), found.id, pin)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
        clikit.out.print(f"已设置 PIN 码 / PIN set: {escape(found.name)} (trainee {found.id})")
