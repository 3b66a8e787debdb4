"""Signed certificate documents and the key store: round trip, tampering, alg confusion, rotation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import stat
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwk as joserfc_jwk
from joserfc import jws as joserfc_jws
from joserfc.errors import SecurityWarning

from server.certificates import algorithms, signing
from server.certificates.algorithms import b64url, b64url_decode
from server.certificates.keystore import KeyStore, KeyStoreError, NoSigningKey
from server.errors import InvalidInput

PAYLOAD: dict[str, Any] = {
    "number": "SAFE-2026-000001",
    "holder": {"name": "张伟", "id_number_masked": "3206**********0154"},
    "programme": "硝化工艺作业",
    "score": 92,
    "valid_until": "2032-12-01",
}


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys")
    store.ensure()
    return store


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    header, payload, signature = token.split(".")
    return (
        json.loads(b64url_decode(header)),
        json.loads(b64url_decode(payload)),
        b64url_decode(signature),
    )


def _encode(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64url(signing.canonical_json(header))}.{b64url(signing.canonical_json(payload))}"


def _current_kid(store: KeyStore) -> str:
    return next(key.kid for key in store.list_keys() if key.current)


def _refused(token: str, jwks: dict[str, Any]) -> signing.VerificationError:
    with pytest.raises(signing.VerificationError) as caught:
        signing.verify_document(token, jwks)
    return caught.value


class TestRoundTrip:
    def test_signed_payload_verifies_with_the_stores_jwks(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        verified = signing.verify_document(token, signing.jwks(store))
        assert verified.payload == PAYLOAD
        assert verified.kid == _current_kid(store)
        assert verified.alg == "EdDSA"

    def test_header_names_alg_kid_and_typ(self, store: KeyStore) -> None:
        header, _, signature = _decode(signing.sign_document(PAYLOAD, store))
        assert header == {
            "alg": "EdDSA",
            "kid": _current_kid(store),
            "typ": "safetrain-certificate+jws",
        }
        assert len(signature) == 64

    def test_same_payload_in_any_order_gives_the_same_token(self, store: KeyStore) -> None:
        reordered = dict(reversed(list(PAYLOAD.items())))
        assert signing.sign_document(reordered, store) == signing.sign_document(PAYLOAD, store)

    def test_payload_is_sorted_utf8_json_with_chinese_readable(self, store: KeyStore) -> None:
        payload_b64 = signing.sign_document(PAYLOAD, store).split(".")[1]
        raw = b64url_decode(payload_b64)
        assert "张伟".encode() in raw and b"\\u" not in raw
        assert raw == signing.canonical_json(PAYLOAD)
        assert raw.startswith(b'{"holder":{"id_number_masked"')

    def test_a_standard_jws_library_verifies_it(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        key = joserfc_jwk.import_key(signing.jwks(store)["keys"][0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # RFC 9864 prefers "Ed25519"
            checked = joserfc_jws.deserialize_compact(token, key, algorithms=["EdDSA"])
        assert json.loads(checked.payload) == PAYLOAD

    def test_values_json_cannot_carry_are_refused(self, store: KeyStore) -> None:
        with pytest.raises(ValueError, match="Out of range float"):
            signing.sign_document({"score": float("nan")}, store)
        with pytest.raises(TypeError, match="not JSON serializable"):
            signing.sign_document({"issued": dt.date(2026, 12, 1)}, store)


class TestTampering:
    def test_a_changed_payload_is_a_bad_signature(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        header, payload, signature = _decode(token)
        forged = _encode(header, {**payload, "score": 100}) + "." + b64url(signature)
        error = _refused(forged, signing.jwks(store))
        assert isinstance(error, signing.BadSignature)
        assert error.code == "bad_signature"

    def test_one_changed_character_is_a_bad_signature(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        at = token.index(".") + 10
        forged = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
        assert isinstance(_refused(forged, signing.jwks(store)), signing.BadSignature)

    def test_a_changed_header_is_a_bad_signature(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        header, payload, signature = _decode(token)
        forged = _encode({**header, "x5u": "https://evil.example"}, payload)
        error = _refused(forged + "." + b64url(signature), signing.jwks(store))
        assert isinstance(error, signing.BadSignature)

    def test_a_changed_signature_is_a_bad_signature(self, store: KeyStore) -> None:
        header, payload, signature = _decode(signing.sign_document(PAYLOAD, store))
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        forged = _encode(header, payload) + "." + b64url(flipped)
        assert isinstance(_refused(forged, signing.jwks(store)), signing.BadSignature)

    def test_a_key_not_in_the_jwks_is_an_unknown_kid(self, store: KeyStore, tmp_path: Path) -> None:
        stranger = KeyStore(tmp_path / "stranger")
        stranger.ensure()
        token = signing.sign_document(PAYLOAD, stranger)
        error = _refused(token, signing.jwks(store))
        assert isinstance(error, signing.UnknownKey)
        assert error.details == {"kid": _current_kid(stranger)}
        assert "kid" in error.message and "公钥集中没有" in error.message

    def test_a_stranger_naming_our_kid_is_a_bad_signature(
        self, store: KeyStore, tmp_path: Path
    ) -> None:
        stranger = KeyStore(tmp_path / "stranger")
        stranger.ensure()
        _, key = stranger.current()
        header = {"alg": "EdDSA", "kid": _current_kid(store), "typ": signing.CERTIFICATE_TYP}
        signing_input = _encode(header, PAYLOAD)
        forged = signing_input + "." + b64url(key.sign(signing_input.encode()))
        assert isinstance(_refused(forged, signing.jwks(store)), signing.BadSignature)

    @pytest.mark.parametrize(
        ("token", "says"),
        [
            ("", "three parts"),
            ("abc", "three parts"),
            ("a.b.c.d", "three parts"),
            ("!!!.e30.AA", "header is not base64url"),
            (b64url(b"not json") + ".e30.AA", "header is not UTF-8 JSON"),
            (b64url(b"[1]") + ".e30.AA", "header is not a JSON object"),
            (b64url(b'{"alg":"EdDSA","kid":"k"}') + ".e30.AA", "not a safetrain certificate"),
            (
                b64url(b'{"alg":"EdDSA","alg":"none","typ":"safetrain-certificate+jws"}')
                + ".e30.AA",
                "duplicate member 'alg'",
            ),
            (
                b64url(b'{"alg":"EdDSA","crit":["b64"],"typ":"safetrain-certificate+jws"}')
                + ".e30.AA",
                "critical extensions",
            ),
            (
                b64url(b'{"alg":"EdDSA","typ":"safetrain-certificate+jws"}') + ".e30.AA",
                "no key id",
            ),
            ("e30.e30." + "x" * 200_000, "at most 200000 characters"),
        ],
    )
    def test_malformed_tokens_say_what_is_wrong(
        self, store: KeyStore, token: str, says: str
    ) -> None:
        error = _refused(token, signing.jwks(store))
        assert isinstance(error, signing.MalformedToken), error.message
        assert says in error.message
        zh, _, en = error.message.partition(" / ")
        assert zh and en and zh != en

    def test_a_non_canonical_signature_spelling_is_refused(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        # 64 bytes take 86 characters, the last with 4 spare bits: flipping one of them spells
        # the same signature differently, which would make a second valid token.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        twin = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
        assert b64url_decode(token.split(".")[2]) == _lenient(twin.split(".")[2])
        error = _refused(twin, signing.jwks(store))
        assert isinstance(error, signing.MalformedToken) and "signature" in error.message

    def test_surrounding_whitespace_is_ignored(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        assert signing.verify_document(f"\n {token}\n", signing.jwks(store)).payload == PAYLOAD


def _lenient(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TestAlgorithmConfusion:
    def test_alg_none_is_refused(self, store: KeyStore) -> None:
        header = {"alg": "none", "kid": _current_kid(store), "typ": signing.CERTIFICATE_TYP}
        error = _refused(_encode(header, PAYLOAD) + ".", signing.jwks(store))
        assert isinstance(error, signing.UnsupportedAlgorithm)
        assert error.code == "unsupported_alg" and "'none'" in error.message

    @pytest.mark.parametrize("secret_form", ["raw", "x", "jwk"])
    def test_hs256_with_the_public_key_as_secret_is_refused(
        self, store: KeyStore, secret_form: str
    ) -> None:
        public = signing.jwks(store)["keys"][0]
        secret = {
            "raw": b64url_decode(public["x"]),
            "x": public["x"].encode(),
            "jwk": json.dumps(public).encode(),
        }[secret_form]
        header = {"alg": "HS256", "kid": public["kid"], "typ": signing.CERTIFICATE_TYP}
        signing_input = _encode(header, {**PAYLOAD, "score": 100})
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        error = _refused(signing_input + "." + b64url(mac), signing.jwks(store))
        assert isinstance(error, signing.UnsupportedAlgorithm)
        assert "HS256" in error.message

    def test_a_registered_alg_other_than_the_keys_is_refused(
        self, store: KeyStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class Lenient(algorithms.Ed25519):
            name = "LENIENT"

        monkeypatch.setitem(algorithms.ALGORITHMS, "LENIENT", Lenient())
        header = {"alg": "LENIENT", "kid": _current_kid(store), "typ": signing.CERTIFICATE_TYP}
        error = _refused(_encode(header, PAYLOAD) + ".AA", signing.jwks(store))
        assert isinstance(error, signing.UnsupportedAlgorithm)
        assert "is not the algorithm EdDSA" in error.message


class TestJwksChecks:
    def test_a_key_set_that_is_not_a_jwks_is_refused(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        for bad in ({}, {"keys": "x"}, {"keys": [1]}, {"kty": "OKP"}):
            assert isinstance(_refused(token, bad), signing.InvalidJwks)

    def test_a_key_that_does_not_match_its_kid_is_refused(
        self, store: KeyStore, tmp_path: Path
    ) -> None:
        token = signing.sign_document(PAYLOAD, store)
        other = KeyStore(tmp_path / "other")
        other.ensure()
        key_set = signing.jwks(store)
        key_set["keys"][0]["x"] = signing.jwks(other)["keys"][0]["x"]
        error = _refused(token, key_set)
        assert isinstance(error, signing.InvalidJwks) and "does not match its kid" in error.message

    def test_a_key_of_another_type_is_refused(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        key_set = signing.jwks(store)
        key_set["keys"][0]["crv"] = "X25519"
        error = _refused(token, key_set)
        assert isinstance(error, signing.InvalidJwks) and "Ed25519" in error.message

    def test_an_encryption_key_is_not_used(self, store: KeyStore) -> None:
        token = signing.sign_document(PAYLOAD, store)
        key_set = signing.jwks(store)
        key_set["keys"][0]["use"] = "enc"
        assert isinstance(_refused(token, key_set), signing.UnknownKey)


class TestKeyStore:
    def test_kid_is_the_rfc7638_thumbprint(self, store: KeyStore) -> None:
        kid = _current_kid(store)
        pem = (store.folder / f"{kid}.pem").read_bytes()
        assert joserfc_jwk.import_key(pem, "OKP").thumbprint() == kid
        published = signing.jwks(store)["keys"][0]
        assert published["kid"] == kid and published["alg"] == "EdDSA"
        assert published["use"] == "sig" and published["crv"] == "Ed25519"

    def test_kid_matches_rfc_8037s_example(self) -> None:
        # RFC 8037 appendix A.3: the thumbprint of the example Ed25519 public key.
        example = {
            "crv": "Ed25519",
            "kty": "OKP",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        }
        assert algorithms.kid(example) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

    def test_files_are_owner_only_and_keys_are_pkcs8_pem(self, store: KeyStore) -> None:
        assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
        files = sorted(p for p in store.folder.iterdir() if p.name != ".lock")
        assert sorted(p.suffix for p in files) == [".json", ".pem"]
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        pem = next(p for p in files if p.suffix == ".pem").read_text()
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")

    def test_rotate_keeps_old_certificates_verifiable(self, store: KeyStore) -> None:
        old_kid = _current_kid(store)
        old = signing.sign_document(PAYLOAD, store)
        new_key = store.rotate()
        new = signing.sign_document(PAYLOAD, store)
        key_set = signing.jwks(store)
        assert [k["kid"] for k in key_set["keys"]] == [old_kid, new_key.kid]
        assert signing.verify_document(old, key_set).kid == old_kid
        assert signing.verify_document(new, key_set).kid == new_key.kid
        assert [(k.kid, k.current) for k in store.list_keys()] == [
            (old_kid, False),
            (new_key.kid, True),
        ]
        assert len(list(store.folder.glob("*.pem"))) == 2

    def test_a_rotation_is_seen_by_a_store_already_open(self, store: KeyStore) -> None:
        server_side = KeyStore(store.folder)
        signing.sign_document(PAYLOAD, server_side)
        new_key = KeyStore(store.folder).rotate()  # as `safetrain keys rotate` would
        header, _, _ = _decode(signing.sign_document(PAYLOAD, server_side))
        assert header["kid"] == new_key.kid

    def test_an_empty_store_refuses_to_sign_with_a_bilingual_message(self, tmp_path: Path) -> None:
        empty = KeyStore(tmp_path / "none")
        with pytest.raises(NoSigningKey) as caught:
            signing.sign_document(PAYLOAD, empty)
        assert caught.value.status == 503 and caught.value.code == "no_signing_key"
        assert "没有证书签名密钥" in caught.value.message
        assert "safetrain keys rotate" in caught.value.message
        assert signing.jwks(empty) == {"keys": []}
        assert not (tmp_path / "none").exists()  # reading never creates the folder

    def test_ensure_makes_the_first_key_only(self, tmp_path: Path) -> None:
        fresh = KeyStore(tmp_path / "keys")
        first = fresh.ensure()
        assert fresh.ensure() == first
        assert len(fresh.list_keys()) == 1

    def test_concurrent_rotations_lose_no_key(self, store: KeyStore) -> None:
        made: list[str] = []
        threads = [
            threading.Thread(target=lambda: made.append(KeyStore(store.folder).rotate().kid))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listed = [key.kid for key in store.list_keys()]
        assert len(listed) == 9 and set(made) <= set(listed)
        assert len(signing.jwks(store)["keys"]) == 9

    def test_an_unknown_algorithm_is_refused(self, store: KeyStore) -> None:
        with pytest.raises(InvalidInput, match="unknown signature algorithm SM2; known: EdDSA"):
            store.rotate("SM2")

    def test_a_replaced_key_file_is_refused(self, store: KeyStore) -> None:
        kid = _current_kid(store)
        impostor = algorithms.Ed25519SigningKey(Ed25519PrivateKey.generate())
        (store.folder / f"{kid}.pem").write_bytes(impostor.private_pem())
        with pytest.raises(KeyStoreError, match="does not match its kid"):
            signing.sign_document(PAYLOAD, store)
        with pytest.raises(KeyStoreError):
            signing.jwks(store)

    @pytest.mark.parametrize(
        ("content", "says"),
        [
            ("not json", "keys.json is not valid"),
            ('{"format": 2, "current": null, "keys": []}', "format 2"),
            (
                '{"format": 1, "current": "nope", "keys": [{"kid": "a", "alg": "EdDSA", '
                '"created_at": "2026-12-01T00:00:00+00:00"}]}',
                "current key 'nope' is not among the keys",
            ),
        ],
    )
    def test_a_broken_keys_json_is_named(self, store: KeyStore, content: str, says: str) -> None:
        (store.folder / "keys.json").write_text(content)
        with pytest.raises(KeyStoreError) as caught:
            store.list_keys()
        assert says in caught.value.message and "签名密钥目录损坏" in caught.value.message

    def test_key_files_without_keys_json_are_refused(self, store: KeyStore) -> None:
        (store.folder / "keys.json").unlink()
        with pytest.raises(KeyStoreError, match=r"1 key files but no keys\.json"):
            store.rotate()

    def test_a_missing_key_file_is_named(self, store: KeyStore) -> None:
        kid = _current_kid(store)
        (store.folder / f"{kid}.pem").unlink()
        with pytest.raises(KeyStoreError, match=re.escape(f"{kid}.pem")):
            store.current()


class TestPluggableAlgorithms:
    def test_another_algorithm_joins_without_changing_callers(
        self, store: KeyStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """As SM2 would: an Algorithm subclass, registered; the store, sign and verify unchanged."""

        class FullySpecifiedVerifying(algorithms.Ed25519VerifyingKey):
            alg = "Ed25519"

        class FullySpecifiedSigning(algorithms.Ed25519SigningKey):
            alg = "Ed25519"

            def public(self) -> algorithms.VerifyingKey:
                return FullySpecifiedVerifying(self._key.public_key())

        class FullySpecified(algorithms.Algorithm):  # RFC 9864's name for Ed25519
            name = "Ed25519"
            description = "Ed25519, fully specified"

            def generate(self) -> algorithms.SigningKey:
                return FullySpecifiedSigning(Ed25519PrivateKey.generate())

            def load_private(self, pem: bytes) -> algorithms.SigningKey:
                loaded = algorithms.Ed25519().load_private(pem)
                assert isinstance(loaded, algorithms.Ed25519SigningKey)
                return FullySpecifiedSigning(loaded._key)

            def load_public(self, jwk: Any) -> algorithms.VerifyingKey:
                loaded = algorithms.Ed25519().load_public(jwk)
                assert isinstance(loaded, algorithms.Ed25519VerifyingKey)
                return FullySpecifiedVerifying(loaded._key)

        monkeypatch.setitem(algorithms.ALGORITHMS, "Ed25519", FullySpecified())
        old = signing.sign_document(PAYLOAD, store)
        store.rotate("Ed25519")
        new = signing.sign_document(PAYLOAD, store)
        key_set = signing.jwks(store)
        assert [k["alg"] for k in key_set["keys"]] == ["EdDSA", "Ed25519"]
        assert signing.verify_document(old, key_set).alg == "EdDSA"
        assert signing.verify_document(new, key_set).alg == "Ed25519"
        assert _decode(new)[0]["alg"] == "Ed25519"
