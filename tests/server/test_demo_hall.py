"""`make run`'s demo hall end to end: simulators → gateway → server → database, then stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from server import migrate
from tests.conftest import CLI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_results_arrive_within_a_minute_and_everything_stops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate.upgrade(url)
    env = os.environ | {
        "SAFETRAIN_DATABASE_URL": url,
        "SAFETRAIN_ENVIRONMENT": "development",
        "SAFETRAIN_PORT": str(_free_port()),
    }
    subprocess.run(
        [CLI, "demo", "load", "--if-empty"], env=env, cwd=tmp_path, check=True, capture_output=True
    )
    run = subprocess.Popen(
        [CLI, "demo", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        attempts = results = reports = 0
        by_camera: dict[str, int] = {}

        attempts_via = (
            "select count(*) from attempts a join device_frames f on f.key = a.source_ref"
            " where a.source = 'device' and f.source = "
        )
        camera_queries = {s: f"{attempts_via}'{s}'" for s in ("camera-qr", "camera-7seg")}

        while time.monotonic() < deadline and not (
            attempts and reports and all(by_camera.values())
        ):
            time.sleep(2)
            results = _count(url, "select count(*) from device_frames where frame_type = 'result'")
            attempts = _count(url, "select count(*) from attempts where source = 'device'")
            reports = _count(url, "select count(*) from gateway_reports")
            by_camera = {s: _count(url, q) for s, q in camera_queries.items()}
        assert results > 0, "no result reached the server within a minute"
        assert attempts > 0, "no result was attributed to the trainees bound at the pods"
        assert reports == 1, "the gateway did not report the hall's status"
        assert by_camera["camera-qr"] > 0, "no result QR of the camera-read pod became an attempt"
        assert by_camera["camera-7seg"] > 0, "no reading of the rig's display became an attempt"
    finally:
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=30)
    spool = str(tmp_path / "var" / "demo-hall")
    left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and spool in _cmdline(p)]
    assert left == [], "the gateway outlived `demo run`"
    assert b"/console/devices" in output
