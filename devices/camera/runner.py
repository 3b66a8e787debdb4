"""A camera at work in the gateway: frames from its source, each through its reader; a result the
reader takes goes into the spool as an envelope of source `camera-qr` or `camera-7seg`, and from
there the way every serial result goes (devices/forwarder.py).

One thread per camera. The source reconnects by itself (devices/camera/sources.py); a reader that
throws on a frame is logged and counted, and the next frame is read — a camera never stops the
gateway, and the gateway never stops because of a camera.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from devices.camera.config import CameraConfig
from devices.camera.sources import Captured, FrameSource, SourceEnded, open_source, redacted
from devices.codec import Frame
from devices.spool import Spool, SpoolItem

log = logging.getLogger("devices.camera")


Keep = Callable[[Frame], bool]
"""Puts a result frame into the spool (durably, when it returns); False if it was there."""


class Reader(Protocol):
    """Turns frames into result frames. `take` hands what it takes to `keep` *before* it
    records having taken it, so that a crash between the two repeats the keep (which the
    spool takes once) rather than losing the result; it answers the frame it kept, or None."""

    source: str  # the envelope's source: camera-qr or camera-7seg

    def take(self, captured: Captured, keep: Keep) -> Frame | None: ...

    def refused(self) -> int:
        """How many frames showed something refused (a forged or replayed code)."""
        ...

    def status(self) -> dict[str, Any]: ...


def utc_text(at: float) -> str:
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def identity(camera: CameraConfig) -> dict[str, str]:
    """What the status page says a camera is: its name, station, job and URL (a stream's
    password shown as ***: the status goes to the server and to anyone on the hall's network)."""
    return {
        "camera": camera.name,
        "station": camera.station,
        "reads": camera.reads,
        "url": redacted(camera.url),
    }


class CameraWorker:
    """Reads `camera` with `reader` until stopped; what it takes goes into `spool`."""

    def __init__(
        self,
        camera: CameraConfig,
        spool: Spool,
        reader: Reader,
        *,
        opener: Callable[[str], FrameSource] = open_source,
        read_timeout: float = 1.0,
    ) -> None:
        self.camera = camera
        self.spool = spool
        self.reader = reader
        self._opener = opener
        self._read_timeout = read_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: FrameSource | None = None
        self._lock = threading.Lock()
        self.frames = 0
        self.taken = 0
        self.errors: Counter[str] = Counter()
        self.last_taken: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.last_frame_at: float | None = None
        self.ended = False

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"camera-{self.camera.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading and close the camera; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._source is not None:
            self._source.close()

    def wait_ended(self, timeout: float) -> bool:
        """For a finite source (a video file, a folder): wait until it has been read to the end."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._source = self._opener(self.camera.url)
        except Exception as exc:  # a bad URL is refused when the config is checked; this is rarer
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "camera %s: cannot open %s: %s", self.camera.name, redacted(self.camera.url), exc
            )
            return
        log.info(
            "camera %s: reading %s (%s)",
            self.camera.name,
            redacted(self.camera.url),
            self.camera.reads,
        )
        while not self._stop.is_set():
            try:
                captured = self._source.read(self._read_timeout)
            except SourceEnded:
                self.ended = True
                log.info(
                    "camera %s: %s has no more frames", self.camera.name, redacted(self.camera.url)
                )
                return
            if captured is None:
                continue
            self.frames += 1
            self.last_frame_at = captured.at
            self._handle(captured)

    def _handle(self, captured: Captured) -> None:
        def keep(frame: Frame) -> bool:
            item = SpoolItem(
                self.camera.station,
                frame,
                source=self.reader.source,
                received_at=utc_text(captured.at),
            )
            if not self.spool.store(item):
                return False
            self.taken += 1
            self.last_taken = {"key": item.key, "score": frame.get("score"), "at": item.received_at}
            log.info(
                "camera %s: %s score %s → spool", self.camera.name, item.key, frame.get("score")
            )
            return True

        try:
            self.reader.take(captured, keep)
        except Exception as exc:
            self.errors[type(exc).__name__] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "camera %s: the reader failed on frame %d", self.camera.name, captured.index
            )

    def status(self) -> dict[str, Any]:
        source = self._source
        return {
            **identity(self.camera),
            "state": "ended" if self.ended else (source.state if source else "starting"),
            "frames": self.frames,
            "last_frame_at": None if self.last_frame_at is None else utc_text(self.last_frame_at),
            "taken": self.taken,
            "refused": self.reader.refused(),
            "last_taken": self.last_taken,
            "reader": self.reader.status(),
            "errors": dict(self.errors),
            "last_error": self.last_error,
        }


class RecordingCamera:
    """A practical exam seat's camera: its frames go to an ExamRecorder, which records while
    the server says an exam is open at the station and uploads each file
    (devices/camera/recorder.py)."""

    def __init__(
        self,
        camera: CameraConfig,
        make_recorder: Callable[[Callable[[float], Captured | None]], Any],
        *,
        opener: Callable[[str], FrameSource] = open_source,
    ) -> None:
        self.camera = camera
        self._make_recorder = make_recorder
        self._opener = opener
        self._source: FrameSource | None = None
        self.recorder: Any = None
        self.last_error: str | None = None

    def start(self) -> None:
        try:
            self._source = self._opener(self.camera.url)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "camera %s: cannot open %s: %s", self.camera.name, redacted(self.camera.url), exc
            )
            return
        self.recorder = self._make_recorder(self._read)
        self.recorder.start()

    def _read(self, timeout: float) -> Captured | None:
        assert self._source is not None
        try:
            return self._source.read(timeout)
        except SourceEnded:  # a video file standing in for the camera: its last frame is shown
            return None

    def stop(self, timeout: float = 10.0) -> None:
        if self.recorder is not None:
            self.recorder.stop(timeout)
        if self._source is not None:
            self._source.close()

    def status(self) -> dict[str, Any]:
        source = self._source
        return {
            **identity(self.camera),
            "state": source.state if source else "starting",
            "recorder": self.recorder.status() if self.recorder is not None else None,
            "last_error": self.last_error,
        }


def new_boot() -> str:
    """A fresh 8-hex boot id: a seven-segment camera's readings are numbered anew each start."""
    return secrets.token_hex(4)


def now() -> float:
    return time.time()
