"""The `safetrain` command line: serve, db, demo, user, token, trainees, curricula, audit."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from server.audit.service import Actor
from server.config import Settings, get_settings
from server.db import engine_for, session_scope
from server.errors import SafetrainError

app = typer.Typer(
    help="safetrain 化工安全实训基地 / chemical-industry safety training base.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="数据库迁移 / Database migrations.", no_args_is_help=True)
demo_app = typer.Typer(help="演示数据 / Demo data.", no_args_is_help=True)
user_app = typer.Typer(help="用户 / Users.", no_args_is_help=True)
token_app = typer.Typer(help="API 令牌 / API bearer tokens.", no_args_is_help=True)
trainees_app = typer.Typer(help="学员 / Trainees.", no_args_is_help=True)
curricula_app = typer.Typer(help="课程体系 / Curricula.", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志 / Audit log.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (demo_app, "demo"),
    (user_app, "user"),
    (token_app, "token"),
    (trainees_app, "trainees"),
    (curricula_app, "curricula"),
    (audit_app, "audit"),
):
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)


def _actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        raise _fail(f"配置错误 / bad settings: {exc}") from exc


def _require_current_schema(settings: Settings) -> None:
    from server import migrate

    engine = engine_for(settings.database_url)
    if not migrate.is_current(engine):
        raise _fail(
            "数据库未升级到最新版本，请先运行 safetrain db upgrade / "
            "the database schema is not current: run `safetrain db upgrade` first"
        )


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

    settings = _settings()
    _require_current_schema(settings)
    host = host or settings.host
    port = port or settings.port
    base = f"http://{host}:{port}"
    out.print(
        f"[bold]safetrain[/bold] {settings.environment.value} · {settings.database_url.split('@')[-1]}"
    )
    out.print(f"  控制台 console   {base}/console")
    out.print(f"  API 文档 docs    {base}/docs")
    out.print(f"  健康检查 health  {base}/readyz")
    uvicorn.run(
        "server.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        log_level="info",
    )


# --- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """创建或升级数据库 / Create or upgrade the database to the newest schema."""
    from server import migrate

    settings = _settings()
    migrate.upgrade(settings.database_url, revision)
    current = migrate.current_revision(engine_for(settings.database_url))
    out.print(f"数据库已是最新 / database at revision {current}")


@db_app.command("current")
def db_current() -> None:
    """显示当前数据库版本 / Show the database's revision and the newest one."""
    from server import migrate

    settings = _settings()
    current = migrate.current_revision(engine_for(settings.database_url))
    head = migrate.head_revision(settings.database_url)
    out.print(f"current {current} · head {head}")
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
    from server import demo
    from server.accounts.models import CONSOLE_ROLES

    settings = _settings()
    if settings.environment.value == "production":
        raise _fail("生产环境不能载入演示数据 / demo data is refused in production")
    _require_current_schema(settings)
    engine = engine_for(settings.database_url)
    with session_scope(engine) as session:
        tokens = demo.load(
            session,
            settings,
            _actor(),
            if_empty=if_empty,
            progress=lambda items, n: track(items, total=n, description="demo"),
        )
    out.print(
        "演示数据已载入 / demo data loaded"
        if tokens is not None
        else "已有数据，跳过 / data present, skipped"
    )
    table = Table(title="演示账号 / demo logins")
    table.add_column("用户名 username")
    table.add_column("角色 role")
    table.add_column("登录 sign-in")
    for username, role, _ in demo.DEMO_USERS:
        how = f"password {demo.DEMO_PASSWORD}" if role in CONSOLE_ROLES else "bearer token"
        table.add_row(username, role.value, how)
    out.print(table)
    if tokens:
        out.print("令牌只显示这一次 / tokens, shown this once:")
        for username, secret in tokens.items():
            out.print(f"  {username}: {secret}", soft_wrap=True)


# --- users and tokens --------------------------------------------------------------------


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name: lower-case letters, digits, . _ -")],
    role: Annotated[
        str, typer.Option(help="admin, trainer, examiner, trainee, regulator or gateway")
    ],
    name: Annotated[str, typer.Option("--name", help="Display name")],
    password: Annotated[
        str | None, typer.Option(help="Password (asked for if omitted and the role logs in)")
    ] = None,
) -> None:
    """创建用户 / Create a user with a role."""
    from pydantic import ValidationError

    from server.accounts import service
    from server.accounts.models import CONSOLE_ROLES, Role, UserCreate

    try:
        role_value = Role(role)
    except ValueError as exc:
        raise _fail(
            f"--role: 未知角色 unknown role {role!r}; use one of {', '.join(r.value for r in Role)}"
        ) from exc
    if password is None and role_value in CONSOLE_ROLES:
        password = typer.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(username=username, display_name=name, role=role_value, password=password)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"输入有误 / invalid input: {problems}") from exc
    settings = _settings()
    with session_scope(engine_for(settings.database_url)) as session:
        try:
            user = service.create_user(session, _actor(), data)
        except SafetrainError as exc:
            raise _fail(exc.message) from exc
    out.print(f"已创建用户 / created user {user.username} ({user.role}, id {user.id})")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="Whose token (its role is the user's role)")],
    name: Annotated[
        str, typer.Option("--name", help="What the token is for, e.g. 'hall-1 gateway'")
    ],
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Days until it expires (default SAFETRAIN_TOKEN_DEFAULT_DAYS)"),
    ] = None,
) -> None:
    """创建 API 令牌 / Create a bearer token; it is printed once."""
    from server.accounts import service

    settings = _settings()
    with session_scope(engine_for(settings.database_url)) as session:
        user = service.user_by_username(session, username)
        if user is None or user.id is None:
            raise _fail(f"用户不存在 / no such user: {username}")
        try:
            token, secret = service.create_token(session, settings, _actor(), user.id, name, days)
        except SafetrainError as exc:
            raise _fail(exc.message) from exc
    err.print(
        f"令牌 {token.id} ({token.role}) 有效期至 / expires {token.expires_at:%Y-%m-%d %H:%M} UTC — 只显示这一次 / shown once:"
    )
    print(secret)


