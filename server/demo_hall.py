"""The demo hall for `make run`: simulators of the demo stations and a gateway beside the server.

Each runs as its own `safetrain` process, exactly as an installer would start them: the VR pods
on pseudo-terminals (symlinked where `devices/examples/hall1.toml` expects them), the three rigs
on TCP ports, and the gateway with a fresh token of the demo gateway account; the gateway's
simulated cameras (a pod's result QR, a legacy rig's display, an exam seat) run inside it. They
are stopped with the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

import devices
from server.accounts import service as accounts
from server.audit.service import Actor
from server.config import Settings
from server.db import session_scope

HALL_CONFIG = Path(devices.__file__).resolve().parent / "examples" / "hall1.toml"
PTY_DIR = Path("/tmp/safetrain-hall1")  # noqa: S108 - where hall1.toml names the pods' ports (symlinks only)
GATEWAY_USER = "gateway.hall1"
RIGS = (("fall-rig", 7201), ("shock-rig", 7202), ("mech-rig", 7203))


def _safetrain() -> list[str]:
    found = shutil.which("safetrain", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "server.cli"]


def gateway_token(engine: Engine, settings: Settings, actor: Actor) -> str | None:
    """A fresh token of the demo gateway account (None when the demo data is not loaded)."""
    with session_scope(engine) as session:
        user = accounts.user_by_username(session, GATEWAY_USER)
        if user is None or user.id is None or not user.is_active:
            return None
        _, secret = accounts.create_token(session, settings, actor, user.id, "make run", 1)
        return secret


CAMERA_PODS = ("VR-07",)  # hall1.toml's pods whose result QR a camera reads


def camera_pod_key(path: Path) -> None:
    """The camera-read pods' QR keys, made once: the simulated pod signs with the key the
    gateway checks with (hall1.toml's device_keys names this file)."""
    from devices.camera.keys import DeviceKeys, generate

    have = set(DeviceKeys.load(path)) if path.exists() else set()
    missing = [dev for dev in CAMERA_PODS if dev not in have]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        generate(path, missing)


def start(
    engine: Engine, settings: Settings, actor: Actor, server_url: str, logs: Path
) -> list[subprocess.Popen[bytes]]:
    """Start the simulators and the gateway; their output goes to files under `logs`."""
    token = gateway_token(engine, settings, actor)
    if token is None:
        return []
    logs.mkdir(parents=True, exist_ok=True)
    PTY_DIR.mkdir(parents=True, exist_ok=True)
    camera_pod_key(logs / "device-keys.toml")
    cli = _safetrain()
    commands = [
        ("sim-vr", [*cli, "sim", "vr-pod", "--pty", "--devices", "6", "--link-dir", str(PTY_DIR)]),
        *((f"sim-{kind}", [*cli, "sim", kind, "--tcp", str(port)]) for kind, port in RIGS),
        (
            "gateway",
            [
                *cli,
                "gateway",
                "--config",
                str(HALL_CONFIG),
                "--server-url",
                server_url,
                "--spool",
                str(logs / "gateway-hall1.sqlite3"),
            ],
        ),
    ]
    env = os.environ | {"SAFETRAIN_GATEWAY_TOKEN": token}
    started = []
    for name, command in commands:
        out = (logs / f"{name}.log").open("ab")
        started.append(
            subprocess.Popen(  # noqa: S603 - our own CLI, arguments are ours
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        )
    return started


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
