"""`safetrain kiosk …`: set up a screen as a kiosk station, or stop one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from server import clikit
from server.accounts import kiosk
from server.db import session_scope, utcnow
from server.errors import SafetrainError

kiosk_app = typer.Typer(help="自助终端 / Kiosks.", no_args_is_help=True)


@kiosk_app.command("enrol")
def kiosk_enrol(
    station: Annotated[str, typer.Argument(help="A station of kind kiosk, e.g. KIOSK-01")],
) -> None:
    """登记自助终端屏幕 / Make a one-time setup code for a kiosk screen (valid 24 h)."""
    with session_scope(clikit.engine()) as session:
        try:
            device, code = kiosk.enrol_device(session, clikit.actor(), station)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    clikit.out.print(
        f"终端 {station.upper()} 设置码 / setup code (device {device.id}): [bold]{code}[/bold]\n"
        "在终端屏幕上打开 /kiosk/setup 输入此码（24 小时内有效，只能用一次）/ open /kiosk/setup"
        " on the kiosk's screen and type it in (valid 24 h, once)"
    )


@kiosk_app.command("revoke")
def kiosk_revoke(
    station: Annotated[str, typer.Argument(help="The kiosk station, e.g. KIOSK-01")],
) -> None:
    """停用自助终端屏幕 / Stop every screen set up for this kiosk station."""
    with session_scope(clikit.engine()) as session:
        try:
            count = kiosk.revoke_devices(session, clikit.actor(), station)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    clikit.out.print(f"已停用 {count} 个屏幕 / {count} screen(s) stopped")


@kiosk_app.command("list")
def kiosk_list() -> None:
    """列出自助终端屏幕 / List kiosk screens, newest first, with their state (never a secret)."""
    settings = clikit.settings()
    with session_scope(clikit.engine()) as session:
        rows = kiosk.list_devices(session)
        now = utcnow()
        table = Table("id", "station", "name", "state", "enrolled", "set up", "revoked")

        def local(moment: dt.datetime | None) -> str:
            return f"{moment.astimezone(settings.tz):%Y-%m-%d %H:%M}" if moment else ""

        for device, station in rows:
            table.add_row(
                str(device.id),
                station.code,
                escape(station.name),
                kiosk.device_state(device, now),
                local(device.created_at),
                local(device.activated_at),
                local(device.revoked_at),
            )
    clikit.out.print(table)
