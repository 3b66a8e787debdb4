"""Fixtures of the device tests: every transport, leak checks, a simulator-and-gateway kit.

The transports are real: a pseudo-terminal (os.openpty, opened by its /dev/pts path with
pyserial), a TCP socket (pyserial's socket://), and pyserial's loop:// crossed into a pair
(tests/devices/protocol_crossloop.py). Nothing of pyserial is mocked.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from devices.gateway import Gateway
from devices.sim.device import SimDevice
from devices.sim.profiles import PROFILES
from devices.source import register_backend
from tests.devices.kit import FAST, TRANSPORTS, Transport

serial.protocol_handler_packages.append("tests.devices")
register_backend("crossloop", "devices.backends.serial", "SerialSource")


def _open_fds() -> dict[int, str]:
    found = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return found


@pytest.fixture(autouse=True)
def nothing_left_open() -> Iterator[None]:
    """Fail a test that leaves a thread running or a descriptor (port, pty, socket) open."""
    threads = set(threading.enumerate())
    fds = _open_fds()
    yield
    deadline = time.monotonic() + 3.0
    while True:
        extra_threads = [t.name for t in threading.enumerate() if t not in threads]
        now_open = _open_fds()
        extra_fds = {fd: target for fd, target in now_open.items() if fds.get(fd) != target}
        if not extra_threads and not extra_fds:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"left open: threads {extra_threads}, descriptors {extra_fds}")
        gc.collect()  # only when something is still open: a collection costs ~0.1 s here
        time.sleep(0.02)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    return Transport(str(request.param), tmp_path)


@pytest.fixture(params=("pty", "socket"))
def unpluggable(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    """Transports whose cable can be pulled (a loop has no far end to go away)."""
    return Transport(str(request.param), tmp_path)


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., SimDevice]]:
    """make_sim(transport, kind="vr_pod", dev="VR-01", **options): a started simulator."""
    made: list[SimDevice] = []

    def make(
        transport: Transport, kind: str = "vr_pod", dev: str = "VR-01", **options: object
    ) -> SimDevice:
        sim = SimDevice(dev, PROFILES[kind], transport.endpoint, **{**FAST, "seed": 7, **options})
        made.append(sim)
        sim.start()
        return sim

    yield make
    for sim in made:
        sim.stop()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database (the end-to-end tests that do not also run on
    PostgreSQL)."""
    path = tmp_path / "server.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def gateways() -> Iterator[list[Gateway]]:
    """Gateways a test started; stopped (every port, thread and file closed) after it."""
    started: list[Gateway] = []
    yield started
    for gateway in started:
        gateway.stop()
