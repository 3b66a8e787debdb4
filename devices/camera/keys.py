"""The VR pods' result-QR keys: 32 random bytes per device, kept in a TOML file outside the
repository (readable by the gateway's user only), which the QR reader checks MACs with.

    [keys]
    "VR-03" = "<the key, base64url without padding>"
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from devices.errors import DeviceError

KEY_BYTES = 32
DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
"""What a device may be called in a result QR: no `|`, no quotes, short enough for 80 bytes."""


class KeyFileError(DeviceError):
    """The key file is missing, unreadable, not TOML, or has a bad entry (the message names
    the file and the entry)."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def _decode_key(text: str) -> bytes | None:
    if re.fullmatch(r"[A-Za-z0-9_-]+", text) is None:
        return None
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


class DeviceKeys(Mapping[str, bytes]):
    """Device name → key, as loaded from a key file (or given, for tests and simulators)."""

    def __init__(self, keys: Mapping[str, bytes], path: Path | None = None) -> None:
        for dev, key in keys.items():
            if DEVICE_NAME.fullmatch(dev) is None or len(key) != KEY_BYTES:
                raise ValueError(f"device {dev!r}: a name of A–Z a–z 0–9 _ . - and a 32-byte key")
        self._keys = dict(keys)
        self.path = path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeviceKeys:
        """The keys in the TOML file at `path`; KeyFileError names the file and a bad entry."""
        file = Path(path)
        try:
            with file.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise KeyFileError(file, "密钥文件不存在 / the key file does not exist") from None
        except OSError as exc:
            raise KeyFileError(
                file, f"无法读取密钥文件 / the key file cannot be read: {exc.strerror}"
            ) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise KeyFileError(file, f"不是有效的 TOML / not valid TOML: {exc}") from exc
        table = data.get("keys")
        if not isinstance(table, dict):
            raise KeyFileError(file, "缺少 [keys] 表 / there is no [keys] table")
        keys: dict[str, bytes] = {}
        for dev, value in table.items():
            if DEVICE_NAME.fullmatch(dev) is None:
                raise KeyFileError(
                    file,
                    f"[keys] {dev!r}: 设备名只能含 A–Z a–z 0–9 _ . -，至多 32 个字符 / "
                    "a device name is 1–32 characters of A–Z a–z 0–9 _ . -",
                )
            key = _decode_key(value) if isinstance(value, str) else None
            if key is None:
                raise KeyFileError(
                    file,
                    f"[keys] {dev!r}: 密钥须为 32 字节的 base64url 文本 / "
                    "the key must be 32 bytes written as base64url text",
                )
            keys[dev] = key
        return cls(keys, file)

    def get(self, dev: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        return self._keys.get(dev, default)

    def __getitem__(self, dev: str) -> bytes:
        return self._keys[dev]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:  # never the keys themselves, in a log or a traceback
        return f"DeviceKeys({sorted(self._keys)!r}, path={self.path!r})"


def generate(
    path: str | os.PathLike[str], devices: Iterable[str], *, replace: bool = False
) -> DeviceKeys:
    """Give each of `devices` a fresh random key in the key file at `path` (created with mode
    0600; other devices' keys in it are kept). A device that already has a key is refused
    unless `replace`: its pod would stop being believed until it is given the new key.
    """
    file = Path(path)
    existing: dict[str, bytes] = dict(DeviceKeys.load(file)) if file.exists() else {}
    wanted = list(dict.fromkeys(devices))
    for dev in wanted:
        if DEVICE_NAME.fullmatch(dev) is None:
            raise KeyFileError(
                file,
                f"{dev!r}: 设备名只能含 A–Z a–z 0–9 _ . -，至多 32 个字符 / "
                "a device name is 1–32 characters of A–Z a–z 0–9 _ . -",
            )
    taken = [dev for dev in wanted if dev in existing]
    if taken and not replace:
        raise KeyFileError(
            file,
            f"以下设备已有密钥，未覆盖 / these devices already have keys, not overwritten: "
            f"{', '.join(taken)}",
        )
    keys = {**existing, **{dev: secrets.token_bytes(KEY_BYTES) for dev in wanted}}
    lines = ["[keys]"] + [f'"{dev}" = "{encode_key(key)}"' for dev, key in keys.items()]
    try:
        _write_private(file, "\n".join(lines) + "\n")
    except OSError as exc:
        raise KeyFileError(
            file, f"无法写入密钥文件 / the key file cannot be written: {exc.strerror}"
        ) from exc
    return DeviceKeys(keys, file)


def _write_private(file: Path, text: str) -> None:
    """Replace `file` with `text` atomically, the new file readable by its owner only."""
    temp = file.with_name(f".{file.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, file)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
