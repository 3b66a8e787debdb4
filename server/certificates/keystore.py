"""The signing keys, in a folder outside the database: one PKCS#8 PEM file per key, keys.json.

    var/keys/                       0700
      keys.json                     which key is current; each key's alg and creation time
      <kid>.pem                     0600, the private key; kid = its public key's RFC 7638 thumbprint

`rotate()` adds a key and makes it current; older keys stay, so certificates signed with them
still verify. Nothing here makes a key on its own: the first one comes from `safetrain keys
rotate` (or `ensure()`, which `safetrain demo load` and tests use). Every read goes to the files,
so a rotation by the command line is seen by running servers at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.certificates import algorithms
from server.certificates.algorithms import SigningKey, VerifyingKey
from server.config import Settings
from server.errors import InvalidInput, SafetrainError

META_FILE = "keys.json"
LOCK_FILE = ".lock"
FORMAT = 1


class NoSigningKey(SafetrainError):
    """There is no key to sign with: an administrator has to make the first one."""

    status = 503
    code = "no_signing_key"


class KeyStoreError(SafetrainError):
    """The key folder is unreadable or its files disagree (edited, truncated, half restored)."""

    status = 500
    code = "key_store_broken"


@dataclass(frozen=True)
class StoredKey:
    kid: str
    alg: str
    created_at: dt.datetime
    current: bool


class KeyStore:
    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        return cls(settings.keys_dir)

    # --- reading ----------------------------------------------------------------------------

    def list_keys(self) -> list[StoredKey]:
        """Every key, oldest first; none if the folder or its keys.json does not exist yet."""
        meta = self._read_meta()
        return [
            StoredKey(
                kid=entry["kid"],
                alg=entry["alg"],
                created_at=dt.datetime.fromisoformat(entry["created_at"]),
                current=entry["kid"] == meta["current"],
            )
            for entry in meta["keys"]
        ]

    def current(self) -> tuple[StoredKey, SigningKey]:
        """The key new certificates are signed with; NoSigningKey if there is none."""
        for stored in self.list_keys():
            if stored.current:
                return stored, self._load(stored)
        raise NoSigningKey(
            f"没有证书签名密钥：请管理员运行 safetrain keys rotate 生成（密钥目录 {self.folder}）",
            f"there is no certificate signing key: an administrator must run "
            f"`safetrain keys rotate` to make one (key folder {self.folder})",
        )

    def public_keys(self) -> list[tuple[StoredKey, VerifyingKey]]:
        """Every key's public half, oldest first, each checked against its kid."""
        return [(stored, self._load(stored).public()) for stored in self.list_keys()]

    # --- writing ----------------------------------------------------------------------------

    def rotate(self, alg: str = algorithms.DEFAULT_ALG) -> StoredKey:
        """Make a new key and make it current; the older keys stay for verification."""
        algorithm = _algorithm(alg)
        with self._writing():
            return self._add(algorithm)

    def ensure(self, alg: str = algorithms.DEFAULT_ALG) -> StoredKey:
        """The current key, made first if the store has none (demo data and tests)."""
        algorithm = _algorithm(alg)
        with self._writing():
            for stored in self.list_keys():
                if stored.current:
                    return stored
            return self._add(algorithm)

    def _add(self, algorithm: algorithms.Algorithm) -> StoredKey:
        meta = self._read_meta()
        key = algorithm.generate()
        kid = algorithms.kid(key.public().public_jwk())
        created = dt.datetime.now(dt.UTC).replace(microsecond=0)
        _write_private(self.folder / f"{kid}.pem", key.private_pem())
        meta["keys"].append({"kid": kid, "alg": algorithm.name, "created_at": created.isoformat()})
        meta["current"] = kid
        self._write_meta(meta)
        return StoredKey(kid=kid, alg=algorithm.name, created_at=created, current=True)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time, across processes (two rotations never lose a key)."""
        try:
            try:
                self.folder.mkdir(mode=0o700, parents=True)
            except FileExistsError:
                pass  # an existing folder keeps the mode its administrator gave it
            else:
                self.folder.chmod(0o700)  # mkdir's mode is reduced by the umask, never widened
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        except OSError as exc:
            raise self._unwritable(exc) from exc
        finally:
            os.close(fd)  # releases the lock

    def _unwritable(self, exc: OSError) -> KeyStoreError:
        return KeyStoreError(
            f"无法写入签名密钥目录 {self.folder}：{exc.strerror or exc}",
            f"cannot write to the signing key folder {self.folder}: {exc.strerror or exc}",
        )

    # --- files ------------------------------------------------------------------------------

    def _read_meta(self) -> dict[str, Any]:
        path = self.folder / META_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            pems = sorted(self.folder.glob("*.pem")) if self.folder.is_dir() else []
            if pems:
                raise self._broken(
                    f"有 {len(pems)} 个密钥文件但缺少 {META_FILE}",
                    f"{len(pems)} key files but no {META_FILE}",
                ) from None
            return {"format": FORMAT, "current": None, "keys": []}
        except OSError as exc:
            raise self._broken(f"无法读取 {path}：{exc}", f"cannot read {path}: {exc}") from exc
        try:
            meta = json.loads(text)
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
            kids = [entry["kid"] for entry in meta["keys"]]
            for entry in meta["keys"]:
                if not isinstance(entry["kid"], str) or not isinstance(entry["alg"], str):
                    raise ValueError("kid and alg must be strings")
                dt.datetime.fromisoformat(entry["created_at"])
            if kids and meta["current"] not in kids:
                raise ValueError(f"current key {meta['current']!r} is not among the keys")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._broken(f"{path} 无效：{exc}", f"{path} is not valid: {exc}") from exc
        return dict(meta)

    def _write_meta(self, meta: dict[str, Any]) -> None:
        path = self.folder / META_FILE
        temporary = path.with_name(META_FILE + ".tmp")
        data = json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        _write_private(temporary, data, replace=True)
        os.replace(temporary, path)
        _fsync_folder(self.folder)

    def _load(self, stored: StoredKey) -> SigningKey:
        path = self.folder / f"{stored.kid}.pem"
        algorithm = algorithms.get(stored.alg)
        if algorithm is None:
            raise self._broken(
                f"密钥 {stored.kid} 的算法 {stored.alg} 未注册",
                f"key {stored.kid} uses the algorithm {stored.alg}, which is not registered",
            )
        try:
            key = algorithm.load_private(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise self._broken(f"{path} 无法读取：{exc}", f"cannot load {path}: {exc}") from exc
        actual = algorithms.kid(key.public().public_jwk())
        if actual != stored.kid:
            raise self._broken(
                f"{path} 中的密钥与其密钥标识不符（实为 {actual}）",
                f"the key in {path} does not match its kid (it is {actual})",
            )
        return key

    def _broken(self, zh: str, en: str) -> KeyStoreError:
        return KeyStoreError(f"签名密钥目录损坏：{zh}", f"the signing key folder is broken: {en}")


def _algorithm(alg: str) -> algorithms.Algorithm:
    algorithm = algorithms.get(alg)
    if algorithm is None:
        known = ", ".join(sorted(algorithms.ALGORITHMS))
        raise InvalidInput(
            f"未知的签名算法 {alg}，可用：{known}",
            f"unknown signature algorithm {alg}; known: {known}",
            code="unknown_algorithm",
        )
    return algorithm


def _write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write a file readable by its owner only (0600), durably, refusing to overwrite a key."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    with os.fdopen(os.open(path, flags, 0o600), "wb") as file:
        os.fchmod(file.fileno(), 0o600)  # O_TRUNC keeps an old file's mode
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
