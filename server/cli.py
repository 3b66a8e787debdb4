"""The `safetrain` command line. Each domain contributes its command group; see docs/cli/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import track
from rich.table import Table
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

import server.models  # noqa: F401 - every table, so foreign keys between domains resolve
from devices.camera.cli import camera_app
from devices.cli import gateway_app, sim_app
from server import clikit, demo_hall
from server.accounts.badge_cli import badges_app
from server.accounts.cli import token_app, user_app
from server.accounts.kiosk_cli import kiosk_app
from server.assessment.recordings_cli import recordings_app
from server.audit.cli import audit_app
from server.catalog.cli import curricula_app
from server.certificates.cli import cert_app, keys_app
from server.certificates.keystore import KeyStore
from server.db import session_scope
from server.devices.labels_cli import stations_app
from server.errors import SafetrainError
from server.outbox.cli import outbox_app
from server.trainees.cli import trainees_app

app = typer.Typer(
    help="safetrain 化工安全实训基地 / chemical-industry safety training base.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="数据库迁移 / Database migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="演示数据 / Demo data.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (demo_app, "demo"),
    (user_app, "user"),
    (token_app, "token"),
    (trainees_app, "trainees"),
    (kiosk_app, "kiosk"),
    (badges_app, "badges"),
    (stations_app, "stations"),
    (curricula_app, "curricula"),
    (audit_app, "audit"),
    (keys_app, "keys"),
    (cert_app, "cert"),
    (outbox_app, "outbox"),
    (recordings_app, "recordings"),
):
    app.add_typer(sub, name=name)
app.add_typer(sim_app, name="sim")
app.add_typer(gateway_app, name="gateway")
app.add_typer(camera_app, name="camera")


# --- serve -------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default SAFETRAIN_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SAFETRAIN_PORT).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes; state lives in the database.")
    ] = 1,
    proxy_headers: Annotated[
        bool, typer.Option(help="Trust X-Forwarded-* from SAFETRAIN_TRUSTED_PROXIES.")
    ] = True,
) -> None:
    """启动服务器 / Start the web server (API, console, docs)."""
    import uvicorn

    settings = clikit.settings()
    clikit.require_current_schema()
    host = host or settings.host
    port = port or settings.port
    base = f"http://{host}:{port}"
    where = settings.database_url.split("@")[-1]  # never print a password
    clikit.out.print(f"safetrain {settings.environment.value} · {where}", markup=False)
    clikit.out.print(f"  控制台 console   {base}/console")
    clikit.out.print(f"  API 文档 docs    {base}/docs")
    clikit.out.print(f"  健康检查 health  {base}/readyz")
    uvicorn.run(
        "server.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        log_level="info",
    )


@demo_app.command("run")
def demo_run(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default SAFETRAIN_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SAFETRAIN_PORT).")] = None,
    devices: Annotated[
        bool, typer.Option(help="Start the demo hall's simulators and gateway too.")
    ] = True,
) -> None:
    """演示运行 / Serve, with the demo hall's simulated pods, rigs and gateway (`make run`)."""
    settings = clikit.settings()
    if settings.environment.value == "production":
        raise clikit.fail("生产环境不能运行演示设备 / the demo hall is refused in production")
    url = f"http://{host or settings.host}:{port or settings.port}"
    hall = (
        demo_hall.start(clikit.engine(), settings, clikit.actor(), url, Path("var/demo-hall"))
        if devices
        else []
    )
    if hall:
        clikit.out.print(
            f"  演示设备 devices  {len(hall) - 1} simulators and a gateway → {url}/console/devices"
            " (logs in var/demo-hall/)"
        )
    try:
        serve(host=host, port=port)
    finally:
        demo_hall.stop(hall)


# --- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """创建或升级数据库 / Create or upgrade the database to the newest schema."""
    from server import migrate

    settings = clikit.settings()
    migrate.upgrade(settings.database_url, revision)
    current = migrate.current_revision(clikit.engine())
    clikit.out.print(f"数据库已是最新 / database at revision {current}")


@db_app.command("current")
def db_current() -> None:
    """显示当前数据库版本 / Show the database's revision and the newest one."""
    from server import migrate

    settings = clikit.settings()
    current = migrate.current_revision(clikit.engine())
    head = migrate.head_revision(settings.database_url)
    clikit.out.print(f"current {current} · head {head}")
    if current != head:
        raise typer.Exit(1)


