"""stations.toml: the stations of one hall — code, device URL, baud rate, kind — for a gateway.

    [gateway]                       # optional; command-line options override each key
    name = "hall1"
    server_url = "http://127.0.0.1:8000"
    spool = "var/gateway-hall1.sqlite3"
    status_port = 8765

    [[station]]
    code = "VR-01"                  # the station's code on the server (A–Z 0–9 -, ≤ 16)
    kind = "vr_pod"                 # vr_pod, fall_rig, shock_rig, mech_rig, exam_seat
    url = "/dev/ttyUSB0"            # a device path or socket://, rfc2217://, loop://
    baud = 115200                   # optional, default 115200 (8N1)

docs/device-protocol.md describes it in full; devices/examples/hall1.toml matches the
simulators' defaults.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.camera.config import CameraConfig, needs_keys, parse_cameras
from devices.codec import DEFAULT_BAUD, DEVICE_KINDS
from devices.connection import Station

STATION_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,15}")
SCENARIO_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,15}")
GATEWAY_KEYS = {"name", "server_url", "spool", "status_port", "device_keys"}
STATION_KEYS = {"code", "kind", "url", "baud"}


class ConfigError(Exception):
    """stations.toml does not validate; names the file and every bad key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclass(frozen=True)
class GatewayConfig:
    path: Path
    stations: tuple[Station, ...]
    name: str = "gateway"
    server_url: str | None = None
    spool: Path | None = None
    status_port: int | None = None
    cameras: tuple[CameraConfig, ...] = ()
    device_keys: Path | None = None  # the pods' result-QR keys (docs/cameras.md)


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from exc
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path) -> GatewayConfig:
    problems: list[str] = []
    for key in sorted(set(data) - {"gateway", "station", "camera"}):
        problems.append(f"{key}: unknown key (expected [gateway], [[station]] and [[camera]])")
    gateway = data.get("gateway", {})
    if not isinstance(gateway, dict):
        problems.append("gateway: must be a table")
        gateway = {}
    for key in sorted(set(gateway) - GATEWAY_KEYS):
        problems.append(f"gateway.{key}: unknown key (known: {', '.join(sorted(GATEWAY_KEYS))})")
    name = gateway.get("name", path.stem)
    server_url = gateway.get("server_url")
    spool = gateway.get("spool")
    status_port = gateway.get("status_port")
    if not isinstance(name, str) or not name:
        problems.append("gateway.name: must be a non-empty string")
    if server_url is not None and (
        not isinstance(server_url, str) or not server_url.startswith(("http://", "https://"))
    ):
        problems.append("gateway.server_url: must be an http:// or https:// URL")
    if spool is not None and (not isinstance(spool, str) or not spool):
        problems.append("gateway.spool: must be a file path")
    if status_port is not None and (type(status_port) is not int or not 0 <= status_port <= 65535):
        problems.append("gateway.status_port: must be a port number 0…65535 (0: any free port)")

    cameras = parse_cameras(
        data.get("camera", []),
        problems,
        station_code=STATION_CODE,
        device_code=STATION_CODE,
        scenario_code=SCENARIO_CODE,
    )
    device_keys = gateway.get("device_keys")
    if device_keys is not None and (not isinstance(device_keys, str) or not device_keys):
        problems.append("gateway.device_keys: must be a file path")
    elif device_keys is None and needs_keys(data.get("camera")):
        problems.append(
            "gateway.device_keys: a camera reads result QR codes: name the pods' key "
            "file (safetrain camera keys add --help)"
        )
    entries = data.get("station", [])
    if not isinstance(entries, list) or (not entries and "camera" not in data):
        problems.append("station: at least one [[station]] or [[camera]] is needed")
        entries = []
    stations: list[Station] = []
    seen_codes: dict[str, int] = {}
    seen_urls: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"station[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        code = entry.get("code")
        if isinstance(code, str):
            where = f"station[{i}:{code}]"
        for key in sorted(set(entry) - STATION_KEYS):
            problems.append(
                f"{where}.{key}: unknown key (known: {', '.join(sorted(STATION_KEYS))})"
            )
        kind, url, baud = entry.get("kind"), entry.get("url"), entry.get("baud", DEFAULT_BAUD)
        bad = len(problems)
        if not isinstance(code, str) or STATION_CODE.fullmatch(code) is None:
            problems.append(f"{where}.code: must be 1–16 of A–Z 0–9 - (got {code!r})")
        elif code in seen_codes:
            problems.append(f"{where}.code: {code} is also station[{seen_codes[code]}]")
        if kind not in DEVICE_KINDS:
            problems.append(f"{where}.kind: must be one of {', '.join(sorted(DEVICE_KINDS))}")
        if not isinstance(url, str) or not url.strip():
            problems.append(f"{where}.url: must be a device path or a pyserial URL")
        elif url in seen_urls:
            problems.append(f"{where}.url: {url} is also station[{seen_urls[url]}]'s")
        if type(baud) is not int or baud <= 0:
            problems.append(f"{where}.baud: must be a positive whole number (got {baud!r})")
        if len(problems) == bad:
            assert isinstance(code, str) and isinstance(url, str) and isinstance(kind, str)
            seen_codes[code] = i
            seen_urls[url] = i
            stations.append(Station(code=code, url=url, kind=kind, baud=baud))
    if problems:
        raise ConfigError(path, problems)
    return GatewayConfig(
        path=path,
        stations=tuple(stations),
        name=str(name),
        server_url=server_url,
        spool=Path(spool) if spool else None,
        status_port=status_port,
        cameras=cameras,
        device_keys=Path(device_keys) if device_keys else None,
    )
