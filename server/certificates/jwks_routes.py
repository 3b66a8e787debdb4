"""GET /.well-known/jwks.json: the public keys that verify the base's certificates (no login)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from server.certificates import signing
from server.certificates.keystore import KeyStore
from server.deps import SettingsDep

router = APIRouter(tags=["certificates"])
# Anyone holding a certificate may check it, the regulator's tools and a phone included.
PUBLIC: dict[str, Any] = {"openapi_extra": {"x-roles": ["public"]}}
# Short enough that a new key reaches verifiers soon after `safetrain keys rotate`.
CACHE_CONTROL = "public, max-age=300"


@router.get("/.well-known/jwks.json", **PUBLIC)
def get_jwks(settings: SettingsDep) -> JSONResponse:
    """Certificate verification keys, current and old (JWKS, RFC 7517)."""
    body = signing.jwks(KeyStore.from_settings(settings))
    return JSONResponse(body, headers={"Cache-Control": CACHE_CONTROL})
