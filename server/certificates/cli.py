"""`safetrain keys …` (the certificate signing keys) and `safetrain cert …` (certificates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from server import clikit
from server.certificates import algorithms, signing
from server.certificates.keystore import KeyStore
from server.errors import SafetrainError

keys_app = typer.Typer(help="证书签名密钥 / Certificate signing keys.", no_args_is_help=True)
cert_app = typer.Typer(help="证书 / Certificates.", no_args_is_help=True)


def _store() -> KeyStore:
    return KeyStore.from_settings(clikit.settings())


# --- keys ------------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[
        str,
        typer.Option(help=f"Signature algorithm: {', '.join(sorted(algorithms.ALGORITHMS))}"),
    ] = algorithms.DEFAULT_ALG,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if there already is a signing key.")
    ] = False,
) -> None:
    """生成新的签名密钥 / Make a new signing key and sign with it from now on; old keys stay."""
    store = _store()
    try:
        before = {key.kid for key in store.list_keys()}
        key = store.ensure(alg) if if_empty else store.rotate(alg)
    except SafetrainError as exc:
        raise clikit.fail(exc.message) from exc
    if key.kid in before:
        clikit.out.print(f"已有签名密钥，跳过 / a signing key exists, skipped: {key.kid}")
        return
    clikit.out.print(
        f"新签名密钥 / new signing key {key.kid} ({key.alg}), "
        "此后签发的证书使用它 / certificates are signed with it from now on",
        soft_wrap=True,
    )
    if before:
        clikit.out.print(
            f"保留 {len(before)} 个旧密钥用于验证 / older keys kept for verification: {len(before)}"
        )
    clikit.out.print(
        f"请备份密钥目录 / back up the key folder: {escape(str(store.folder))}", soft_wrap=True
    )


@keys_app.command("list")
def keys_list() -> None:
    """列出签名密钥 / List the signing keys (never their private halves), oldest first."""
    store = _store()
    try:
        keys = store.list_keys()
    except SafetrainError as exc:
        raise clikit.fail(exc.message) from exc
    if not keys:
        clikit.err.print(
            "尚无签名密钥，请运行 safetrain keys rotate / "
            "no signing keys yet: run `safetrain keys rotate`",
            markup=False,
        )
        return
    table = Table("kid", "alg", "created (UTC)", "current")
    for key in keys:
        table.add_row(
            key.kid, key.alg, f"{key.created_at:%Y-%m-%d %H:%M:%S}", "✓" if key.current else ""
        )
    clikit.out.print(table)


@keys_app.command("jwks")
def keys_jwks() -> None:
    """输出公钥集 / Print the public keys as a JWKS, for `cert verify --jwks` elsewhere."""
    try:
        key_set = signing.jwks(_store())
    except SafetrainError as exc:
        raise clikit.fail(exc.message) from exc
    if not key_set["keys"]:
        clikit.err.print("尚无签名密钥 / no signing keys yet", markup=False)
    print(json.dumps(key_set, indent=2))


# --- cert ------------------------------------------------------------------------------------
# Commands that need the database (issue, list …) join this group; `verify` never touches it.


@cert_app.command("verify")
def cert_verify(
    file: Annotated[
        Path,
        typer.Argument(
            help='The certificate: a file with the compact JWS, or a JSON object with a "jws" field'
        ),
    ],
    jwks: Annotated[
        str | None,
        typer.Option(
            "--jwks",
            help="A JWKS file, or its URL (https://…/.well-known/jwks.json); "
            "default: this machine's key folder (SAFETRAIN_KEYS_DIR)",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the signed content, as JSON.")
    ] = False,
) -> None:
    """离线验证证书 / Verify a certificate's signature offline, with only the public keys."""
    token = read_certificate(file)
    key_set = _key_set(jwks)
    try:
        verified = signing.verify_document(token, key_set)
    except signing.VerificationError as exc:
        raise clikit.fail(f"证书验证失败 / certificate NOT valid: {file}: {exc.message}") from exc
    if as_json:
        print(json.dumps(verified.payload, ensure_ascii=False, indent=2, sort_keys=True))
        return
    clikit.out.print(
        f"[green]证书签名有效 / certificate signature valid[/green]: {escape(str(file))}"
    )
    table = Table("字段 field", "内容 value", show_header=True)
    for name, value in _fields(verified.payload):
        table.add_row(escape(name), escape(value))
    table.add_row("[dim]签名密钥 kid[/dim]", f"[dim]{verified.kid} ({verified.alg})[/dim]")
    clikit.out.print(table)
    clikit.out.print(
        "签名有效只说明内容未被改动；证书是否已暂停或吊销须在线查询 / a valid signature shows "
        "the content is unaltered; whether the certificate was suspended or revoked can only be "
        "checked online",
        style="dim",
    )


def read_certificate(path: Path) -> str:
    """The compact JWS in a certificate file (the token itself, or {"jws": …}); exit 2 if none."""
    try:
        text = path.read_text(encoding="utf-8-sig").strip()
    except FileNotFoundError as exc:
        raise clikit.fail(f"文件不存在 / no such file: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise clikit.fail(f"无法读取文件 / cannot read {path}: {exc}") from exc
    if not text.startswith("{"):
        return text
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise clikit.fail(f"{path}: 不是有效的 JSON / not valid JSON: {exc}") from exc
    token = document.get("jws") if isinstance(document, dict) else None
    if not isinstance(token, str):
        raise clikit.fail(
            f'{path}: JSON 中没有 "jws" 字段 / the JSON object has no "jws" text field'
        )
    return token


def _key_set(source: str | None) -> dict[str, Any]:
    if source is None:
        try:
            key_set: dict[str, Any] = signing.jwks(_store())
        except SafetrainError as exc:
            raise clikit.fail(exc.message) from exc
        if not key_set["keys"]:
            raise clikit.fail(
                "本机没有公钥，请用 --jwks 指定公钥集文件或地址 / "
                "no keys on this machine: give the key set with --jwks FILE or URL"
            )
        return key_set
    if source.startswith(("http://", "https://")):
        text = _fetch(source)
    else:
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            raise clikit.fail(f"--jwks: 文件不存在 / no such file: {source}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise clikit.fail(f"--jwks: 无法读取 / cannot read {source}: {exc}") from exc
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise clikit.fail(f"--jwks {source}: 不是有效的 JSON / not valid JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise clikit.fail(f'--jwks {source}: 不是公钥集 / not a JWKS {{"keys": [...]}}')
    return loaded


def _fetch(url: str) -> str:
    import httpx

    if url.startswith("http://"):
        clikit.err.print(
            "注意：公钥集经未加密的 http 获取，途中可能被替换 / note: the key set comes over plain "
            "http, so anyone on the way could have replaced it",
            style="yellow",
            markup=False,
        )
    try:
        response = httpx.get(url, timeout=15, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise clikit.fail(f"--jwks: 无法获取 / cannot fetch {url}: {exc}") from exc
    if response.status_code != 200:
        raise clikit.fail(f"--jwks: {url} 返回 / answered HTTP {response.status_code}")
    return response.text


def _fields(payload: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Top-level fields, nested objects as dotted names, other values as compact JSON."""
    rows: list[tuple[str, str]] = []
    for name, value in payload.items():
        if isinstance(value, dict) and value:
            rows += _fields(value, f"{prefix}{name}.")
        elif isinstance(value, str):
            rows.append((prefix + name, value))
        else:
            rows.append((prefix + name, json.dumps(value, ensure_ascii=False)))
    return rows
