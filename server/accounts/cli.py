"""`safetrain user …` and `safetrain token …`."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from server import clikit
from server.accounts import service
from server.accounts.models import CONSOLE_ROLES, Role, UserCreate
from server.db import session_scope
from server.errors import SafetrainError

user_app = typer.Typer(help="用户 / Users.", no_args_is_help=True)
token_app = typer.Typer(help="API 令牌 / API bearer tokens.", no_args_is_help=True)


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
    trainee_id: Annotated[
        int | None, typer.Option(help="For a trainee account: the registered trainee it belongs to")
    ] = None,
) -> None:
    """创建用户 / Create a user with a role."""
    try:
        role_value = Role(role)
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise clikit.fail(f"--role: 未知角色 unknown role {role!r}; use one of {roles}") from exc
    if password is None and role_value in CONSOLE_ROLES:
        password = typer.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(
            username=username,
            display_name=name,
            role=role_value,
            password=password,
            trainee_id=trainee_id,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise clikit.fail(f"输入有误 / invalid input: {problems}") from exc
    with session_scope(clikit.engine()) as session:
        try:
            user = service.create_user(session, clikit.actor(), data)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    clikit.out.print(f"已创建用户 / created user {user.username} ({user.role}, id {user.id})")


@user_app.command("unlock")
def user_unlock(username: Annotated[str, typer.Argument(help="The locked account")]) -> None:
    """解除登录锁定 / Clear an account's failed logins, lifting a rate-limit lock at once."""
    with session_scope(clikit.engine()) as session:
        cleared = service.clear_login_failures(session, clikit.actor(), username)
    clikit.out.print(f"已清除 {cleared} 次失败记录 / cleared {cleared} failed logins of {username}")


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
    """创建 API 令牌 / Create a bearer token; it is printed once, on standard output."""
    settings = clikit.settings()
    with session_scope(clikit.engine()) as session:
        user = service.user_by_username(session, username)
        if user is None or user.id is None:
            raise clikit.fail(f"用户不存在 / no such user: {username}")
        try:
            token, secret = service.create_token(
                session, settings, clikit.actor(), user.id, name, days
            )
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    clikit.err.print(
        f"令牌 {token.id} ({token.role}) 有效期至 / expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
        " — 只显示这一次 / shown once:"
    )
    print(secret)


@token_app.command("list")
def token_list(username: Annotated[str | None, typer.Argument()] = None) -> None:
    """列出令牌 / List tokens (never their secrets)."""
    with session_scope(clikit.engine()) as session:
        user_id = None
        if username:
            user = service.user_by_username(session, username)
            if user is None:
                raise clikit.fail(f"用户不存在 / no such user: {username}")
            user_id = user.id
        rows = service.list_tokens_with_users(session, user_id=user_id)
    table = Table("id", "user", "name", "role", "prefix", "expires (UTC)", "state")
    for token, owner in rows:
        table.add_row(
            str(token.id),
            escape(owner.username),
            escape(token.name),
            token.role,
            token.prefix,
            f"{token.expires_at:%Y-%m-%d}",
            service.token_state(token, owner),
        )
    clikit.out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log)")] = None,
) -> None:
    """吊销令牌 / Revoke a token at once."""
    with session_scope(clikit.engine()) as session:
        try:
            service.revoke_token(session, clikit.actor(), token_id, reason)
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
    clikit.out.print(f"已吊销 / revoked token {token_id}")
