"""`safetrain curricula …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from curricula.loader import CURRICULA_DIR, RULESETS_DIR, CatalogueError, load_catalogue
from server import clikit

curricula_app = typer.Typer(help="课程体系 / Curricula.", no_args_is_help=True)


@curricula_app.command("check")
def curricula_check(
    directory: Annotated[
        Path | None,
        typer.Option(help="A folder of curriculum files to check instead of the shipped ones"),
    ] = None,
) -> None:
    """校验课程体系与规定 / Validate every curriculum and rule-set file; names file and key of each error."""
    try:
        cat = load_catalogue(directory or CURRICULA_DIR, RULESETS_DIR)
    except CatalogueError as exc:
        for e in exc.errors:
            for key, message in e.problems:
                clikit.err.print(
                    f"[red]{escape(str(e.path))}[/red]: [bold]{escape(key or '(file)')}[/bold]: "
                    f"{escape(message)}",
                    soft_wrap=True,  # a long file path stays on one line, whole
                )
        raise typer.Exit(clikit.EXIT_BAD_INPUT) from exc
    table = Table("code", "课程 title", "hours", "questions", "scenarios")
    for c in sorted(cat.curricula.values(), key=lambda c: c.code):
        table.add_row(
            c.code,
            c.title.zh,
            f"{c.hours.theory}+{c.hours.practical}",
            str(len(c.questions)),
            str(len(c.scenarios)),
        )
    clikit.out.print(table)
    for r in cat.rule_sets:
        clikit.out.print(f"规定 rule set {r.code}: {r.effective_from} – {r.effective_until or '…'}")
    clikit.out.print("[green]全部有效 / all valid[/green]")
