"""Signature algorithms for certificates, registered by their JWS `alg` name (Ed25519 today).

An algorithm makes, loads and exports keys; a key signs bytes or verifies a signature and shows
its public half as a JWK. Callers name algorithms only by `alg`, so another one (SM2, which
China's e-certificate standard names) is added by writing one `Algorithm` subclass and calling
`register(...)` — the key store, `sign_document`, `verify_document` and the JWKS stay as they are.
"""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jwk as joserfc_jwk


class VerifyingKey(Protocol):
    """A public key: checks signatures made by its private half."""

    @property
    def alg(self) -> str: ...

    def verify(self, signature: bytes, data: bytes) -> bool: ...

    def public_jwk(self) -> dict[str, str]:
        """The JWK members RFC 7638 requires for this key type, and nothing else."""
        ...


class SigningKey(Protocol):
    """A private key: signs, and knows its public half."""

    @property
    def alg(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...

    def public(self) -> VerifyingKey: ...

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, as the key store writes it."""
        ...


class Algorithm(ABC):
    """One JWS signature algorithm: new keys, keys from PEM files, public keys from JWKs."""

    name: ClassVar[str]  # the JWS header's "alg"
    description: ClassVar[str]

    @abstractmethod
    def generate(self) -> SigningKey: ...

    @abstractmethod
    def load_private(self, pem: bytes) -> SigningKey:
        """Raise ValueError saying what is wrong if the PEM is not a private key of this kind."""

    @abstractmethod
    def load_public(self, jwk: Mapping[str, Any]) -> VerifyingKey:
        """Raise ValueError naming the member that is wrong if the JWK is not a key of this kind."""


def kid(public_jwk: Mapping[str, str]) -> str:
    """The key id: the RFC 7638 SHA-256 thumbprint of the public key's required JWK members."""
    return joserfc_jwk.thumbprint(dict(public_jwk))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: any other spelling of the same bytes is refused."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


# --- Ed25519 (RFC 8037: kty OKP, crv Ed25519, alg EdDSA) -----------------------------------


class Ed25519VerifyingKey:
    alg = "EdDSA"

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def public_jwk(self) -> dict[str, str]:
        raw = self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}


class Ed25519SigningKey:
    alg = "EdDSA"

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public(self) -> VerifyingKey:
        return Ed25519VerifyingKey(self._key.public_key())

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


class Ed25519(Algorithm):
    name = "EdDSA"
    description = "Ed25519 (RFC 8032, JWS per RFC 8037)"

    def generate(self) -> SigningKey:
        return Ed25519SigningKey(Ed25519PrivateKey.generate())

    def load_private(self, pem: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an unencrypted PKCS#8 PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"an {type(key).__name__}, not an Ed25519 private key")
        return Ed25519SigningKey(key)

    def load_public(self, jwk: Mapping[str, Any]) -> VerifyingKey:
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError(
                f"kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r}: EdDSA needs OKP and Ed25519"
            )
        x = jwk.get("x")
        try:
            raw = b64url_decode(x) if isinstance(x, str) else b""
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ValueError("x is not a 32-byte base64url Ed25519 public key")
        return Ed25519VerifyingKey(Ed25519PublicKey.from_public_bytes(raw))


# --- the registry ----------------------------------------------------------------------------

ALGORITHMS: dict[str, Algorithm] = {}
DEFAULT_ALG = Ed25519.name


def register(algorithm: Algorithm) -> Algorithm:
    """Make an algorithm available to the key store (`keys rotate --alg`) and to verification."""
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get(name: str) -> Algorithm | None:
    return ALGORITHMS.get(name)


register(Ed25519())
