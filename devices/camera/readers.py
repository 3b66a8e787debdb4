"""The reader each [[camera]] table asks for, shaped for the gateway's camera worker
(devices/camera/runner.py): a result-QR reader for a pod's screen, a seven-segment reader for a
rig's LED display.

A seven-segment camera numbers its readings itself (the display has no identity): a boot id made
once and seq 1, 2, 3 … Its last result is kept in a small state file beside the spool, written
before the spool, so that a gateway restarted in front of a display still showing the last score
does not take that score a second time (DESIGN.md: a value is taken only as a new value or after
a blank), and a crash between the two writes loses nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from devices.camera.config import CameraConfig
from devices.camera.keys import DeviceKeys
from devices.camera.qr import QrReader, ReplayGuard
from devices.camera.runner import Keep, new_boot, utc_text
from devices.camera.sevenseg import DisplaySpec, SevenSegReader
from devices.camera.sources import Captured
from devices.codec import Frame

log = logging.getLogger("devices.camera")
NOT_IN_THE_CODE = frozenset({"badge", "duration_s", "errors", "veto"})
OK_OUTCOMES = frozenset({"none", "accepted", "repeat"})


class QrTake:
    """A pod's result QR, checked (MAC, device, replay, age) before it is taken."""

    source = "camera-qr"

    def __init__(self, camera: CameraConfig, keys: DeviceKeys, guard: ReplayGuard) -> None:
        self.camera = camera
        self.reader = QrReader(
            camera.station,
            keys,
            guard,
            roi=camera.roi,
            max_age_s=camera.max_age_s,
            devices=set(camera.devices),
        )
        self.reader.keep = self._kept
        self.outcomes: Counter[str] = Counter()
        self.last_refused: dict[str, Any] | None = None
        self._keep: Keep | None = None

    def _kept(self, frame: Frame, now: float) -> None:
        assert self._keep is not None
        self._keep(self._sent(frame))

    @staticmethod
    def _sent(frame: Frame) -> Frame:
        # What the code does not carry is left out, not sent as zero or empty: scoring
        # takes an absent field as unknown (docs/device-protocol.md, "From a camera").
        return {k: v for k, v in frame.items() if k not in NOT_IN_THE_CODE}

    def take(self, captured: Captured, keep: Keep) -> Frame | None:
        self._keep = keep
        outcome = self.reader.read(captured.frame, now=captured.at)
        if outcome.status != "refused":
            self.outcomes[outcome.status] += 1
        elif not outcome.again:  # a refused code counts once while it stays in view
            self.outcomes[str(outcome.reason)] += 1
        if outcome.status == "refused":
            self.last_refused = {
                "reason": outcome.reason,
                "text": outcome.text,
                "at": utc_text(captured.at),
            }
            if not outcome.again:  # once while it stays in view, not thirty times a second
                log.warning(
                    "camera %s: QR refused (%s): %r",
                    self.camera.name,
                    outcome.reason,
                    outcome.text,
                )
            return None
        if outcome.status == "accepted" and outcome.frame is not None:
            return self._sent(outcome.frame)  # kept by the reader before it claimed the code
        return None

    def refused(self) -> int:
        return sum(n for what, n in self.outcomes.items() if what not in OK_OUTCOMES)

    def status(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes), "last_refused": self.last_refused}


class CameraState:
    """A small JSON file of the last result each seven-segment camera took, written (fsync,
    atomic rename) *before* the result goes into the spool: a write-ahead record. At start a
    camera finds its last result there — its boot id, its seq, the value it took — and, if the
    spool does not have that result, keeps it then (a crash came between the two)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("camera state %s unreadable (%s): starting without it", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def last_frame(self, camera: str) -> Frame | None:
        entry = self.load().get(camera)
        frame = entry.get("last") if isinstance(entry, dict) else None
        return frame if isinstance(frame, dict) else None

    def remember(self, camera: str, frame: Frame) -> None:
        with self._lock:
            data = self.load()
            data[camera] = {"last": frame}
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, self.path)


def _number(value: Decimal) -> int | float:
    """The score as JSON has it: a whole number stays whole."""
    return int(value) if value == value.to_integral_value() else float(value)


class SevenSegTake:
    """A rig's LED display: a value read the same for N frames, new, becomes a result.

    Its identity is the camera's own: a boot id made the first time (kept in the state file, so
    seq goes on across restarts) and seq 1, 2, 3 … The value last taken is the reader's
    `last_accepted`, so a display still showing it after a restart is not taken again."""

    source = "camera-7seg"

    def __init__(
        self,
        camera: CameraConfig,
        state: CameraState,
        *,
        known: Callable[[str], bool] = lambda key: False,
    ) -> None:
        self.camera = camera
        self.state = state
        self._known = known
        last = state.last_frame(camera.name)
        self._unsure = last  # kept at the first frame if the spool turns out not to have it
        self.boot = str(last["boot"]) if last else new_boot()
        self.seq = int(last["seq"]) if last else 0
        self.last_value: str | None = str(last["score"]) if last else None
        self.spec = DisplaySpec(
            digits=camera.digits,
            decimals=camera.decimals,
            markers=camera.markers,
            corners=camera.corners,
            stable_frames=camera.stable_frames,
            lit=camera.lit,  # type: ignore[arg-type]  # checked by the config loader
            dictionary=camera.dictionary,
        )
        restored = None if last is None else Decimal(str(last["score"]))
        self.reader = SevenSegReader(self.spec, last_accepted=restored)

    def take(self, captured: Captured, keep: Keep) -> Frame | None:
        if self._unsure is not None:
            unsure, self._unsure = self._unsure, None
            if not self._known(f"{unsure['dev']}:{unsure['boot']}:{unsure['seq']}"):
                log.warning(
                    "camera %s: keeping result %s, cut off by a crash last time",
                    self.camera.name,
                    unsure["seq"],
                )
                keep(unsure)
        value = self.reader.feed(captured.frame)
        if value is None:
            return None
        frame: Frame = {
            "t": "result",
            "v": 1,
            "dev": self.camera.device,
            "boot": self.boot,
            "seq": self.seq + 1,
            "scenario": self.camera.scenario,
            "score": _number(value),
            "max": _number(Decimal(str(self.camera.max))),
            "ts": utc_text(captured.at),
        }
        self.state.remember(self.camera.name, frame)  # first the record, then the spool
        keep(frame)
        self.seq += 1
        self.last_value = str(value)
        return frame

    def refused(self) -> int:
        return 0  # a display is unreadable at times, never refused

    def status(self) -> dict[str, Any]:
        return {"boot": self.boot, "taken": self.seq, "last_value": self.last_value}
