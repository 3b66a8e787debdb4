"""Helpers of the device tests: the transports, compressed clocks, waiting for a condition."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.sim.endpoints import Endpoint, PtyEndpoint, TcpEndpoint, UrlEndpoint

TRANSPORTS = ("pty", "socket", "loop")
_names = itertools.count()


class Transport:
    """Makes the device's end of a link and tells the gateway where to find it."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self._n = next(_names)

    def endpoint(self, wake: int) -> Endpoint:
        if self.name == "pty":
            return PtyEndpoint(wake, self.tmp_path / f"dev{self._n}")
        if self.name == "socket":
            return TcpEndpoint(wake, "127.0.0.1", 0)
        return UrlEndpoint(wake, f"crossloop://link{self._n}?end=device")

    def gateway_url(self, endpoint: Endpoint) -> str:
        if self.name == "loop":
            return f"crossloop://link{self._n}?end=gateway"
        return endpoint.where


FAST = {"heartbeat": 0.2, "resend_interval": 0.3, "rate": 50.0, "pause": 0.05}
"""Simulator clocks for tests: the protocol's timings, compressed."""


def wait_for(condition: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)
