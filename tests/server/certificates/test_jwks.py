"""GET /.well-known/jwks.json: public, cacheable, every key, enough to verify a certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from server.app import ROUTERS, create_app
from server.certificates import signing
from server.certificates.keystore import KeyStore
from server.config import Environment, Settings

URL = "/.well-known/jwks.json"


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


@pytest.fixture
def jwks_client(db_url: str, engine: Engine, keys: KeyStore) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url, environment=Environment.test, keys_dir=str(keys.folder)
    )
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        yield client


class TestJwksRoute:
    def test_lists_every_key_without_login_and_may_be_cached(
        self, jwks_client: TestClient, keys: KeyStore
    ) -> None:
        first = keys.ensure()
        second = keys.rotate()
        response = jwks_client.get(URL)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["cache-control"] == "public, max-age=300"
        published = response.json()["keys"]
        assert [k["kid"] for k in published] == [first.kid, second.kid]
        for key in published:
            assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
            assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
                "OKP",
                "Ed25519",
                "EdDSA",
                "sig",
            )

    def test_what_it_publishes_verifies_a_certificate(
        self, jwks_client: TestClient, keys: KeyStore
    ) -> None:
        keys.ensure()
        token = signing.sign_document({"number": "SAFE-2026-000001", "name": "李娜"}, keys)
        verified = signing.verify_document(token, jwks_client.get(URL).json())
        assert verified.payload["name"] == "李娜"

    def test_no_private_key_material_is_published(
        self, jwks_client: TestClient, keys: KeyStore
    ) -> None:
        keys.ensure()
        body = jwks_client.get(URL).text
        assert '"d"' not in body and "PRIVATE" not in body

    def test_an_empty_store_publishes_an_empty_set(
        self, jwks_client: TestClient, keys: KeyStore
    ) -> None:
        response = jwks_client.get(URL)
        assert response.status_code == 200 and response.json() == {"keys": []}
        assert not keys.folder.exists()

    def test_a_broken_store_is_a_clear_error(self, jwks_client: TestClient, keys: KeyStore) -> None:
        keys.ensure()
        (keys.folder / "keys.json").write_text("{")
        response = jwks_client.get(URL)
        assert response.status_code == 500
        assert response.json()["error"] == "key_store_broken"
        assert "签名密钥目录损坏" in response.json()["message"]

    def test_is_declared_public(self) -> None:
        routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
        route = next(r for r in routes if r.path == URL)
        assert route.openapi_extra == {"x-roles": ["public"]}
        assert route.methods == {"GET"}
