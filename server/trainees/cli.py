"""`safetrain trainees …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

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
