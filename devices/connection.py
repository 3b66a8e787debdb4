"""The gateway's end of one station: opens its URL, speaks protocol v1, and reconnects.

One thread per station reads frames and answers them: `hello` and `hb` update the device's
status; `start`, `step`, `result` and `fault` are acked only after the spool has committed
them; a bad line is nak'ed with its reason; a new `boot` is a reboot. No frame for
`missed_heartbeats` heartbeat intervals marks the device offline. When the port goes (a USB
cable pulled, a pty or socket closed) the thread reopens it with capped exponential backoff,
and the device's un-acked frames arrive again and are stored once.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from devices.backoff import Backoff
from devices.codec import DEFAULT_BAUD, SPOOLED_TYPES, Frame, ack, bind, nak
from devices.errors import DeviceError, MalformedFrame
from devices.source import DeviceSource, open_source
from devices.spool import Spool, SpoolError, SpoolItem, utc_now

log = logging.getLogger("devices.gateway")


@dataclass(frozen=True)
class Station:
    """One line of stations.toml: where a station's device is and what it should be."""

    code: str
    url: str
    kind: str
    baud: int = DEFAULT_BAUD


@dataclass(frozen=True)
class Binding:
    """Who is at a station now (both None: nobody)."""

    badge: str | None
    name: str | None


NOBODY = Binding(None, None)


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="seconds")


