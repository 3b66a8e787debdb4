"""Request dependencies: the database session, who is calling, and which roles a route allows."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from server.accounts import service as accounts
from server.accounts.models import ApiToken, Role, User
from server.audit.service import Actor
from server.config import Settings
from server.db import reading
from server.errors import NotAuthenticated, NotPermitted

SESSION_COOKIE = "safetrain_session"
CSRF_COOKIE = "safetrain_csrf"
LANG_COOKIE = "safetrain_lang"


async def get_settings(request: Request) -> Settings:
    # async, having nothing to wait for: a plain def would cost every request a thread hop.
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(get_engine(request), expire_on_commit=False) as session:
        yield session


@lru_cache(maxsize=8)
def _reading(engine: Engine) -> Engine:
    return reading(engine)


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for routes that only read: on SQLite its transaction begins deferred, so
    readers never queue for the write lock. Made without a thread hop (a session touches the
    database only when used) and closed in the thread pool if the route left it open (closing
    ends the transaction); a route that closes it itself, in its own hop, saves that one."""
    session = Session(_reading(get_engine(request)), expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def client_address(request: Request, settings: Settings) -> str:
    """The caller's address; X-Forwarded-For is believed only from a configured proxy."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in settings.trusted_proxies:
        candidate = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of an API route (bearer token)."""

    user: User
    token: ApiToken

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def actor(self) -> Actor:
        return Actor(name=self.user.username, user_id=self.user.id, role=self.user.role)


def get_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated(
            "需要 Bearer 令牌", "a bearer token is required", code="not_authenticated"
        )
    found = accounts.resolve_token(session, secret.strip())
    if found is None:
        raise NotAuthenticated(
            "令牌无效、已过期或已吊销",
            "the token is invalid, expired or revoked",
            code="invalid_token",
        )
    user, token = found
    return Principal(user=user, token=token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def allow(*roles: Role) -> dict[str, Any]:
    """Route keyword arguments stating (in OpenAPI, as x-roles) and enforcing who may call it."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> None:
        if principal.role not in allowed:
            raise NotPermitted(
                f"角色“{principal.role.label('zh')}”无权执行此操作",
                f"the {principal.role.value} role may not do this",
                details={"allowed_roles": sorted(r.value for r in allowed)},
            )

    return {
        "dependencies": [Depends(check)],
        "openapi_extra": {"x-roles": sorted(r.value for r in allowed)},
    }


ALL_ROLES = tuple(Role)
STAFF = (Role.admin, Role.trainer, Role.examiner)
