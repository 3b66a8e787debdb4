"""The reader each [[camera]] table asks for, shaped for the gateway's camera worker
(devices/camera/runner.py): a result-QR reader for a pod's screen, a seven-segment reader for a
rig's LED display.

A seven-segment camera numbers its readings itself (the display has no identity): a fresh boot
id each start and seq 1, 2, 3 … The last value it took is kept in a small state file beside the
spool, so that a gateway restarted in front of a display still showing the last score does not
take that score a second time (DESIGN.md: a value is taken only as a new value or after a blank).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from devices.camera.config import CameraConfig
from devices.camera.keys import DeviceKeys
from devices.camera.qr import QrReader, ReplayGuard
from devices.camera.runner import new_boot, utc_text
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
        self.outcomes: Counter[str] = Counter()
        self.last_refused: dict[str, Any] | None = None

    def take(self, captured: Captured) -> Frame | None:
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
            # What the code does not carry is left out, not sent as zero or empty: scoring
            # takes an absent field as unknown (docs/device-protocol.md, "From a camera").
            return {k: v for k, v in outcome.frame.items() if k not in NOT_IN_THE_CODE}
        return None

    def refused(self) -> int:
        return sum(n for what, n in self.outcomes.items() if what not in OK_OUTCOMES)

    def status(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes), "last_refused": self.last_refused}


class CameraState:
    """A small JSON file of what each seven-segment camera took last, written atomically."""

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

    def last_value(self, camera: str) -> str | None:
        entry = self.load().get(camera)
        value = entry.get("last_value") if isinstance(entry, dict) else None
        return value if isinstance(value, str) else None

    def remember(self, camera: str, value: str | None) -> None:
        with self._lock:
            data = self.load()
            data[camera] = {"last_value": value}
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
    """A rig's LED display: a value read the same for N frames, new, becomes a result."""

    source = "camera-7seg"

    def __init__(
        self, camera: CameraConfig, state: CameraState, *, boot: str | None = None
    ) -> None:
        self.camera = camera
        self.state = state
        self.boot = boot or new_boot()
        self.seq = 0
        self.spec = DisplaySpec(
            digits=camera.digits,
            decimals=camera.decimals,
            markers=camera.markers,
            corners=camera.corners,
            stable_frames=camera.stable_frames,
        )
        self.reader = SevenSegReader(self.spec, last_accepted=self._restored())
        self.last_value: str | None = None

    def _restored(self) -> Decimal | None:
        text = self.state.last_value(self.camera.name)
        return None if text is None else Decimal(text)

    def take(self, captured: Captured) -> Frame | None:
        value = self.reader.feed(captured.frame)
        if value is None:
            return None
        self.seq += 1
        self.last_value = str(value)
        self.state.remember(self.camera.name, self.last_value)
        return {
            "t": "result",
            "v": 1,
            "dev": self.camera.device,
            "boot": self.boot,
            "seq": self.seq,
            "scenario": self.camera.scenario,
            "score": _number(value),
            "max": _number(Decimal(str(self.camera.max))),
            "ts": utc_text(captured.at),
        }

    def refused(self) -> int:
        return 0  # a display is unreadable at times, never refused

    def status(self) -> dict[str, Any]:
        return {"boot": self.boot, "taken": self.seq, "last_value": self.last_value}