# --- demo --------------------------------------------------------------------------------


@demo_app.command("load")
def demo_load(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the database already has users.")
    ] = False,
) -> None:
    """载入演示数据 / Load demo users, employers and trainees (development only)."""
    from server import demo, demo_kiosk
    from server.accounts.models import CONSOLE_ROLES

    settings = clikit.settings()
    if settings.environment.value == "production":
        raise clikit.fail("生产环境不能载入演示数据 / demo data is refused in production")
    with session_scope(clikit.require_current_schema()) as session:
        loaded = demo.load(
            session,
            settings,
            clikit.actor(),
            if_empty=if_empty,
            progress=lambda items, n: track(items, total=n, description="demo"),
        )
    if loaded.anything:
        clikit.out.print(
            f"演示数据已载入 / demo data loaded: {loaded.users} users, {loaded.trainees} trainees"
        )
        plan = loaded.plan
        if plan.courses:
            clikit.out.print(
                f"演示排课 / demo plan: {plan.rooms} rooms, {plan.stations} stations "
                f"({plan.devices} with devices), "
                f"{plan.courses} courses, {plan.sessions} sessions, {plan.enrolled} enrolled, "
                f"{plan.waitlisted} waitlisted, {plan.refused} not eligible, "
                f"{plan.attendance} attendance records, {plan.bound} trainees at VR pods"
            )
    else:
        clikit.out.print("已有演示数据，跳过 / demo data present, skipped")
    try:
        key = KeyStore.from_settings(settings).ensure()  # so demo certificates can be signed
    except SafetrainError as exc:
        raise clikit.fail(exc.message) from exc
    clikit.out.print(f"证书签名密钥 / certificate signing key: {key.kid}")
    table = Table(title="演示账号 / demo logins")
    table.add_column("用户名 username")
    table.add_column("角色 role")
    table.add_column("登录 sign-in")
    for username, role, _ in demo.DEMO_USERS:
        how = f"password {demo.DEMO_PASSWORD}" if role in CONSOLE_ROLES else "bearer token"
        table.add_row(username, role.value, how)
    clikit.out.print(table)
    kiosk = loaded.kiosk
    if kiosk.pins:
        clikit.out.print(
            f"自助终端 /kiosk：演示学员 PIN 码 / kiosk demo trainees' PIN: {demo_kiosk.DEMO_PIN}"
        )
    if kiosk.trainee_id_number:
        clikit.out.print(
            f"  现在可签到 / can check in now: {kiosk.trainee_name}, ID {kiosk.trainee_id_number}"
        )
    if kiosk.certificate:
        clikit.out.print(
            f"  该学员的证书 / their certificate (/kiosk/certificates): {kiosk.certificate}"
        )
    if kiosk.setup_code:
        clikit.out.print(
            f"  {demo_kiosk.KIOSK_STATION} 设置码 / setup code (open /kiosk/setup, once): "
            f"{kiosk.setup_code}"
        )
    if loaded.tokens:
        clikit.out.print("令牌只显示这一次 / tokens, shown this once:")
        for username, secret in loaded.tokens.items():
            clikit.out.print(f"  {username}: {secret}", soft_wrap=True)


def _missing_schema(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def main() -> None:
    """The console entry point: `safetrain …`; an unreachable database is exit 3, not a traceback."""
    try:
        app()
    except (OperationalError, ProgrammingError) as exc:
        if _missing_schema(exc):
            clikit.err.print(
                "数据库尚未初始化，请先运行 safetrain db upgrade / "
                "the database has no schema yet: run `safetrain db upgrade` first",
                style="red",
                markup=False,
            )
            sys.exit(1)
        if isinstance(exc, ProgrammingError):
            raise
        clikit.err.print(
            "数据库无法连接 / cannot reach the database: " + str(exc.orig).strip().splitlines()[0],
            style="red",
            markup=False,
        )
        sys.exit(clikit.EXIT_DATABASE_UNREACHABLE)


if __name__ == "__main__":  # python -m server.cli, as the demo hall starts it without a script
    main()
