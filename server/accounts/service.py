"""Users, passwords, login sessions, API tokens and login rate limiting; every write commits once."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from server.accounts.models import (
    CONSOLE_ROLES,
    ApiToken,
    LoginFailure,
    LoginSession,
    Role,
    User,
    UserCreate,
    UserUpdate,
)
from server.accounts.security import (
    digest,
    hash_password,
    new_api_token,
    new_secret,
    verify_password,
)
from server.audit import service as audit
from server.audit.service import Actor
from server.config import Settings
from server.db import utcnow
from server.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyAttempts


def _user_snapshot(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "is_active": user.is_active,
        "trainee_id": user.trainee_id,
        "password_set": user.password_hash is not None,
    }


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(
            f"用户 {user_id} 不存在", f"user {user_id} does not exist", code="user_not_found"
        )
    return user


def user_by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


def list_users(session: Session, *, offset: int = 0, limit: int = 100) -> tuple[list[User], int]:
    total = session.exec(select(func.count()).select_from(User)).one()
    rows = session.exec(select(User).order_by(col(User.username)).offset(offset).limit(limit)).all()
    return list(rows), int(total)


def create_user(session: Session, actor: Actor, data: UserCreate) -> User:
    username = data.username.strip().lower()
    if user_by_username(session, username) is not None:
        raise Conflict(
            f"用户名 {username} 已被使用",
            f"username {username} is already taken",
            code="username_taken",
            details={"field": "username"},
        )
    if data.role in CONSOLE_ROLES and not data.password:
        raise InvalidInput(
            "控制台用户必须设置密码（至少10个字符）",
            "console users need a password (at least 10 characters)",
            code="password_required",
            details=[{"field": "password", "code": "password_required"}],
        )
    _check_trainee_link(session, data)
    user = User(
        username=username,
        display_name=data.display_name.strip(),
        role=data.role,
        password_hash=hash_password(data.password) if data.password else None,
        trainee_id=data.trainee_id,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, after=_user_snapshot(user))
    session.commit()
    return user


def _check_trainee_link(session: Session, data: UserCreate) -> None:
    from server.trainees.models import Trainee

    if data.trainee_id is None:
        return
    if data.role is not Role.trainee:
        raise InvalidInput(
            "只有学员账号可以关联学员",
            "only a trainee account can belong to a trainee",
            details=[{"field": "trainee_id", "code": "trainee_link_role"}],
        )
    if session.get(Trainee, data.trainee_id) is None:
        raise InvalidInput(
            f"学员 {data.trainee_id} 不存在",
            f"trainee {data.trainee_id} does not exist",
            details=[{"field": "trainee_id", "code": "trainee_not_found"}],
        )
    taken = session.exec(select(User).where(User.trainee_id == data.trainee_id)).first()
    if taken is not None:
        raise Conflict(
            f"学员 {data.trainee_id} 已有账号 {taken.username}",
            f"trainee {data.trainee_id} already has the account {taken.username}",
            code="trainee_has_account",
            details={"field": "trainee_id"},
        )


def update_user(session: Session, actor: Actor, user_id: int, data: UserUpdate) -> User:
    user = get_user(session, user_id)
    before = _user_snapshot(user)
    changes = data.model_dump(exclude_unset=True)
    if "display_name" in changes and changes["display_name"] is not None:
        user.display_name = changes["display_name"].strip()
    if changes.get("role") is not None:
        user.role = changes["role"]
    if changes.get("is_active") is not None:
        user.is_active = changes["is_active"]
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
    if user.role in CONSOLE_ROLES and user.password_hash is None:
        raise InvalidInput(
            "控制台用户必须设置密码",
            "console users need a password",
            code="password_required",
            details=[{"field": "password", "code": "password_required"}],
        )
    user.updated_at = utcnow()
    if not user.is_active or before["role"] != user.role or changes.get("password"):
        # A role change, a password reset or a deactivation ends the user's console sessions.
        session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "user.update", "user", user.id, before=before, after=_user_snapshot(user)
    )
    session.commit()
    return user


# --- login and rate limiting -------------------------------------------------------------


def _failures_since(
    session: Session, column: str, value: str, since: dt.datetime
) -> list[dt.datetime]:
    field = LoginFailure.account if column == "account" else LoginFailure.address
    rows = session.exec(
        select(LoginFailure.at).where(field == value, col(LoginFailure.at) >= since)
    ).all()
    return list(rows)


def _check_rate(session: Session, settings: Settings, account: str, address: str) -> None:
    window = dt.timedelta(minutes=settings.login_window_minutes)
    now = utcnow()
    since = now - window
    for column, value, limit in (
        ("account", account, settings.login_max_failures_per_account),
        ("address", address, settings.login_max_failures_per_address),
    ):
        failures = _failures_since(session, column, value, since)
        if len(failures) >= limit:
            # Blocked until the oldest counted failure leaves the window.
            oldest = sorted(failures)[len(failures) - limit]
            retry = max(1, math.ceil((oldest + window - now).total_seconds()))
            minutes = math.ceil(retry / 60)
            raise TooManyAttempts(
                f"登录失败次数过多，请 {minutes} 分钟后再试",
                f"too many failed logins, try again in {minutes} min",
                details={"retry_after_seconds": retry, "limit": column},
            )


def authenticate(
    session: Session, settings: Settings, username: str, password: str, address: str
) -> User:
    """Check a password login, counting failures per account and per address in the database."""
    account = username.strip().lower()[:64]
    address = address[:64]
    _check_rate(session, settings, account, address)
    user = user_by_username(session, account)
    ok = verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.is_active or user.role not in CONSOLE_ROLES:
        session.add(LoginFailure(account=account, address=address))
        # The kiosk's PIN failures share the table: keep them for the kiosk's window too.
        keep = max(settings.login_window_minutes, settings.kiosk_pin_lockout_minutes)
        cutoff = utcnow() - dt.timedelta(minutes=keep)
        session.execute(delete(LoginFailure).where(col(LoginFailure.at) < cutoff))
        session.commit()
        if ok and user is not None and user.is_active:
            raise NotAuthenticated(
                "该角色不能登录培训控制台",
                "this role cannot log in to the console",
                code="console_role_refused",
            )
        raise NotAuthenticated(
            "用户名或密码错误", "wrong username or password", code="bad_credentials"
        )
    session.execute(delete(LoginFailure).where(col(LoginFailure.account) == account))
    return user


@dataclass(frozen=True)
class NewLogin:
    cookie: str
    login: LoginSession


def start_login_session(session: Session, settings: Settings, user: User, address: str) -> NewLogin:
    cookie = new_secret()
    assert user.id is not None
    login = LoginSession(
        id=digest(cookie),
        user_id=user.id,
        csrf_token=new_secret(),
        address=address[:64],
        expires_at=utcnow() + dt.timedelta(hours=settings.session_hours),
    )
    session.add(login)
    session.execute(delete(LoginSession).where(col(LoginSession.expires_at) < utcnow()))
    audit.record(
        session,
        Actor(name=user.username, user_id=user.id, role=user.role),
        "user.login",
        "user",
        user.id,
        after={"address": address[:64]},
    )
    session.commit()
    return NewLogin(cookie=cookie, login=login)


def resolve_login_session(session: Session, cookie: str) -> tuple[User, LoginSession] | None:
    login = session.get(LoginSession, digest(cookie))
    if login is None or login.expires_at <= utcnow():
        return None
    user = session.get(User, login.user_id)
    if user is None or not user.is_active or user.role not in CONSOLE_ROLES:
        return None
    return user, login


def end_login_session(session: Session, cookie: str) -> None:
    session.execute(delete(LoginSession).where(col(LoginSession.id) == digest(cookie)))
    session.commit()


# --- API tokens --------------------------------------------------------------------------


def create_token(
    session: Session,
    settings: Settings,
    actor: Actor,
    user_id: int,
    name: str,
    days: int | None = None,
) -> tuple[ApiToken, str]:
    """Make a bearer token for a user, scoped to the user's current role; returns the secret once."""
    user = get_user(session, user_id)
    if not user.is_active:
        raise Conflict(
            "停用的用户不能创建令牌",
            "cannot create a token for an inactive user",
            code="user_inactive",
        )
    days = days or settings.token_default_days
    if days > settings.token_max_days:
        raise InvalidInput(
            f"令牌有效期最长 {settings.token_max_days} 天",
            f"a token may last at most {settings.token_max_days} days",
            code="token_too_long",
            details=[{"field": "days", "code": "token_too_long"}],
        )
    secret = new_api_token()
    assert user.id is not None
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        role=user.role,
        token_hash=digest(secret),
        prefix=secret[:10],
        expires_at=utcnow() + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor,
        "token.create",
        "api_token",
        token.id,
        after={"user_id": user.id, "name": token.name, "role": token.role, "days": days},
    )
    session.commit()
    return token, secret