class DeviceConnection:
    """Supervises the device at one station in its own thread (`start`, `stop`)."""

    def __init__(
        self,
        station: Station,
        spool: Spool,
        *,
        heartbeat_interval: float = 5.0,
        missed_heartbeats: int = 3,
        backoff: Backoff | None = None,
        poll_interval: float = 0.2,
        rebind_interval: float = 60.0,
        source_options: dict[str, Any] | None = None,
    ) -> None:
        self.station = station
        self._spool = spool
        self._offline_after = heartbeat_interval * missed_heartbeats
        self._backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self._poll = poll_interval
        self._rebind_interval = rebind_interval
        self._source_options = {"baudrate": station.baud, **(source_options or {})}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the binding wanted and the latency samples
        self._wanted: Binding | None = None  # None until the server has told us
        self._told: Binding | None = None  # what this link's device was last sent
        self._told_at = 0.0
        # What the status shows.
        self.link_up = False
        self.online = False
        self.dev: str | None = None
        self.boot: str | None = None
        self.fw: str | None = None
        self.device_kind: str | None = None
        self.state: str | None = None
        self.last_seen: float | None = None  # monotonic
        self.last_seen_wall: float | None = None
        self.last_error: str | None = None
        self.frames_ok = 0
        self.frames_bad = 0
        self.bad_reasons: Counter[str] = Counter()
        self.acks = 0
        self.naks = 0
        self.spooled = 0
        self.duplicates = 0
        self.reboots = 0
        self.connects = 0
        self.open_failures = 0
        self._earlier_boots: deque[str] = deque(maxlen=8)
        self._latencies: deque[float] = deque(maxlen=10_000)

    # --- control -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(
            target=self._run, name=f"station {self.station.code}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop (it closes the port within one poll); see `stop`."""
        self._stopping.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the port; safe to call twice."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def set_binding(self, binding: Binding) -> None:
        """Who the server says is at this station; sent to the device when it changes."""
        with self._lock:
            self._wanted = binding

    # --- the station's thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                source = open_source(self.station.url, **self._source_options)
            except DeviceError as exc:
                self.open_failures += 1
                if self.open_failures == 1 or self.last_error != str(exc):
                    log.warning("%s: cannot open %s: %s", self.station.code, self.station.url, exc)
                self.last_error = str(exc)
                self._stopping.wait(self._backoff.next_delay())
                continue
            try:
                self._serve(source)
            except DeviceError as exc:
                self.last_error = str(exc)
                log.warning("%s: link lost: %s", self.station.code, exc)
            finally:
                source.close()
                self._link_down()
            if not self._stopping.is_set():
                self._stopping.wait(self._backoff.next_delay())

    def _serve(self, source: DeviceSource) -> None:
        self.connects += 1
        self.link_up = True
        self._told = None
        log.info("%s: port %s open", self.station.code, self.station.url)
        heard = False
        while not self._stopping.is_set():
            frame = None
            try:
                frame = source.read(self._poll)
            except MalformedFrame as bad:
                self._reject(source, bad)
            now = time.monotonic()
            if frame is not None:
                if not heard:
                    heard = True
                    self._backoff.reset()  # the link works: the next loss retries quickly
                self._handle(source, frame, now)
            elif self.online and now - (self.last_seen or now) > self._offline_after:
                self._set_online(False, f"no frame for {now - (self.last_seen or now):.1f} s")
            self._tell_binding(source, now)

    def _link_down(self) -> None:
        self.link_up = False
        self._set_online(False, "port closed")

    def _set_online(self, online: bool, why: str = "") -> None:
        if online == self.online:
            return
        self.online = online
        if online:
            log.info("%s: device %s online (boot %s)", self.station.code, self.dev, self.boot)
        else:
            log.warning("%s: device %s offline: %s", self.station.code, self.dev, why)

    def _reject(self, source: DeviceSource, bad: MalformedFrame) -> None:
        self.frames_bad += 1
        self.bad_reasons[bad.reason] += 1
        if bad.reason == "wrong_direction":
            return  # our own frames echoed back: answering them would never end
        source.write(nak(bad.seq, bad.reason))
        self.naks += 1

    def _handle(self, source: DeviceSource, frame: Frame, now: float) -> None:
        self.frames_ok += 1
        self.last_seen = now
        self.last_seen_wall = time.time()
        self._note_identity(frame["dev"], frame["boot"])
        self._set_online(True)
        t = frame["t"]
        if t == "hb":
            self.state = frame["state"]
        elif t == "hello":
            self._hello(frame)
        elif t in SPOOLED_TYPES:
            try:
                fresh = self._spool.store(SpoolItem(self.station.code, frame, "serial", utc_now()))
            except SpoolError as exc:
                log.error("%s: spool refused %s: %s", self.station.code, frame["seq"], exc)
                self.last_error = str(exc)
                source.write(nak(frame["seq"], "spool_unavailable"))
                self.naks += 1
                return
            if fresh:
                self.spooled += 1
            else:
                self.duplicates += 1
        source.write(ack(frame["seq"]))
        self.acks += 1
        if t in SPOOLED_TYPES:
            with self._lock:
                self._latencies.append(time.monotonic() - now)

    def _note_identity(self, dev: str, boot: str) -> None:
        if dev != self.dev:
            if self.dev is not None:
                log.warning("%s: device %s replaced by %s", self.station.code, self.dev, dev)
            self.dev = dev
            self._earlier_boots.clear()
            self.boot = boot
            return
        if boot == self.boot or boot in self._earlier_boots:
            return  # the current boot, or frames kept from an earlier one
        if self.boot is not None:
            self._earlier_boots.append(self.boot)
            self.reboots += 1
            log.warning("%s: device %s rebooted (boot %s)", self.station.code, dev, boot)
        self.boot = boot
        self._told = None  # a device forgets who was bound when it restarts

    def _hello(self, frame: Frame) -> None:
        self.device_kind = frame["kind"]
        self.fw = frame["fw"]
        self._told = None  # hello follows every power-on and reconnect: tell it again
        if frame["kind"] != self.station.kind:
            log.warning(
                "%s: device %s says it is a %s, stations.toml says %s",
                self.station.code,
                frame["dev"],
                frame["kind"],
                self.station.kind,
            )

    def _tell_binding(self, source: DeviceSource, now: float) -> None:
        with self._lock:
            wanted = self._wanted
        if wanted is None:
            return
        if wanted == self._told and now - self._told_at < self._rebind_interval:
            return
        source.write(bind(wanted.badge, wanted.name))
        if wanted != self._told:
            log.info("%s: bound %s", self.station.code, wanted.badge or "nobody")
        self._told = wanted
        self._told_at = now

    # --- status -------------------------------------------------------------------------------

    def ack_latency_ms(self) -> dict[str, float | int | None]:
        """Frame read → ack written for spooled frames, over the last 10,000."""
        with self._lock:
            samples = sorted(self._latencies)
        if not samples:
            return {"n": 0, "p50": None, "p99": None, "max": None}
        p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
        return {
            "n": len(samples),
            "p50": round(statistics.median(samples) * 1000, 2),
            "p99": round(p99 * 1000, 2),
            "max": round(samples[-1] * 1000, 2),
        }

    def status(self) -> dict[str, Any]:
        with self._lock:
            wanted = self._wanted
        return {
            "station": self.station.code,
            "url": self.station.url,
            "kind": self.station.kind,
            "link": "up" if self.link_up else "down",
            "online": self.online,
            "dev": self.dev,
            "boot": self.boot,
            "fw": self.fw,
            "device_kind": self.device_kind,
            "state": self.state,
            "last_seen": _iso(self.last_seen_wall),
            "frames_ok": self.frames_ok,
            "frames_bad": self.frames_bad,
            "bad_reasons": dict(self.bad_reasons),
            "acks": self.acks,
            "naks": self.naks,
            "spooled": self.spooled,
            "duplicates": self.duplicates,
            "reboots": self.reboots,
            "connects": self.connects,
            "open_failures": self.open_failures,
            "binding": None if wanted is None else {"badge": wanted.badge, "name": wanted.name},
            "last_error": self.last_error,
            "ack_latency_ms": self.ack_latency_ms(),
        }
