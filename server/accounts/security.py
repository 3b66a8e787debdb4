"""Password hashing (argon2 via pwdlib) and the secrets behind cookies and tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from pwdlib import PasswordHash

TOKEN_PREFIX = "st_"  # noqa: S105 - a marker, not a secret


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        # Spend the same time as a real check, so a missing account is not revealed by timing.
        _hasher().verify(password, _dummy_hash())
        return False
    return _hasher().verify(password, password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Tokens and cookies are 256-bit random, so a plain SHA-256 is a sufficient stored form."""
    return hashlib.sha256(secret.encode()).hexdigest()
