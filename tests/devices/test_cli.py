"""`safetrain sim …` and `safetrain gateway`, run as an installer would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devices.cli import gateway_app, sim_app
from devices.codec import device_frame
from devices.sim.profiles import scenarios_for
from devices.sim.server import FakeServer
from devices.spool import Outcome, Spool, SpoolItem
from server.cli import app
from tests.devices.kit import wait_for

runner = CliRunner()
SAFETRAIN = str(Path(sys.executable).with_name("safetrain"))


class TestHelp:
    @pytest.mark.parametrize(
        "command",
        [
            ["sim"],
            ["sim", "vr-pod"],
            ["sim", "fall-rig"],
            ["sim", "shock-rig"],
            ["sim", "mech-rig"],
            ["sim", "server"],
            ["gateway"],
            ["gateway", "rejected"],
        ],
        ids=" ".join,
    )
    def test_every_command_has_help_in_the_safetrain_cli(self, command: list[str]) -> None:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output

    def test_the_sim_options(self) -> None:
        text = runner.invoke(sim_app, ["vr-pod", "--help"], terminal_width=200).output
        for option in ("--pty", "--tcp", "--faults", "--rate", "--count", "--seed", "--devices"):
            assert option in text

    def test_the_gateway_options(self) -> None:
        text = runner.invoke(gateway_app, ["--help"], terminal_width=200).output
        for option in ("--config", "--server-url", "--token", "--spool", "--status-port"):
            assert option in text
        assert "SAFETRAIN_GATEWAY_TOKEN" in text


class TestBadInput:
    def test_gateway_needs_a_config(self) -> None:
        result = runner.invoke(gateway_app, [])
        assert result.exit_code == 2 and "--config is required" in result.output

    def test_gateway_names_the_bad_key(self, tmp_path: Path) -> None:
        path = tmp_path / "hall.toml"
        path.write_text('[[station]]\ncode = "VR-01"\nkind = "pod"\nurl = "/dev/ttyUSB0"\n')
        result = runner.invoke(gateway_app, ["--config", str(path), "--server-url", "http://x"])
        assert result.exit_code == 2 and "station[0:VR-01].kind" in result.output

    def test_gateway_needs_a_server(self, tmp_path: Path) -> None:
        path = tmp_path / "hall.toml"
        path.write_text('[[station]]\ncode = "VR-01"\nkind = "vr_pod"\nurl = "loop://"\n')
        result = runner.invoke(gateway_app, ["--config", str(path)])
        assert result.exit_code == 2 and "--server-url is required" in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--faults", "explode=1"], "unknown fault 'explode'"),
            (["--pty", "--tcp", "7000"], "choose one of"),
            (["--scenario", "FALL-ARREST"], "not a vr_pod scenario"),
            (["--url", "loop://", "--devices", "2"], "--url connects one device"),
        ],
    )
    def test_sim_refuses_bad_options(self, args: list[str], message: str) -> None:
        result = runner.invoke(sim_app, ["vr-pod", *args], terminal_width=200)
        assert result.exit_code == 2 and message in result.output


class TestRejected:
    def test_lists_and_requeues_the_rejected_items(self, tmp_path: Path) -> None:
        path = tmp_path / "spool.sqlite3"
        with Spool(path) as spool:
            frame = device_frame("fault", "VR-01", "1a2b3c4d", 4, code="gpu_overheat", msg="")
            spool.store(SpoolItem("VR-01", frame))
            spool.settle([Outcome("VR-01:1a2b3c4d:4", "rejected", "unknown_device")])
        listed = runner.invoke(gateway_app, ["rejected", "--spool", str(path)], terminal_width=200)
        assert listed.exit_code == 0, listed.output
        assert "VR-01:1a2b3c4d:4" in listed.output and "unknown_device" in listed.output
        moved = runner.invoke(
            gateway_app, ["rejected", "--spool", str(path), "--requeue", "VR-01:1a2b3c4d:4"]
        )
        assert moved.exit_code == 0 and "1 item(s) back in the queue" in moved.output
        with Spool(path) as spool:
            assert [p.key for p in spool.pending()] == ["VR-01:1a2b3c4d:4"]

    def test_the_spool_named_by_the_hall_config(self, tmp_path: Path) -> None:
        spool = tmp_path / "hall.sqlite3"
        Spool(spool).close()
        config = tmp_path / "hall.toml"
        config.write_text(
            f'[gateway]\nspool = "{spool}"\n[[station]]\ncode = "VR-01"\nkind = "vr_pod"\n'
            'url = "loop://"\n'
        )
        result = runner.invoke(gateway_app, ["rejected", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert str(spool) in result.output
        neither = runner.invoke(gateway_app, ["rejected"])
        assert neither.exit_code == 2 and "--config" in neither.output

    def test_a_missing_spool_file(self, tmp_path: Path) -> None:
        result = runner.invoke(
            gateway_app, ["rejected", "--spool", str(tmp_path / "no.db")], terminal_width=200
        )
        assert result.exit_code == 2 and "no such spool file" in result.output


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 20.0) -> list[str]:
    """Lines of the process's output up to the first that matches."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
    pytest.fail(f"no line matching {pattern!r} in:\n" + "\n".join(lines))


