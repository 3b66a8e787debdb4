"""API for users and bearer tokens (admin only) and for `me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from server.accounts import service
from server.accounts.models import (
    ApiToken,
    Role,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    TokensPublic,
    User,
    UserCreate,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from server.deps import ALL_ROLES, PrincipalDep, SessionDep, SettingsDep, allow

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def _token_public(token: ApiToken, owner: User) -> TokenPublic:
    return TokenPublic(
        **token.model_dump(exclude={"token_hash"}),
        username=owner.username,
        state=service.token_state(token, owner),
    )


@router.get("/me", response_model=UserPublic, **allow(*ALL_ROLES))
def me(principal: PrincipalDep) -> UserPublic:
    """The calling user."""
    return UserPublic.model_validate(principal.user, from_attributes=True)


@router.get("/users", response_model=UsersPublic, **allow(Role.admin))
def list_users(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> UsersPublic:
    """List users."""
    users, count = service.list_users(session, offset=offset, limit=limit)
    return UsersPublic(
        data=[UserPublic.model_validate(u, from_attributes=True) for u in users], count=count
    )


@router.post("/users", response_model=UserPublic, status_code=201, **allow(Role.admin))
def create_user(session: SessionDep, principal: PrincipalDep, data: UserCreate) -> UserPublic:
    """Create a user with a role."""
    user = service.create_user(session, principal.actor, data)
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("/users/{user_id}", response_model=UserPublic, **allow(Role.admin))
def get_user(session: SessionDep, user_id: int) -> UserPublic:
    """One user."""
    return UserPublic.model_validate(service.get_user(session, user_id), from_attributes=True)


@router.patch("/users/{user_id}", response_model=UserPublic, **allow(Role.admin))
def update_user(
    session: SessionDep, principal: PrincipalDep, user_id: int, data: UserUpdate
) -> UserPublic:
    """Change a user's name, role, password or active flag."""
    user = service.update_user(session, principal.actor, user_id, data)
    return UserPublic.model_validate(user, from_attributes=True)


@router.post(
    "/users/{user_id}/tokens", response_model=TokenCreated, status_code=201, **allow(Role.admin)
)
def create_token(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    user_id: int,
    data: TokenCreate,
) -> TokenCreated:
    """Create a bearer token for a user; the secret is in this answer only."""
    token, secret = service.create_token(
        session, settings, principal.actor, user_id, data.name, data.days
    )
    owner = service.get_user(session, user_id)
    return TokenCreated(**_token_public(token, owner).model_dump(), token=secret)


@router.get("/tokens", response_model=TokensPublic, **allow(Role.admin))
def list_tokens(session: SessionDep, user_id: int | None = None) -> TokensPublic:
    """List tokens (never their secrets)."""
    rows = service.list_tokens_with_users(session, user_id=user_id)
    return TokensPublic(data=[_token_public(t, u) for t, u in rows], count=len(rows))


@router.post("/tokens/{token_id}/revoke", response_model=TokenPublic, **allow(Role.admin))
def revoke_token(
    session: SessionDep,
    principal: PrincipalDep,
    token_id: int,
    reason: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> TokenPublic:
    """Revoke a token at once."""
    token = service.revoke_token(session, principal.actor, token_id, reason)
    return _token_public(token, service.get_user(session, token.user_id))
