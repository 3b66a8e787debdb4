"""A simulated device: a VR pod or a rig that runs scenarios and speaks protocol v1.

It behaves as DESIGN.md says a device does: `hello` at power-on and whenever a gateway
appears on the line, a heartbeat every `heartbeat` seconds, and for each trainee's run a
`start`, one `step` per scenario step and a `result`. Frames the gateway has not acked are
kept (at most 64) and sent again every 2 s, and at once on a `nak`; a `bind` says whose badge
the next run carries. Faults are injected from a FaultPlan or on demand (`corrupt_next`,
`disconnect`, `reboot` …), from any thread.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devices.codec import GATEWAY_TYPES, Frame, device_frame, encode, frame_key, new_boot_id
from devices.framing import QueuedFrameReader
from devices.sim.endpoints import Endpoint
from devices.sim.faults import FaultPlan
from devices.sim.profiles import KindProfile, RunPlan, plan_run, scenarios_for

log = logging.getLogger("devices.sim")

FAULT_STATE_S = 5.0  # how long the heartbeat says `fault` after a hardware fault
# A gateway that has just opened its port flushes what is waiting (pyserial does on open):
# a hello sent that instant would be lost, so the device lets the line settle first.
GREET_AFTER = 0.1


@dataclass
class Outgoing:
    """A frame waiting for its ack."""

    seq: int
    kind: str
    line: bytes
    sent_at: float
    sends: int = 1


@dataclass
class _Run:
    plan: RunPlan
    badge: str | None
    started: float
    next_step: int = 0
    fault_at: int | None = None  # step before which the hardware faults


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class SimDevice:
    """One device in its own thread; `endpoint` makes its side of the wire from a wake fd."""

    def __init__(
        self,
        dev: str,
        profile: KindProfile,
        endpoint: Callable[[int], Endpoint],
        *,
        rate: float = 0.5,
        pause: float = 3.0,
        count: int = 0,
        heartbeat: float = 2.0,
        resend_interval: float = 2.0,
        max_unacked: int = 64,
        scenario: str | None = None,
        require_bind: bool = False,
        faults: FaultPlan | None = None,
        seed: int | None = None,
        on_event: Callable[[SimDevice, str], None] | None = None,
    ) -> None:
        if rate <= 0 or heartbeat <= 0 or resend_interval <= 0 or max_unacked < 1:
            raise ValueError("rate, heartbeat and resend_interval must be > 0, max_unacked ≥ 1")
        scenarios = scenarios_for(profile.kind)
        if scenario is not None:
            scenarios = tuple(s for s in scenarios if s.code == scenario)
            if not scenarios:
                known = ", ".join(s.code for s in scenarios_for(profile.kind))
                raise ValueError(f"{scenario}: not a {profile.kind} scenario (known: {known})")
        if not scenarios:
            raise ValueError(f"the curricula have no {profile.kind} scenario")
        self.dev = dev
        self.profile = profile
        self.scenarios = scenarios
        self.period = 1.0 / rate
        self.pause = pause
        self.count = count
        self.heartbeat = heartbeat
        self.resend_interval = resend_interval
        self.max_unacked = max_unacked
        self.require_bind = require_bind
        self.faults = faults or FaultPlan()
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, repeatable by seed
        self._on_event = on_event
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        try:
            self.endpoint = endpoint(self._wake_r)
        except BaseException:
            self._close_pipe()
            raise
        self._reader = QueuedFrameReader(GATEWAY_TYPES)
        self._commands: queue.SimpleQueue[Callable[[float], None]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._unacked: OrderedDict[int, Outgoing] = OrderedDict()
        self._run: _Run | None = None
        self.connected = False  # a gateway is on the line and has been greeted
        self._peer_since: float | None = None
        self.boot = ""
        self.seq = 0
        self.badge: str | None = None
        self.name: str | None = None
        self.runs_started = 0
        self.runs_done = 0
        self.generated: list[str] = []  # keys of every start/step/result/fault made
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "sent", "resent", "acked", "acks_dropped", "naks", "evicted", "lost_on_reboot",
                "boots", "connects", "hangups", "garbage_from_gateway", "binds",
            ),
            0,
        )  # fmt: skip
        self.latencies: deque[float] = deque(maxlen=100_000)  # send → ack, seconds
        self.error: BaseException | None = None
        # Faults asked for on demand, consumed one frame (or ack) at a time.
        self._corrupt_next = 0
        self._duplicate_next = 0
        self._drop_next_acks = 0
        self._cut_next: tuple[float, str | None] | None = None  # hang up mid-frame (of a type)
        self._slow_bps = self.faults.slow_bps
        self._frozen_until = 0.0
        self._plug_in_at: float | None = None
        self._fault_until = 0.0
        self._next_hb = self._next_frame = self._next_resend = 0.0  # set at power-on
        self._next_disconnect: float | None = None
        self._next_reboot: float | None = None
        self._next_flood: float | None = None

    # --- control (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"sim {self.dev}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Switch off: stop the thread, release the pty or port; safe to call twice."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self.endpoint.close()
        self._close_pipe()

    def __enter__(self) -> SimDevice:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_done(self, timeout: float) -> bool:
        """Wait until `count` runs are done and every frame is acked."""
        return self._done.wait(timeout)

    @property
    def where(self) -> str:
        return self.endpoint.where

    @property
    def unacked(self) -> list[int]:
        """The seqs waiting for an ack (read it from another thread only once stopped)."""
        return list(self._unacked)

    @property
    def unacked_frames(self) -> list[Outgoing]:
        return list(self._unacked.values())

    def _close_pipe(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def _command(self, fn: Callable[[float], None]) -> None:
        self._commands.put(fn)
        self._wake()

    # Faults on demand.

    def corrupt_next(self, n: int = 1) -> None:
        self._command(lambda now: setattr(self, "_corrupt_next", self._corrupt_next + n))

    def duplicate_next(self, n: int = 1) -> None:
        self._command(lambda now: setattr(self, "_duplicate_next", self._duplicate_next + n))

    def drop_acks(self, n: int = 1) -> None:
        self._command(lambda now: setattr(self, "_drop_next_acks", self._drop_next_acks + n))

    def disconnect(
        self, down: float = 3.0, *, mid_frame: bool = False, frame_type: str | None = None
    ) -> None:
        """Pull the cable for `down` seconds; with `mid_frame`, halfway through the next frame
        (the next of `frame_type`, if given)."""
        if mid_frame:
            self._command(lambda now: setattr(self, "_cut_next", (down, frame_type)))
        else:
            self._command(lambda now: self._hang_up(now, down))

    def reboot(self) -> None:
        self._command(self._power_on)

    def set_slow(self, bytes_per_s: int | None) -> None:
        self._command(lambda now: setattr(self, "_slow_bps", bytes_per_s))

    def flood(self, n: int) -> None:
        self._command(lambda now: self._flood(now, n))

    def garbage(self, n: int = 1) -> None:
        """Put `n` lines of noise on the line now."""

        def noise(now: float) -> None:
            for _ in range(n):
                self._write(self._noise())

        self._command(noise)

    def hardware_fault(self) -> None:
        self._command(self._hardware_fault)

    def freeze(self, seconds: float) -> None:
        """Hang the firmware: nothing is sent (no heartbeat either) for `seconds`."""
        self._command(lambda now: setattr(self, "_frozen_until", now + seconds))

    # --- the device's thread ----------------------------------------------------------------

    def _main(self) -> None:
        try:
            now = time.monotonic()
            plan = self.faults
            self._next_disconnect = now + plan.disconnect_every if plan.disconnect_every else None
            self._next_reboot = now + plan.reboot_every if plan.reboot_every else None
            self._next_flood = now + plan.flood_every if plan.flood_frames else None
            self._power_on(now)
            while not self._stopping.is_set():
                now = time.monotonic()
                data = self.endpoint.read(self._next_deadline(now) - now)
                now = time.monotonic()
                if data is None:
                    self.connected = False
                    self._peer_since = None
                else:
                    if self._peer_since is None:
                        self._peer_since = now
                    if data:
                        self._received(data, now)
                while True:
                    try:
                        command = self._commands.get_nowait()
                    except queue.Empty:
                        break
                    command(now)
                self._tick(time.monotonic())
        except Exception as exc:
            self.error = exc
            log.exception("%s: simulator failed", self.dev)
        finally:
            self.endpoint.close()

    def _next_deadline(self, now: float) -> float:
        deadlines = [self._next_hb, self._next_resend]
        if self._peer_since is not None and not self.connected:
            deadlines.append(self._peer_since + GREET_AFTER)
        if self._wants_frames(now):
            deadlines.append(self._next_frame)
        for t in (self._plug_in_at, self._next_disconnect, self._next_reboot, self._next_flood):
            if t is not None:
                deadlines.append(t)
        if self._frozen_until > now:
            deadlines.append(self._frozen_until)
        return min(deadlines)

    def _wants_frames(self, now: float) -> bool:
        if self._run is not None:
            return True
        if self.count and self.runs_started >= self.count:
            return False
        return self.connected and (self.badge is not None or not self.require_bind)

    def _tick(self, now: float) -> None:
        if (
            self._peer_since is not None
            and not self.connected
            and now - self._peer_since >= GREET_AFTER
        ):
            self.connected = True
            self.stats["connects"] += 1
            self._event("gateway on the line")
            self._greet(now)
        if self._plug_in_at is not None and now >= self._plug_in_at:
            self._plug_in_at = None
            self.endpoint.plug_in()
            self._event(f"cable back: {self.where}")
        if self._next_disconnect is not None and now >= self._next_disconnect:
            self._next_disconnect = now + (self.faults.disconnect_every or 0)
            self._hang_up(now, self.faults.disconnect_for)
        if self._next_reboot is not None and now >= self._next_reboot:
            self._next_reboot = now + (self.faults.reboot_every or 0)
            self._power_on(now)
        if self._next_flood is not None and now >= self._next_flood:
            self._next_flood = now + self.faults.flood_every
            self._flood(now, self.faults.flood_frames)
        if now < self._frozen_until:
            return
        if now >= self._next_hb:
            self._next_hb = now + self.heartbeat
            self._send("hb", now, track=False, state=self._state(now))
        if now >= self._next_frame and self._wants_frames(now):
            self._next_frame = max(self._next_frame + self.period, now)
            self._advance_run(now)
        if now >= self._next_resend:
            self._next_resend = now + min(0.25, self.resend_interval / 2)
            for out in list(self._unacked.values()):
                if now - out.sent_at >= self.resend_interval:
                    self._resend(out, now)
        if self.count and self.runs_done >= self.count and self._run is None and not self._unacked:
            self._done.set()

    def _state(self, now: float) -> str:
        if now < self._fault_until:
            return "fault"
        return "running" if self._run is not None else "idle"

    # Power, cable, greeting.

    def _power_on(self, now: float) -> None:
        if self.boot:
            self._event("power cycle")
        self.stats["lost_on_reboot"] += len(self._unacked)  # kept in RAM only
        self._unacked.clear()
        self.boot = new_boot_id(self._rng)
        self.seq = 0
        self.stats["boots"] += 1
        self.badge = self.name = None
        self._run = None
        self._next_hb = now + self.heartbeat
        self._next_frame = now + self.pause if self.runs_started else now
        self._next_resend = now + self.resend_interval
        if self.connected:
            self._greet(now)

    def _greet(self, now: float) -> None:
        self._send("hello", now, track=False, kind=self.profile.kind, fw=self.profile.fw)
        self._next_hb = now + self.heartbeat
        for out in list(self._unacked.values()):
            self._resend(out, now)

    def _hang_up(self, now: float, down: float) -> None:
        self.endpoint.hang_up()
        self.connected = False
        self._peer_since = None
        self.stats["hangups"] += 1
        self._plug_in_at = now + down
        self._event(f"cable pulled for {down:g} s")

    # Frames out.

    def _send(self, t: str, now: float, *, track: bool = True, **fields: Any) -> Frame:
        self.seq += 1
        frame = device_frame(t, self.dev, self.boot, self.seq, **fields)
        line = encode(frame, validate=False)
        if track:
            self.generated.append(frame_key(frame))
            self._unacked[self.seq] = Outgoing(self.seq, t, line, now)
            if len(self._unacked) > self.max_unacked:
                self._evict()
        self._transmit(line, now, t)
        return frame

    def _evict(self) -> None:
        """Full: give up the oldest frame, a result last of all."""
        victim = next((s for s, o in self._unacked.items() if o.kind != "result"), None)
        if victim is None:
            victim = next(iter(self._unacked))
        del self._unacked[victim]
        self.stats["evicted"] += 1

    def _resend(self, out: Outgoing, now: float) -> None:
        out.sent_at = now
        out.sends += 1
        self.stats["resent"] += 1
        self._transmit(out.line, now, out.kind)

    def _transmit(self, line: bytes, now: float, t: str) -> None:
        rng, plan = self._rng, self.faults
        if now < self._frozen_until:
            return
        if plan.garbage and rng.random() < plan.garbage:
            self._write(self._noise())
        out = line
        if self._corrupt_next or (plan.corrupt and rng.random() < plan.corrupt):
            self._corrupt_next = max(0, self._corrupt_next - 1)
            out = self._corrupted(line)
        if self._cut_next is not None and self._cut_next[1] in (None, t):
            down, self._cut_next = self._cut_next[0], None
            self._write(out[: len(out) // 2])
            self._hang_up(now, down)
            return
        self._write(out)
        self.stats["sent"] += 1
        if self._duplicate_next or (plan.duplicate and rng.random() < plan.duplicate):
            self._duplicate_next = max(0, self._duplicate_next - 1)
            self._write(line)

    def _write(self, data: bytes) -> None:
        if not self._slow_bps:
            self.endpoint.write(data)
            return
        chunk = max(1, self._slow_bps // 50)
        for i in range(0, len(data), chunk):
            if not self.endpoint.write(data[i : i + chunk]):
                return
            if self._stopping.wait(chunk / self._slow_bps):
                return

    def _corrupted(self, line: bytes) -> bytes:
        """The line with one byte changed, or cut short: never a valid frame, never two."""
        body = bytearray(line[:-2])
        if self._rng.random() < 0.3:
            return bytes(body[: self._rng.randrange(1, len(body))]) + b"\r\n"
        i = self._rng.randrange(len(body))
        choices = [b for b in range(1, 256) if b not in (body[i], 0x0A, 0x0D)]
        body[i] = self._rng.choice(choices)
        return bytes(body) + b"\r\n"

    def _noise(self) -> bytes:
        n = self._rng.randrange(1, 80)
        return bytes(self._rng.choice(range(32, 127)) for _ in range(n)) + b"\r\n"

    def _flood(self, now: float, n: int) -> None:
        self._event(f"flood of {n} frames")
        for _ in range(n):
            self._send("hb", now, track=False, state=self._state(now))

    def _hardware_fault(self, now: float) -> None:
        code, msg = self._rng.choice(self.profile.faults)
        self._fault_until = now + FAULT_STATE_S
        self._send("fault", now, code=code, msg=msg)
        if self._run is not None:
            self._event(f"hardware fault {code}: run aborted")
            self._run = None
            self.runs_done += 1
            self._next_frame = now + self.pause

    # Runs.

    def _advance_run(self, now: float) -> None:
        run = self._run
        if run is None:
            plan = plan_run(self._rng.choice(self.scenarios), self._rng)
            run = self._run = _Run(plan, self.badge, now)
            if self.faults.hw_fault and self._rng.random() < self.faults.hw_fault:
                run.fault_at = self._rng.randrange(len(plan.steps))
            self.runs_started += 1
            self._send("start", now, scenario=plan.scenario.code, badge=run.badge)
            return
        plan = run.plan
        if run.fault_at is not None and run.next_step == run.fault_at:
            self._hardware_fault(now)
            return
        if run.next_step < len(plan.steps):
            step = plan.steps[run.next_step]
            run.next_step += 1
            self._send(
                "step",
                now,
                scenario=plan.scenario.code,
                step=step.step,
                ok=step.ok,
                at_ms=round((now - run.started) * 1000),
            )
            return
        self._send(
            "result",
            now,
            scenario=plan.scenario.code,
            badge=run.badge,
            score=_number(plan.score),
            max=_number(plan.scenario.max_score),
            passed=plan.passed,
            duration_s=round(now - run.started, 1),
            errors=list(plan.errors),
            veto=list(plan.veto),
            ts=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        )
        self._run = None
        self.runs_done += 1
        self._next_frame = now + self.pause

    # Frames in.

    def _received(self, data: bytes, now: float) -> None:
        self._reader.data_received(data)
        queue_ = self._reader.queue
        while queue_:
            item = queue_.popleft()
            if isinstance(item, Exception):
                self.stats["garbage_from_gateway"] += 1
                continue
            t = item["t"]
            if t == "ack":
                self._ack(item["seq"], now)
            elif t == "nak":
                self._nak(item["seq"], now)
            elif t == "bind":
                self.stats["binds"] += 1
                if (item["badge"], item["name"]) != (self.badge, self.name):
                    self.badge, self.name = item["badge"], item["name"]
                    self._event(f"bound: {self.badge or 'nobody'} {self.name or ''}".rstrip())

    def _ack(self, seq: int, now: float) -> None:
        out = self._unacked.get(seq)
        if out is None:
            return  # a heartbeat's or hello's ack, or one for a frame given up
        if self._drop_next_acks or (
            self.faults.drop_ack and self._rng.random() < self.faults.drop_ack
        ):
            self._drop_next_acks = max(0, self._drop_next_acks - 1)
            self.stats["acks_dropped"] += 1
            return
        del self._unacked[seq]
        self.stats["acked"] += 1
        self.latencies.append(now - out.sent_at)

    def _nak(self, seq: int | None, now: float) -> None:
        self.stats["naks"] += 1
        if seq is not None:
            out = self._unacked.get(seq)
            if out is not None:
                self._resend(out, now)
            return
        # The gateway could not read which frame it was: one of those just sent.
        for out in list(self._unacked.values()):
            if now - out.sent_at < self.resend_interval:
                self._resend(out, now)

    def _event(self, message: str) -> None:
        if self._on_event is not None:
            self._on_event(self, message)
        else:
            log.info("%s: %s", self.dev, message)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))] if lat else None
        return {
            "dev": self.dev,
            "where": self.where,
            "boot": self.boot,
            "seq": self.seq,
            "runs_done": self.runs_done,
            "unacked": len(self._unacked),
            "generated": len(self.generated),
            **self.stats,
            "ack_p99_ms": None if p99 is None else round(p99 * 1000, 2),
        }
