"""Liveness and readiness."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from server.config import Settings


class TestHealth:
    def test_healthz(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}

    def test_readyz_when_migrated(self, client: TestClient) -> None:
        response = client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert (
            body["database"] == "ok" and body["migrations"]["current"] == body["migrations"]["head"]
        )

    def test_readyz_503_when_schema_is_behind(self, client: TestClient, engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "safetrain db upgrade" in response.json()["message"]

    def test_openapi_docs_are_served_without_internet(self, client: TestClient) -> None:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "cdn." not in page.text and "https://" not in page.text
        assert client.get("/static/api-docs/swagger-ui-bundle.js").status_code == 200
        spec = client.get("/openapi.json").json()
        assert spec["paths"]["/api/v1/trainees"]["get"]["x-roles"] == [
            "admin",
            "examiner",
            "trainer",
        ]


class TestSettings:
    def test_trusted_proxies_from_a_comma_separated_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SAFETRAIN_TRUSTED_PROXIES", "10.0.0.5, 10.0.0.6")
        assert Settings().trusted_proxies == ["10.0.0.5", "10.0.0.6"]

    def test_bad_time_zone_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SAFETRAIN_DISPLAY_TIMEZONE", "Mars/Olympus")
        with pytest.raises(ValueError, match="Mars/Olympus"):
            Settings()
