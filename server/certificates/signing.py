"""Certificates as signed JSON: compact JWS with the key store's current key, checked by a JWKS.

    header  {"alg": "EdDSA", "kid": <RFC 7638 thumbprint>, "typ": "safetrain-certificate+jws"}
    token   base64url(header) "." base64url(payload) "." base64url(signature)

Header and payload are canonical JSON (sorted keys, no spaces, UTF-8, Chinese unescaped), so the
same payload always gives the same bytes. Verification needs only the JWKS, never the database.

SafetrainError
 └── VerificationError       422  the token is not a valid certificate signature
      ├── MalformedToken          not three base64url parts, not JSON, wrong typ, crit header
      ├── UnsupportedAlgorithm    alg not registered ("none", "HS256" …) or not the key's alg
      ├── UnknownKey              no key with the token's kid in the JWKS
      ├── InvalidJwks             the JWKS itself is not a key set, or a key does not fit its kid
      └── BadSignature            the signature does not match header and payload
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.certificates import algorithms
from server.certificates.algorithms import b64url, b64url_decode
from server.certificates.keystore import KeyStore
from server.errors import SafetrainError

CERTIFICATE_TYP = "safetrain-certificate+jws"
MAX_TOKEN_CHARS = 200_000  # a certificate is a few kilobytes; refuse megabytes before parsing


class VerificationError(SafetrainError):
    status = 422
    code = "invalid_signature"


class MalformedToken(VerificationError):
    code = "malformed_token"


class UnsupportedAlgorithm(VerificationError):
    code = "unsupported_alg"


class UnknownKey(VerificationError):
    code = "unknown_kid"


class InvalidJwks(VerificationError):
    code = "invalid_jwks"


class BadSignature(VerificationError):
    code = "bad_signature"


@dataclass(frozen=True)
class VerifiedDocument:
    payload: dict[str, Any]
    kid: str
    alg: str


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8 with Chinese left readable; NaN and non-JSON types refused."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def sign_document(
    payload: Mapping[str, Any], store: KeyStore, *, typ: str = CERTIFICATE_TYP
) -> str:
    """The payload as a compact JWS signed with the store's current key (NoSigningKey if none)."""
    stored, key = store.current()
    header = {"alg": key.alg, "kid": stored.kid, "typ": typ}
    signing_input = f"{b64url(canonical_json(header))}.{b64url(canonical_json(payload))}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def jwks(store: KeyStore) -> dict[str, list[dict[str, str]]]:
    """Every public key of the store, current and old, as a JSON Web Key Set (RFC 7517)."""
    return {
        "keys": [
            {**public.public_jwk(), "kid": stored.kid, "alg": stored.alg, "use": "sig"}
            for stored, public in store.public_keys()
        ]
    }


def verify_document(
    token: str, jwks: Mapping[str, Any], *, typ: str = CERTIFICATE_TYP
) -> VerifiedDocument:
    """Check a compact JWS against a key set; raise a VerificationError saying what is wrong."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken(
            f"不是签名证书文本（应为不超过 {MAX_TOKEN_CHARS} 个字符的字符串）",
            f"not a signed certificate (expected a string of at most {MAX_TOKEN_CHARS} characters)",
        )
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise MalformedToken(
            f"签名格式错误：应为以“.”分隔的三段，实为 {len(parts)} 段",
            f"not a compact JWS: expected three parts separated by '.', got {len(parts)}",
        )
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(_decode(header_b64, "头部", "header"), "头部", "header")
    payload = _decode(payload_b64, "内容", "payload")
    signature = _decode(signature_b64, "签名值", "signature")
    alg, kid = header.get("alg"), header.get("kid")
    if header.get("typ") != typ:
        raise MalformedToken(
            f"不是本系统的证书（typ 为 {header.get('typ')!r}，应为 {typ!r}）",
            f"not a safetrain certificate (typ {header.get('typ')!r}, expected {typ!r})",
        )
    if "crit" in header:
        raise MalformedToken(
            "签名头部含有无法处理的扩展（crit）",
            "the header has critical extensions (crit) that are not understood",
        )
    algorithm = algorithms.get(alg) if isinstance(alg, str) else None
    if algorithm is None:
        known = ", ".join(sorted(algorithms.ALGORITHMS))
        raise UnsupportedAlgorithm(
            f"不支持的签名算法 {alg!r}（支持 {known}）",
            f"unsupported signature algorithm {alg!r} (supported: {known})",
            details={"alg": alg},
        )
    if not isinstance(kid, str) or not kid:
        raise MalformedToken("签名头部缺少密钥标识 kid", "the header has no key id (kid)")
    jwk = _find_key(jwks, kid)
    if jwk.get("alg", alg) != alg:
        raise UnsupportedAlgorithm(
            f"签名算法 {alg} 与密钥 {kid} 的算法 {jwk.get('alg')} 不符",
            f"the token's algorithm {alg} is not the algorithm {jwk.get('alg')} of key {kid}",
            details={"alg": alg, "kid": kid},
        )
    try:
        public = algorithm.load_public(jwk)
    except ValueError as exc:
        raise InvalidJwks(
            f"公钥集中的密钥 {kid} 无效：{exc}", f"key {kid} in the key set is not valid: {exc}"
        ) from exc
    if algorithms.kid(public.public_jwk()) != kid:
        raise InvalidJwks(
            f"公钥集中的密钥 {kid} 与其标识不符", f"key {kid} in the key set does not match its kid"
        )
    if not public.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        raise BadSignature(
            "签名无效：证书内容或签名已被改动，或并非由该密钥签发",
            "the signature is not valid: the certificate or its signature was altered, "
            "or it was not signed by this key",
            details={"kid": kid},
        )
    return VerifiedDocument(
        payload=_json_object(payload, "内容", "payload"), kid=kid, alg=algorithm.name
    )


def _decode(part: str, zh: str, en: str) -> bytes:
    try:
        return b64url_decode(part)
    except ValueError as exc:
        raise MalformedToken(
            f"签名的{zh}不是 base64url 编码", f"the token's {en} is not base64url-encoded"
        ) from exc


def _json_object(data: bytes, zh: str, en: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedToken(
            f"签名的{zh}不是 UTF-8 JSON：{exc}", f"the token's {en} is not UTF-8 JSON: {exc}"
        ) from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"签名的{zh}不是 JSON 对象", f"the token's {en} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate member {key!r}")
            seen.add(key)
    return value


def _find_key(jwks: Mapping[str, Any], kid: str) -> dict[str, Any]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise InvalidJwks(
            '公钥集格式错误：应为 {"keys": [...]}',
            'the key set is not a JWKS: expected {"keys": [...]}',
        )
    for key in keys:
        if key.get("kid") == kid and key.get("use", "sig") == "sig":
            return dict(key)
    raise UnknownKey(
        f"公钥集中没有签发此证书的密钥（kid {kid}）",
        f"the key set has no key with the certificate's key id (kid {kid})",
        details={"kid": kid},
    )