def list_tokens_with_users(
    session: Session, *, user_id: int | None = None
) -> list[tuple[ApiToken, User]]:
    """Tokens with their owners, oldest first."""
    query = select(ApiToken, User).join(User, col(User.id) == ApiToken.user_id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [(t, u) for t, u in session.exec(query.order_by(col(ApiToken.id))).all()]


def token_state(token: ApiToken, owner: User, now: dt.datetime | None = None) -> str:
    """Whether a token would be accepted now, and if not, why (what resolve_token decides)."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    if not owner.is_active:
        return "user_inactive"
    if owner.role != token.role:
        return "role_changed"
    return "active"


def clear_login_failures(session: Session, actor: Actor, username: str) -> int:
    """Lift a rate-limit lock on an account (an admin who knows the lock-out was not an attack)."""
    account = username.strip().lower()
    failures = session.exec(select(LoginFailure).where(LoginFailure.account == account)).all()
    for failure in failures:
        session.delete(failure)
    user = user_by_username(session, account)
    if user is not None:
        audit.record(
            session,
            actor,
            "user.unlock",
            "user",
            user.id,
            after={"cleared_failures": len(failures)},
        )
    session.commit()
    return len(failures)


def revoke_token(
    session: Session, actor: Actor, token_id: int, reason: str | None = None
) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(
            f"令牌 {token_id} 不存在", f"token {token_id} does not exist", code="token_not_found"
        )
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        audit.record(
            session,
            actor,
            "token.revoke",
            "api_token",
            token.id,
            after={"revoked": True},
            reason=reason,
        )
        session.commit()
    return token


def resolve_token(session: Session, secret: str) -> tuple[User, ApiToken] | None:
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(secret))).first()
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = session.get(User, token.user_id)
    # A token is scoped to the role it was made for: a changed role makes it invalid.
    if user is None or not user.is_active or user.role != token.role:
        return None
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
        session.add(token)
        session.commit()
    return user, token


def role_of(user: User) -> Role:
    return Role(user.role)
