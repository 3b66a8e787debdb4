"""Polls the server for who is at which station and hands it to the stations' connections.

`GET /api/v1/stations/bindings` answers `{"data": [{"station", "badge", "name", …}]}` for the
stations bound now; a station not listed has nobody. A 404 (a server without bindings yet) is
the same as an empty list. Any other failure keeps what the devices were last told.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from devices.connection import NOBODY, Binding, DeviceConnection
from devices.forwarder import auth_headers
from devices.spool import utc_now

log = logging.getLogger("devices.gateway")

BINDINGS_PATH = "/api/v1/stations/bindings"


def parse_bindings(answer: Any) -> dict[str, Binding]:
    """Station code → binding, from the answer's `data`; ValueError if it has no such shape."""
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
        raise ValueError("expected {'data': [...]}")
    found: dict[str, Binding] = {}
    for entry in answer["data"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("station"), str):
            raise ValueError(f"a binding without a station: {entry!r}")
        badge, name = entry.get("badge"), entry.get("name")
        found[entry["station"]] = Binding(
            badge if isinstance(badge, str) else None, name if isinstance(name, str) else None
        )
    return found


class BindingsPoller:
    """Every `interval` seconds, fetch the bindings and pass each station's to its connection."""

    def __init__(
        self,
        connections: Mapping[str, DeviceConnection],
        server_url: str,
        token: str | None,
        *,
        interval: float = 5.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._connections = connections
        self._interval = interval
        self._client = httpx.Client(
            base_url=server_url, headers=auth_headers(token), timeout=timeout, transport=transport
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.last_ok: str | None = None
        self.last_error: str | None = None
        self.endpoint_missing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bindings", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.poll()
            self._stopping.wait(self._interval)

    def poll(self) -> bool:
        """One fetch; True if the connections were given fresh bindings."""
        self.polls += 1
        try:
            response = self._client.get(BINDINGS_PATH)
            if response.status_code == 404:
                if not self.endpoint_missing:
                    log.info("bindings: the server has none yet (404)")
                self.endpoint_missing = True
                bindings: dict[str, Binding] = {}
            else:
                response.raise_for_status()
                bindings = parse_bindings(response.json())
                self.endpoint_missing = False
        except (httpx.HTTPError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            if why != self.last_error:
                log.warning("bindings: %s (devices keep what they were told)", why)
            self.last_error = why
            return False
        self.last_error = None
        self.last_ok = utc_now()
        for code, connection in self._connections.items():
            connection.set_binding(bindings.get(code, NOBODY))
        return True

    def status(self) -> dict[str, Any]:
        return {
            "polls": self.polls,
            "last_ok": self.last_ok,
            "last_error": self.last_error,
            "endpoint_missing": self.endpoint_missing,
        }
