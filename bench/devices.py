"""Benchmark of the device side: frame decoding, and one gateway serving a hall of simulators.

    .venv/bin/python bench/devices.py [--devices 100] [--rate 10] [--seconds 20]

1. Frame decoding on one core: a realistic mix of lines (heartbeats, starts, steps, results)
   through the FrameReader in 4 KB chunks, as the gateway reads them.
2. One `safetrain gateway` process supervising N simulated VR pods (`safetrain sim`, another
   process), each on its own pty and sending `rate` frames a second, forwarding to a
   stand-in server: the gateway's CPU, the ack latency (frame written by the device → its
   ack read back, the spool commit between) and that every frame reached the server once.

Prints a table; figures go to docs/benchmarks.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path, and its name (bench/devices.py)
# would hide the devices package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from devices.codec import device_frame, encode  # noqa: E402
from devices.framing import FrameReader  # noqa: E402
from devices.sim.profiles import device_ids  # noqa: E402
from devices.sim.server import FakeServer  # noqa: E402

SAFETRAIN = str(Path(sys.executable).with_name("safetrain"))
TOKEN = "st_bench_gateway"  # noqa: S105 - the stand-in server's, for this run only


def sample_lines(n: int) -> bytes:
    rng = random.Random(5)
    lines = []
    for i in range(n):
        dev, boot, seq = f"VR-{rng.randrange(1, 101):02d}", "1a2b3c4d", i + 1
        kind = i % 12
        if kind == 0:
            frame = device_frame("start", dev, boot, seq, scenario="NITR-RUNAWAY", badge="B1")
        elif kind == 11:
            frame = device_frame(
                "result", dev, boot, seq, scenario="NITR-RUNAWAY", badge="B20260001",
                score=87.5, max=100, passed=True, duration_s=312.4, errors=["4"], veto=[],
                ts="2026-11-23T10:00:00+08:00",
            )  # fmt: skip
        elif kind == 10:
            frame = device_frame("hb", dev, boot, seq, state="running")
        else:
            frame = device_frame(
                "step", dev, boot, seq, scenario="NITR-RUNAWAY", step=str(kind), ok=True,
                at_ms=kind * 21500,
            )  # fmt: skip
        lines.append(encode(frame))
    return b"".join(lines)


def bench_decoding(n: int = 300_000) -> tuple[str, str, str]:
    data = sample_lines(n)
    best = 0.0
    for _ in range(3):
        reader = FrameReader()
        start = time.perf_counter()
        for i in range(0, len(data), 4096):
            reader.data_received(data[i : i + 4096])
        seconds = time.perf_counter() - start
        assert reader.frames_ok == n and reader.frames_bad == 0
        best = max(best, n / seconds)
    return (
        f"decode {n:,} frames (hb, start, step, result mix; 4 KB chunks), one core",
        f"{len(data) / n:.0f} B/frame",
        f"{best:,.0f} frames/s",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def bench_gateway(devices: int, rate: float, seconds: float) -> list[tuple[str, str, str]]:
    """The simulators run in a process of their own (`safetrain sim`), as in a hall, so that
    neither their threads nor the stand-in server share the gateway's interpreter."""
    tmp = Path(tempfile.mkdtemp(prefix="safetrain-bench-devices-"))
    links = tmp / "links"
    ids = device_ids("VR-01", devices)
    per_run = 10  # start, 8 steps, result: the frames of one NITR-RUNAWAY run
    runs = int((seconds + 20) * rate / per_run) + 1  # enough to outlast the measurement
    config = tmp / "hall.toml"
    config.write_text(
        "".join(f'[[station]]\ncode = "{d}"\nkind = "vr_pod"\nurl = "{links / d}"\n\n' for d in ids)
    )
    status_port = free_port()
    status_url = f"http://127.0.0.1:{status_port}/status"
    with FakeServer(token=TOKEN) as server:
        sim_log = (tmp / "sim.log").open("w")
        gateway_log = (tmp / "gateway.log").open("w")
        sims = subprocess.Popen(  # noqa: S603 - our own command
            [
                SAFETRAIN, "sim", "vr-pod", "--pty", "--devices", str(devices),
                "--link-dir", str(links), "--rate", str(rate), "--pause", "0",
                "--heartbeat", "2", "--count", str(runs), "--scenario", "NITR-RUNAWAY",
                "--seed", "1",
            ],
            stdout=sim_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        gateway = None
        try:
            deadline = time.monotonic() + 60
            while not links.exists() or len(list(links.iterdir())) < devices:
                if time.monotonic() > deadline or sims.poll() is not None:
                    raise SystemExit((tmp / "sim.log").read_text())
                time.sleep(0.1)
            gateway = subprocess.Popen(  # noqa: S603 - our own command
                [
                    SAFETRAIN, "gateway", "--config", str(config), "--server-url", server.url,
                    "--token", TOKEN, "--spool", str(tmp / "spool.sqlite3"),
                    "--status-port", str(status_port), "--log-interval", "10",
                ],
                stdout=gateway_log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

            def status() -> dict[str, Any]:
                answer: dict[str, Any] = httpx.get(status_url, timeout=5).json()
                return answer

            while True:
                try:
                    if status()["devices"]["online"] == devices:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or gateway.poll() is not None:
                    raise SystemExit((tmp / "gateway.log").read_text())
                time.sleep(0.2)
            time.sleep(3)  # into the steady state
            before, cpu0, t0 = status(), cpu_seconds(gateway.pid), time.monotonic()
            time.sleep(seconds)
            after, cpu1, t1 = status(), cpu_seconds(gateway.pid), time.monotonic()
            if sims.wait(300) != 0:  # the simulators end once every run is acked
                raise SystemExit((tmp / "sim.log").read_text())
            while status()["spool"]["depth"]:
                time.sleep(0.2)
            final = status()
        finally:
            if sims.poll() is None:
                sims.terminate()
                sims.wait(30)
            if gateway is not None:
                gateway.terminate()
                gateway.wait(30)
            sim_log.close()
            gateway_log.close()
        with server.lock:
            stored = set(server.stored)
            answered = len(server.answers["accepted"]) + len(server.answers["duplicate"])
    overall = (tmp / "sim.log").read_text().strip().splitlines()[-1]
    got = re.search(
        r"generated (\d+), acked (\d+), unacked (\d+), given up (\d+), "
        r"ack latency p50 ([\d.]+) ms p99 ([\d.]+) ms max ([\d.]+) ms",
        overall,
    )
    if got is None:
        raise SystemExit(f"no summary from the simulators: {overall}")
    made, acked, unacked, given_up = (int(x) for x in got.groups()[:4])
    p50, p99, worst = (float(x) for x in got.groups()[4:])
    wall = t1 - t0
    frames = after["frames_ok"] - before["frames_ok"]
    foreign = [k for k in stored if k.split(":")[0] not in set(ids)]
    if foreign:
        raise SystemExit(f"the server stored frames no simulator made: {foreign[:5]}")
    lost = made - len(stored)  # every stored key is a distinct frame of these devices
    gateway_p99 = [st["ack_latency_ms"]["p99"] for st in final["stations"]]
    return [
        (
            f"gateway CPU, {devices} pods on ptys × {rate:g} frames/s, {wall:.0f} s",
            f"{frames / wall:,.0f} frames/s in",
            f"{100 * (cpu1 - cpu0) / wall:.1f} % of one core",
        ),
        (
            "ack latency at the devices (written → ack read; spool commit, fsync FULL)",
            f"p50 {p50:.1f} ms",
            f"p99 {p99:.1f} ms, max {worst:.0f} ms",
        ),
        (
            "ack latency in the gateway (frame read → ack written), per station",
            f"median p99 {statistics.median(gateway_p99):.1f} ms",
            f"worst station p99 {max(gateway_p99):.1f} ms",
        ),
        (
            f"delivery: {made:,} frames made, {acked:,} acked ({unacked} not, {given_up} given up)",
            f"{len(stored):,} stored at the server ({answered:,} answers)",
            f"{lost} lost, {final['spool']['rejected']} rejected",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=100, help="simulated pods (one pty each)")
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second per pod")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    args = parser.parse_args()
    rows = [bench_decoding(), *bench_gateway(args.devices, args.rate, args.seconds)]
    table = Table(title="safetrain devices benchmark")
    table.add_column("what")
    table.add_column("measure", justify="right")
    table.add_column("result", justify="right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(
        f"{platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
        f"{platform.python_version()} · {platform.platform()}"
    )


if __name__ == "__main__":
    main()
