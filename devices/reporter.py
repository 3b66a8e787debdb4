"""Tells the server how the hall is doing: `PUT /api/v1/gateways/status` every few seconds.

The console's device page reads these reports (heartbeats stay at the gateway). A failed report
is only logged: the next one carries the whole state again, so nothing needs retrying.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx

from devices.forwarder import auth_headers

log = logging.getLogger("devices.gateway")
STATUS_PATH = "/api/v1/gateways/status"


def report_of(status: dict[str, Any]) -> dict[str, Any]:
    """The server's shape of a gateway status: each station as `devices`, spool counters.

    A station read by a camera (a pod's QR, a rig's display) is a device too: online while its
    camera delivers frames; its frames are the results taken and the codes refused."""
    stations = list(status.get("stations", []))
    serial = {s.get("station") for s in stations}
    for camera in status.get("cameras", []):
        if camera.get("reads") in ("qr", "7seg") and camera.get("station") not in serial:
            stations.append(
                {
                    "station": camera["station"],
                    "online": camera.get("state") == "live",
                    "via": f"camera-{camera['reads']}",
                    "last_seen": camera.get("last_frame_at"),
                    "frames_ok": camera.get("taken", 0),
                    "frames_bad": camera.get("refused", 0),
                }
            )
            serial.add(camera["station"])
    return {
        "gateway": status.get("gateway"),
        "devices": stations,
        "spool_depth": status.get("spool", {}).get("depth"),
        "rejected": status.get("spool", {}).get("rejected"),
        "frames_ok": status.get("frames_ok"),
        "frames_bad": status.get("frames_bad"),
    }


class StatusReporter:
    def __init__(
        self,
        status: Callable[[], dict[str, Any]],
        server_url: str,
        token: str | None,
        *,
        interval: float = 5.0,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._status = status
        self._interval = interval
        self._client = httpx.Client(
            base_url=server_url, headers=auth_headers(token), timeout=timeout, transport=transport
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.reports = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="status-reporter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.report()

    def report(self) -> bool:
        try:
            response = self._client.put(STATUS_PATH, json=report_of(self._status()))
            response.raise_for_status()
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}"
            if why != self.last_error:
                log.warning("status report: %s", why)
            self.last_error = why
            return False
        self.last_error = None
        self.reports += 1
        return True