@token_app.command("list")
def token_list(username: Annotated[str | None, typer.Argument()] = None) -> None:
    """列出令牌 / List tokens (never their secrets)."""
    from server.accounts import service

    settings = _settings()
    with session_scope(engine_for(settings.database_url)) as session:
        user_id = None
        if username:
            user = service.user_by_username(session, username)
            if user is None:
                raise _fail(f"用户不存在 / no such user: {username}")
            user_id = user.id
        tokens = service.list_tokens(session, user_id=user_id)
    table = Table("id", "user", "name", "role", "prefix", "expires (UTC)", "revoked")
    for t in tokens:
        table.add_row(
            str(t.id),
            str(t.user_id),
            t.name,
            t.role,
            t.prefix,
            f"{t.expires_at:%Y-%m-%d}",
            "yes" if t.revoked_at else "",
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log)")] = None,
) -> None:
    """吊销令牌 / Revoke a token at once."""
    from server.accounts import service

    settings = _settings()
    with session_scope(engine_for(settings.database_url)) as session:
        try:
            service.revoke_token(session, _actor(), token_id, reason)
        except SafetrainError as exc:
            raise _fail(exc.message) from exc
    out.print(f"已吊销 / revoked token {token_id}")


# --- trainees ------------------------------------------------------------------------------


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
    from server.trainees import service

    settings = _settings()
    with (
        out.status("导入中 / importing …"),
        session_scope(engine_for(settings.database_url)) as session,
    ):
        report = service.import_roster(
            session, _actor(), file.read_bytes(), file.name, valid_only=valid_only, dry_run=dry_run
        )
    if report.errors:
        table = Table(
            "行 row",
            "列 column",
            "问题 problem",
            "内容 value",
            title=f"{file}: {len(report.errors)} 处错误 problems",
        )
        for e in report.errors:
            table.add_row(str(e.row), e.column, e.message, e.value)
        err.print(table)
    out.print(
        f"读取 {report.rows_read} 行，导入 {report.imported} 人 / read {report.rows_read} rows, imported {report.imported}"
    )
    if report.employers_created:
        out.print("新增工作单位 / new employers: " + "、".join(report.employers_created))
    if report.errors and not report.imported and not dry_run:
        raise _fail(
            "未导入任何学员 / nothing was imported (use --valid-only to import the good rows)"
        )
    if report.errors and dry_run:
        raise typer.Exit(2)


# --- curricula -----------------------------------------------------------------------------


@curricula_app.command("check")
def curricula_check(
    directory: Annotated[
        Path | None,
        typer.Option(help="A folder of curriculum files to check instead of the shipped ones"),
    ] = None,
) -> None:
    """校验课程体系与规定 / Validate every curriculum and rule-set file; names file and key of each error."""
    from curricula.loader import CURRICULA_DIR, RULESETS_DIR, CatalogueError, load_catalogue

    try:
        cat = load_catalogue(directory or CURRICULA_DIR, RULESETS_DIR)
    except CatalogueError as exc:
        for e in exc.errors:
            for key, message in e.problems:
                err.print(f"[red]{e.path}[/red]: [bold]{key or '(file)'}[/bold]: {message}")
        raise typer.Exit(2) from exc
    table = Table("code", "课程 title", "hours", "questions", "scenarios")
    for c in sorted(cat.curricula.values(), key=lambda c: c.code):
        table.add_row(
            c.code,
            c.title.zh,
            f"{c.hours.theory}+{c.hours.practical}",
            str(len(c.questions)),
            str(len(c.scenarios)),
        )
    out.print(table)
    for r in cat.rule_sets:
        out.print(f"规定 rule set {r.code}: {r.effective_from} – {r.effective_until or '…'}")
    out.print("[green]全部有效 / all valid[/green]")


# --- audit -------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify() -> None:
    """校验审计链 / Verify the audit hash chain; names every edited or deleted event."""
    from server.audit import service

    settings = _settings()
    with session_scope(engine_for(settings.database_url)) as session:
        total = service.count(session)
        with out.status(f"校验 {total} 条事件 / checking {total} events …"):
            report = service.verify(session)
    if report.ok:
        out.print(f"[green]审计链完好 / audit chain intact: {report.checked} events[/green]")
        return
    for seq, zh, en in report.problems:
        err.print(f"[red]event {seq}[/red]: {zh} / {en}")
    err.print(
        f"[red]审计链已被篡改 / audit chain TAMPERED ({len(report.problems)} problems in {report.checked} events)[/red]"
    )
    raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])
