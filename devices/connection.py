"""The gateway's end of one station: protocol v1 over the link a Supervisor drives.

`hello` and `hb` update the device's status and are acked at once; `start`, `step`, `result`
and `fault` are acked only after the spool has committed them; a bad line is nak'ed with its
reason; a new `boot` is a reboot. No frame for `missed_heartbeats` heartbeat intervals marks
the device offline. When the port goes (a USB cable pulled, a pty or socket closed) the
supervisor reopens it with this station's capped exponential backoff, and the device's
un-acked frames arrive again and are stored once. Nothing here blocks on a device: an ack
the device's line cannot take at once is dropped, and the device sends the frame again.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devices.backoff import Backoff
from devices.codec import DEFAULT_BAUD, SPOOLED_TYPES, Frame, ack_line, bind, encode, nak
from devices.errors import MalformedFrame
from devices.source import DeviceSource
from devices.spool import Spool, SpoolError

if TYPE_CHECKING:
    from devices.supervisor import Supervisor

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
    """The protocol state of one station. A Supervisor calls the methods below from its
    thread; `start`/`stop` run a supervisor of its own, for a station on its own."""

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
        self.spool = spool
        self.poll_interval = poll_interval
        self.source_options = {"baudrate": station.baud, **(source_options or {})}
        self.source: DeviceSource | None = None  # the open link, while there is one
        self._offline_after = heartbeat_interval * missed_heartbeats
        self._backoff = backoff or Backoff(initial=0.5, cap=30.0)
        self._rebind_interval = rebind_interval
        self._own: Supervisor | None = None
        self._lock = threading.Lock()  # the binding wanted, the latency samples
        self._wanted: Binding | None = None  # None until the server has told us
        self._told: Binding | None = None  # what this link's device was last sent
        self._told_at = 0.0
        self._heard = False  # a good frame on this link yet
        # What the status shows.
        self.link_up = False
        self.online = False
        self.dev: str | None = None
        self.boot: str | None = None
        self.fw: str | None = None
        self.device_kind: str | None = None
        self.state: str | None = None
        self.last_seen: float | None = None  # monotonic
        self.last_error: str | None = None
        self.frames_ok = 0
        self.frames_bad = 0
        self.bad_reasons: Counter[str] = Counter()
        self.acks = 0
        self.acks_unsent = 0  # dropped: the device's line could not take them at once
        self.naks = 0
        self.spooled = 0
        self.duplicates = 0
        self.reboots = 0
        self.connects = 0
        self.open_failures = 0
        self._earlier_boots: deque[str] = deque(maxlen=8)
        self._latencies: deque[float] = deque(maxlen=10_000)

    # --- on its own ------------------------------------------------------------------------

    def start(self) -> None:
        """Run this station alone, on a supervisor of its own."""
        from devices.supervisor import Supervisor

        if self._own is not None:
            raise RuntimeError("already started")
        self._own = Supervisor([self], self.spool, poll_interval=self.poll_interval)
        self._own.start()

    def stop(self) -> None:
        """Stop the supervisor `start` made and close the port; safe to call twice."""
        if self._own is not None:
            self._own.stop()

    def set_binding(self, binding: Binding) -> None:
        """Who the server says is at this station; sent to the device when it changes."""
        with self._lock:
            self._wanted = binding

    # --- called by the supervisor, from its thread -----------------------------------------

    def next_delay(self) -> float:
        """How long to wait before opening the port again."""
        return self._backoff.next_delay()

    def open_failed(self, error: Exception) -> None:
        self.open_failures += 1
        if self.open_failures == 1 or self.last_error != str(error):
            log.warning("%s: cannot open %s: %s", self.station.code, self.station.url, error)
        self.last_error = str(error)

    def link_opened(self, source: DeviceSource, now: float) -> None:
        self.source = source
        self.connects += 1
        self.link_up = True
        self._told = None
        self._heard = False
        log.info("%s: port %s open", self.station.code, self.station.url)
        self.tick(now)

    def link_lost(self, error: Exception | None) -> None:
        """The port went (or is being closed): the supervisor has closed the source."""
        if error is not None:
            self.last_error = str(error)
            log.warning("%s: link lost: %s", self.station.code, error)
        self.source = None
        self.link_up = False
        self._set_online(False, "port closed")

    def receive(
        self,
        items: list[Frame | MalformedFrame],
        now: float,
        to_spool: list[tuple[DeviceConnection, Frame, float]],
    ) -> None:
        """What the port delivered: frames to spool go onto `to_spool`, the rest is answered."""
        assert self.source is not None
        for item in items:
            if isinstance(item, MalformedFrame):
                self._reject(self.source, item)
            elif item["t"] in SPOOLED_TYPES:
                self._seen(item, now)
                to_spool.append((self, item, now))
            else:
                self._seen(item, now)
                if item["t"] == "hb":
                    self.state = item["state"]
                else:
                    self._hello(item)
                self._send_ack(self.source, item["seq"], None)

    def stored(self, frame: Frame, fresh: bool, read_at: float) -> None:
        """The spool has committed the frame (or already had it): ack it."""
        if fresh:
            self.spooled += 1
        else:
            self.duplicates += 1
        if self.source is not None:
            self._send_ack(self.source, frame["seq"], read_at)

    def store_failed(self, frame: Frame, error: SpoolError) -> None:
        log.error("%s: spool refused %s: %s", self.station.code, frame["seq"], error)
        self.last_error = str(error)
        if self.source is not None:
            self.source.try_write_bytes(encode(nak(frame["seq"], "spool_unavailable")))
            self.naks += 1

    def tick(self, now: float) -> None:
        """Every poll interval: notice silence, tell the device who is bound."""
        if (
            self.online
            and self.last_seen is not None
            and now - self.last_seen > self._offline_after
        ):
            self._set_online(False, f"no frame for {now - self.last_seen:.1f} s")
        if self.source is not None:
            self._tell_binding(self.source, now)

    # --- the protocol -------------------------------------------------------------------------

    def _send_ack(self, source: DeviceSource, seq: int, read_at: float | None) -> None:
        if not source.try_write_bytes(ack_line(seq)):
            self.acks_unsent += 1
            return
        self.acks += 1
        if read_at is not None:
            with self._lock:
                self._latencies.append(time.monotonic() - read_at)

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
        source.try_write_bytes(encode(nak(bad.seq, bad.reason), validate=False))
        self.naks += 1

    def _seen(self, frame: Frame, now: float) -> None:
        self.frames_ok += 1
        self.last_seen = now
        if not self._heard:
            self._heard = True
            self._backoff.reset()  # the link works: after a loss, retry quickly
        self._note_identity(frame["dev"], frame["boot"])
        self._set_online(True)

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
        try:
            line = encode(bind(wanted.badge, wanted.name))
        except MalformedFrame as exc:  # a name too long for one line: tell nobody, once
            log.error("%s: cannot send the binding %s: %s", self.station.code, wanted, exc)
            self._told, self._told_at = wanted, now
            return
        source.try_write_bytes(line)
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
            "last_seen": _iso(
                None
                if self.last_seen is None
                else time.time() - (time.monotonic() - self.last_seen)
            ),
            "frames_ok": self.frames_ok,
            "frames_bad": self.frames_bad,
            "bad_reasons": dict(self.bad_reasons),
            "acks": self.acks,
            "acks_unsent": self.acks_unsent,
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