class TestEndToEnd:
    def test_simulators_and_the_gateway_as_commands(self, tmp_path: Path) -> None:
        """`safetrain sim` on a pty and on TCP, the stations.toml they print, `safetrain
        gateway` with it: each device's run reaches the server, then both stop cleanly."""
        env = {**os.environ, "SAFETRAIN_GATEWAY_TOKEN": "st_cli", "COLUMNS": "200"}
        quick = ["--rate", "20", "--pause", "0.1", "--heartbeat", "0.5", "--count", "1"]
        pod = subprocess.Popen(
            [SAFETRAIN, "sim", "vr-pod", "--pty", "--link-dir", str(tmp_path), *quick],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        rig = subprocess.Popen(
            [SAFETRAIN, "sim", "fall-rig", "--tcp", "0", *quick],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        gateway = None
        try:
            pod_out = read_until(pod, r'^  url = "')
            rig_out = read_until(rig, r'^  url = "')
            assert any(re.search(r"VR-01  .*\(/dev/pts/\d+\)", line) for line in pod_out)
            config = tmp_path / "hall.toml"
            blocks = [out[out.index("stations.toml:") + 1 :] for out in (pod_out, rig_out)]
            config.write_text("\n".join(line.strip() for b in blocks for line in b) + "\n")
            with FakeServer(token="st_cli") as server:
                gateway = subprocess.Popen(
                    [
                        SAFETRAIN, "gateway", "--config", str(config),
                        "--server-url", server.url, "--spool", str(tmp_path / "spool.sqlite3"),
                        "--status-port", "0", "--log-interval", "0.5",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    env=env,
                )  # fmt: skip
                assert pod.wait(30) == 0 and rig.wait(30) == 0  # each ran once, all acked

                def arrived() -> bool:
                    with server.lock:
                        keys = list(server.order)
                    results = [k for k in keys if server.stored[k]["frame"]["t"] == "result"]
                    return len(results) == 2

                wait_for(arrived, timeout=20, what="both results at the server")
                fall = [k for k in server.order if k.startswith("FALL-01:")]
                assert len(fall) == len(scenarios_for("fall_rig")[0].steps) + 2
                assert len(server.order) == len(set(server.order))
                gateway.send_signal(signal.SIGTERM)
                out, _ = gateway.communicate(timeout=20)
                assert gateway.returncode == 0, out
                assert "status at http://127.0.0.1:" in out and "spool depth 0" in out
        finally:
            for proc in (pod, rig, gateway):
                if proc is not None:
                    if proc.poll() is None:
                        proc.kill()
                    proc.communicate()
