"""`safetrain keys …` and `safetrain cert verify`: offline, with nothing but a JWKS file."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from server.certificates import signing
from server.certificates.algorithms import b64url
from server.certificates.keystore import KeyStore
from server.cli import app
from server.config import get_settings
from tests.conftest import CLI

runner = CliRunner()
PAYLOAD: dict[str, Any] = {
    "number": "SAFE-2026-000042",
    "holder": {"name": "王芳", "id_number_masked": "3206**********0154"},
    "programme": "硝化工艺作业",
    "valid_until": "2032-12-01",
}


@pytest.fixture
def keys_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyStore]:
    """The in-process CLI with its key folder in the test's own directory."""
    folder = tmp_path / "keys"
    monkeypatch.setenv("SAFETRAIN_KEYS_DIR", str(folder))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield KeyStore(folder)
    get_settings.cache_clear()


@pytest.fixture
def issued(tmp_path: Path) -> tuple[Path, Path]:
    """A signed certificate file and the JWKS file of the base that signed it, elsewhere."""
    base = KeyStore(tmp_path / "base" / "keys")
    base.ensure()
    certificate = tmp_path / "certificate.jws"
    certificate.write_text(signing.sign_document(PAYLOAD, base) + "\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signing.jwks(base)))
    return certificate, jwks


def _offline(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`safetrain …` in a fresh process with no SAFETRAIN_* setting, no database, no server."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


class TestCertVerifyOffline:
    def test_a_jwks_file_is_all_it_needs(self, issued: tuple[Path, Path], tmp_path: Path) -> None:
        certificate, jwks = issued
        empty = tmp_path / "empty"
        empty.mkdir()
        result = _offline(["cert", "verify", str(certificate), "--jwks", str(jwks)], empty)
        assert result.returncode == 0, result.stderr
        assert "证书签名有效 / certificate signature valid" in result.stdout
        for shown in ("SAFE-2026-000042", "王芳", "硝化工艺作业", "2032-12-01", "holder.name"):
            assert shown in result.stdout
        assert list(empty.iterdir()) == []  # no database, no key folder, nothing written

    def test_a_tampered_file_exits_2_saying_why(
        self, issued: tuple[Path, Path], tmp_path: Path
    ) -> None:
        certificate, jwks = issued
        header, _, signature = certificate.read_text().strip().split(".")
        changed = signing.canonical_json({**PAYLOAD, "valid_until": "2099-12-01"})
        forged = tmp_path / "forged.jws"
        forged.write_text(f"{header}.{b64url(changed)}.{signature}")
        result = _offline(["cert", "verify", str(forged), "--jwks", str(jwks)], tmp_path)
        assert result.returncode == 2
        assert "证书验证失败 / certificate NOT valid" in result.stderr
        assert "签名无效" in result.stderr and "the signature is not valid" in result.stderr
        assert "Traceback" not in result.stderr and "2099" not in result.stdout

    def test_a_json_document_with_a_jws_field(
        self, issued: tuple[Path, Path], tmp_path: Path
    ) -> None:
        certificate, jwks = issued
        document = tmp_path / "certificate.json"
        document.write_text(
            json.dumps({"jws": certificate.read_text().strip(), "format": "safetrain"})
        )
        result = _offline(
            ["cert", "verify", str(document), "--jwks", str(jwks), "--json"], tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == PAYLOAD

    def test_a_key_set_from_elsewhere_is_an_unknown_key(
        self, issued: tuple[Path, Path], tmp_path: Path
    ) -> None:
        certificate, _ = issued
        other = KeyStore(tmp_path / "other")
        other.ensure()
        jwks = tmp_path / "other.json"
        jwks.write_text(json.dumps(signing.jwks(other)))
        result = _offline(["cert", "verify", str(certificate), "--jwks", str(jwks)], tmp_path)
        assert result.returncode == 2
        assert "kid" in result.stderr and "公钥集中没有" in result.stderr

    def test_the_key_set_can_come_from_a_url(
        self, issued: tuple[Path, Path], tmp_path: Path
    ) -> None:
        certificate, jwks = issued
        with _serving(jwks.read_bytes()) as url:
            result = _offline(["cert", "verify", str(certificate), "--jwks", url], tmp_path)
        assert result.returncode == 0, result.stderr
        assert "plain http" in result.stderr  # a warning, not a refusal
        assert "SAFE-2026-000042" in result.stdout

    @pytest.mark.parametrize(
        ("make", "says"),
        [
            (lambda d: d / "missing.jws", "no such file"),
            (lambda d: _write(d / "c.json", '{"cert": "x"}'), 'no "jws" text field'),
            (lambda d: _write(d / "c.json", "{nope"), "not valid JSON"),
            (lambda d: _write(d / "c.jws", "hello"), "three parts"),
        ],
    )
    def test_bad_certificate_files_are_named(
        self, issued: tuple[Path, Path], tmp_path: Path, make: Any, says: str
    ) -> None:
        _, jwks = issued
        path = make(tmp_path)
        result = runner.invoke(app, ["cert", "verify", str(path), "--jwks", str(jwks)])
        assert result.exit_code == 2
        assert says in result.output and path.name in result.output

    @pytest.mark.parametrize(
        ("content", "says"),
        [(None, "no such file"), ("[]", "not a JWKS"), ("{", "not valid JSON")],
    )
    def test_bad_key_sets_are_named(
        self, issued: tuple[Path, Path], tmp_path: Path, content: str | None, says: str
    ) -> None:
        certificate, _ = issued
        jwks = tmp_path / "bad-jwks.json"
        if content is not None:
            jwks.write_text(content)
        result = runner.invoke(app, ["cert", "verify", str(certificate), "--jwks", str(jwks)])
        assert result.exit_code == 2
        assert says in result.output and "--jwks" in result.output

    def test_without_jwks_the_local_key_folder_is_used(self, keys_env: KeyStore) -> None:
        empty = runner.invoke(app, ["cert", "verify", "whatever.jws"])
        assert empty.exit_code == 2 and "no such file" in empty.output
        keys_env.ensure()
        certificate = keys_env.folder.parent / "local.jws"
        certificate.write_text(signing.sign_document(PAYLOAD, keys_env))
        result = runner.invoke(app, ["cert", "verify", str(certificate)])
        assert result.exit_code == 0, result.output
        assert "王芳" in result.output

    def test_without_jwks_or_local_keys_it_says_what_to_give(
        self, keys_env: KeyStore, issued: tuple[Path, Path]
    ) -> None:
        certificate, _ = issued
        result = runner.invoke(app, ["cert", "verify", str(certificate)])
        assert result.exit_code == 2
        assert "--jwks" in result.output


class TestKeysCommands:
    def test_rotate_list_and_jwks(self, keys_env: KeyStore) -> None:
        listed = runner.invoke(app, ["keys", "list"])
        assert listed.exit_code == 0 and "no signing keys yet" in listed.output
        first = runner.invoke(app, ["keys", "rotate"])
        assert first.exit_code == 0, first.output
        second = runner.invoke(app, ["keys", "rotate"])
        assert "older keys kept for verification: 1" in second.output
        kids = [key.kid for key in keys_env.list_keys()]
        assert len(kids) == 2 and kids[0] in first.output and kids[1] in second.output
        table = runner.invoke(app, ["keys", "list"]).output
        assert kids[0] in table and kids[1] in table and "EdDSA" in table and "✓" in table
        published = json.loads(runner.invoke(app, ["keys", "jwks"]).stdout)
        assert [k["kid"] for k in published["keys"]] == kids
        assert stat.S_IMODE(keys_env.folder.stat().st_mode) == 0o700

    def test_rotate_if_empty_makes_the_first_key_only(self, keys_env: KeyStore) -> None:
        made = runner.invoke(app, ["keys", "rotate", "--if-empty"])
        assert made.exit_code == 0 and "new signing key" in made.output
        again = runner.invoke(app, ["keys", "rotate", "--if-empty"])
        assert again.exit_code == 0 and "skipped" in again.output
        assert len(keys_env.list_keys()) == 1

    def test_an_unknown_algorithm_exits_2(self, keys_env: KeyStore) -> None:
        result = runner.invoke(app, ["keys", "rotate", "--alg", "SM2"])
        assert result.exit_code == 2
        assert "unknown signature algorithm SM2" in result.output
        assert not keys_env.folder.exists()

    def test_a_broken_folder_exits_2_naming_it(self, keys_env: KeyStore) -> None:
        keys_env.ensure()
        (keys_env.folder / "keys.json").write_text("garbage")
        for command in (["keys", "list"], ["keys", "rotate"], ["keys", "jwks"]):
            result = runner.invoke(app, command)
            assert result.exit_code == 2, command
            assert "keys.json is not valid" in result.output

    def test_a_folder_that_cannot_be_made_exits_2_naming_it(
        self, keys_env: KeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        monkeypatch.setenv("SAFETRAIN_KEYS_DIR", str(blocker / "keys"))
        get_settings.cache_clear()
        result = runner.invoke(app, ["keys", "rotate"])
        assert result.exit_code == 2
        assert "signing key folder" in result.output and str(blocker) in result.output


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


class _Jwks(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _serving:
    """A one-file web server on a free port, serving a JWKS as the base's server would."""

    def __init__(self, body: bytes) -> None:
        handler = type("Handler", (_Jwks,), {"body": body})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
