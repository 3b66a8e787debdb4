"""`safetrain stations labels`: print the QR labels trainees scan at the kiosk to bind a station."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import track

from server import clikit
from server.db import session_scope
from server.devices import labels
from server.errors import SafetrainError

stations_app = typer.Typer(help="工位 / Stations.", no_args_is_help=True)


@stations_app.command("labels")
def stations_labels(
    out: Annotated[Path, typer.Option("--out", help="Where to write the sheets, e.g. labels.pdf")],
    code: Annotated[
        list[str] | None,
        typer.Option("--code", help="Only this station (repeat for more); default: all bindable"),
    ] = None,
) -> None:
    """打印工位标签 / Print A4 sheets of station labels (QR STS1:<code>, code, name, room)."""
    with session_scope(clikit.engine()) as session:
        try:
            found = labels.labels_for(session, code or ())
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    many = len(found) > labels.PER_PAGE
    pdf = labels.labels_pdf(
        track(found, description="标签 / labels", console=clikit.err) if many else found
    )
    out.write_bytes(pdf)
    pages = -(-len(found) // labels.PER_PAGE)
    clikit.out.print(
        f"{len(found)} 张标签（{pages} 页）已写入 / {len(found)} label(s) on {pages} page(s) "
        f"written to {out}"
    )
