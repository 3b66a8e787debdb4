"""One hall's gateway: a connection per station, the durable spool, the forwarder to the server,
the bindings poller and the local status page, started and stopped together.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from devices.backoff import Backoff
from devices.bindings import BindingsPoller
from devices.camera.config import CameraConfig
from devices.connection import DeviceConnection, Station
from devices.forwarder import Forwarder
from devices.reporter import StatusReporter
from devices.spool import Spool
from devices.status import StatusServer
from devices.supervisor import Supervisor

if TYPE_CHECKING:
    from devices.camera.runner import CameraWorker, RecordingCamera

log = logging.getLogger("devices.gateway")


class Gateway:
    """Supervises `stations` concurrently and forwards what they report to `server_url`.

    The keyword arguments after `status_port` set the protocol's clocks; tests shorten them.
    """

    def __init__(
        self,
        stations: Sequence[Station],
        *,
        server_url: str,
        token: str | None,
        spool_path: str | Path,
        status_port: int | None = None,
        status_host: str = "127.0.0.1",
        name: str = "gateway",
        heartbeat_interval: float = 5.0,
        missed_heartbeats: int = 3,
        reconnect_initial: float = 0.5,
        reconnect_cap: float = 30.0,
        poll_interval: float = 0.2,
        rebind_interval: float = 60.0,
        bindings_interval: float = 5.0,
        report_interval: float = 5.0,
        forward_linger: float = 0.2,
        forward_timeout: float = 15.0,
        retry_initial: float = 1.0,
        retry_cap: float = 60.0,
        synchronous: str = "FULL",
        transport: httpx.BaseTransport | None = None,
        cameras: Sequence[CameraConfig] = (),
        device_keys: str | Path | None = None,
    ) -> None:
        codes = [s.code for s in stations]
        if len(set(codes)) != len(codes):
            raise ValueError("station codes repeat")
        self.name = name
        self.status_server = (
            None
            if status_port is None
            else StatusServer(
                {"/status": self.status, "/rejected": self.rejected_items},
                status_host,
                status_port,
            )
        )
        try:
            self.spool = Spool(spool_path, synchronous=synchronous)
        except BaseException:
            if self.status_server is not None:
                self.status_server.stop()
            raise
        self.connections: dict[str, DeviceConnection] = {
            s.code: DeviceConnection(
                s,
                self.spool,
                heartbeat_interval=heartbeat_interval,
                missed_heartbeats=missed_heartbeats,
                backoff=Backoff(initial=reconnect_initial, cap=reconnect_cap),
                poll_interval=poll_interval,
                rebind_interval=rebind_interval,
            )
            for s in stations
        }
        self.supervisor = Supervisor(
            list(self.connections.values()), self.spool, poll_interval=poll_interval
        )
        self._camera_files: list[Any] = []  # shared by the cameras; closed after them
        try:
            self.cameras = _camera_workers(
                cameras, self.spool, device_keys, server_url, token, transport, self._camera_files
            )
        except BaseException:
            self.spool.close()
            if self.status_server is not None:
                self.status_server.stop()
            raise
        self.forwarder = Forwarder(
            self.spool,
            server_url,
            token,
            linger=forward_linger,
            timeout=forward_timeout,
            backoff=Backoff(initial=retry_initial, cap=retry_cap),
            transport=transport,
        )
        self.bindings = BindingsPoller(
            self.connections,
            server_url,
            token,
            interval=bindings_interval,
            timeout=min(forward_timeout, 10.0),
            transport=transport,
        )
        self.reporter = StatusReporter(
            self.status,
            server_url,
            token,
            interval=report_interval,
            timeout=min(forward_timeout, 10.0),
            transport=transport,
        )
        self.started_at: dt.datetime | None = None
        self._started = time.monotonic()

    def start(self) -> None:
        self.started_at = dt.datetime.now(dt.UTC)
        self._started = time.monotonic()
        self.supervisor.start()
        for camera in self.cameras:
            camera.start()
        self.forwarder.start()
        self.bindings.start()
        self.reporter.start()
        if self.status_server is not None:
            self.status_server.start()
        log.info(
            "%s: %d stations, %d cameras, spool %s, server %s%s",
            self.name,
            len(self.connections),
            len(self.cameras),
            self.spool.path,
            self.forwarder.server_url,
            f", status {self.status_server.url}/status" if self.status_server else "",
        )

    def stop(self) -> None:
        """Stop every thread and close every port and file; safe to call twice."""
        if self.status_server is not None:
            self.status_server.stop()
        self.reporter.stop()
        self.bindings.stop()
        self.supervisor.stop()
        for camera in self.cameras:
            camera.stop()
        for file in self._camera_files:
            file.close()
        self._camera_files.clear()
        self.forwarder.stop()
        self.spool.close()

    def run(self, stop: threading.Event, log_interval: float = 60.0) -> None:
        """Run until `stop` is set, logging a status line every `log_interval` seconds."""
        while not stop.wait(log_interval):
            log.info("%s", self.summary())

    def summary(self) -> str:
        s = self.status()
        server = s["server"]
        return (
            f"{self.name}: {s['devices']['online']}/{s['devices']['total']} online, "
            f"frames ok {s['frames_ok']} bad {s['frames_bad']}, "
            f"spool depth {s['spool']['depth']}, rejected {s['spool']['rejected']}, "
            f"server {'ok' if server['last_error'] is None else server['last_error']}"
        )

    def status(self) -> dict[str, Any]:
        stations = [c.status() for c in self.connections.values()]
        counts = self.spool.counts()
        online = sum(1 for s in stations if s["online"])
        return {
            "gateway": self.name,
            "started_at": self.started_at.isoformat(timespec="seconds")
            if self.started_at
            else None,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "devices": {
                "total": len(stations),
                "online": online,
                "offline": len(stations) - online,
            },
            "frames_ok": sum(s["frames_ok"] for s in stations),
            "frames_bad": sum(s["frames_bad"] for s in stations),
            "spool": {
                "path": str(self.spool.path),
                "depth": counts.pending,
                "rejected": counts.rejected,
            },
            "server": self.forwarder.status(),
            "bindings": self.bindings.status(),
            "stations": stations,
            "cameras": [c.status() for c in self.cameras],
        }

    def rejected_items(self) -> list[dict[str, Any]]:
        return [
            {
                "key": r.key,
                "station": r.station,
                "reason": r.reason,
                "rejected_at": r.settled_at,
                "envelope": r.envelope,
            }
            for r in self.spool.rejected(limit=1000)
        ]

    def camera(self, name: str) -> CameraWorker | RecordingCamera:
        (found,) = [c for c in self.cameras if c.camera.name == name]
        return found

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _camera_workers(
    cameras: Sequence[CameraConfig],
    spool: Spool,
    device_keys: str | Path | None,
    server_url: str,
    token: str | None,
    transport: httpx.BaseTransport | None,
    files: list[Any],
) -> list[CameraWorker | RecordingCamera]:
    """A worker per camera. OpenCV is imported only by a gateway that has cameras."""
    if not cameras:
        return []
    from devices.camera.keys import DeviceKeys
    from devices.camera.qr import ReplayGuard
    from devices.camera.readers import CameraState, QrTake, SevenSegTake
    from devices.camera.recorder import ExamRecorder
    from devices.camera.runner import CameraWorker, RecordingCamera

    beside = spool.path
    workers: list[CameraWorker | RecordingCamera] = []
    keys = guard = None
    state = CameraState(beside.with_name(beside.stem + ".cameras.json"))
    for camera in cameras:
        reader: QrTake | SevenSegTake
        if camera.reads == "record":

            def recorder(frames: Any, camera: CameraConfig = camera) -> ExamRecorder:
                folder = beside.with_name(f"{beside.stem}.recordings") / camera.station
                return ExamRecorder(
                    camera.station,
                    frames,
                    server_url,
                    token,
                    folder,
                    fps=camera.fps,
                    transport=transport,
                )

            workers.append(RecordingCamera(camera, recorder))
            continue
        if camera.reads == "qr":
            if device_keys is None:
                raise ValueError(f"camera {camera.name} reads QR codes: device_keys is needed")
            if keys is None:
                keys = DeviceKeys.load(device_keys)
                guard = ReplayGuard(beside.with_name(beside.stem + ".qr-seen.sqlite3"))
                files.append(guard)
            assert guard is not None
            reader = QrTake(camera, keys, guard)
        else:
            reader = SevenSegTake(camera, state, known=lambda key: spool.state_of(key) is not None)
        workers.append(CameraWorker(camera, spool, reader))
    return workers
