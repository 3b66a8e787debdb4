"""The gateway's camera readers at the moment that matters: a crash between taking a result and
recording that it was taken loses nothing and doubles nothing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from devices.camera.config import CameraConfig
from devices.camera.keys import generate
from devices.camera.qr import ReplayGuard, result_text
from devices.camera.readers import CameraState, QrTake, SevenSegTake
from devices.camera.sevenseg import DisplaySpec
from devices.camera.sim.pod import render_pod
from devices.camera.sim.rig import render_display
from devices.camera.sources import Captured
from devices.codec import Frame

POD = CameraConfig(name="VR-07-qr", station="VR-07", url="x", reads="qr", devices=("VR-07",))
RIG = CameraConfig(
    name="MECH-02-7seg",
    station="MECH-02",
    url="x",
    reads="7seg",
    device="MECH-02",
    scenario="MECH-PINCH",
    max=100.0,
    digits=3,
    decimals=1,
    markers=(0, 1, 2, 3),
)


class PowerCut(Exception):
    """The gateway dies in the middle of keeping a result."""


def cut(frame: Frame) -> bool:
    raise PowerCut


class Spool:
    """What the gateway's spool does for a reader: keeps each identity once."""

    def __init__(self) -> None:
        self.frames: dict[str, Frame] = {}

    @staticmethod
    def key(frame: Frame) -> str:
        return f"{frame['dev']}:{frame['boot']}:{frame['seq']}"

    def keep(self, frame: Frame) -> bool:
        new = self.key(frame) not in self.frames
        self.frames.setdefault(self.key(frame), frame)
        return new


def shot(frame: np.ndarray, index: int = 0) -> Captured:
    return Captured(frame=frame, at=time.time(), index=index)


class TestQrTake:
    def test_a_crash_while_keeping_leaves_the_code_unclaimed_for_the_restart(
        self, tmp_path: Path
    ) -> None:
        keys = generate(tmp_path / "keys.toml", ["VR-07"])
        text = result_text(
            keys["VR-07"],
            dev="VR-07",
            boot="1a2b3c4d",
            seq=4,
            scenario="NITR-RUNAWAY",
            score=91,
            max=100,
            passed=True,
            at=time.time(),
        )
        frame, _ = render_pod(text, np.random.default_rng(3), "clean")
        with ReplayGuard(tmp_path / "seen.sqlite3") as guard:
            with pytest.raises(PowerCut):
                QrTake(POD, keys, guard).take(shot(frame), cut)
        spool = Spool()
        with ReplayGuard(tmp_path / "seen.sqlite3") as guard:  # the gateway comes back
            taken = QrTake(POD, keys, guard).take(shot(frame), spool.keep)
            assert taken is not None and list(spool.frames) == ["VR-07:1a2b3c4d:4"]
            assert "duration_s" not in taken and "errors" not in taken  # not in the code
            again = QrTake(POD, keys, guard)  # and once more, after a normal restart
            assert again.take(shot(frame), spool.keep) is None
            assert again.outcomes["replay"] == 1 and len(spool.frames) == 1


class TestSevenSegTake:
    def _display(self, text: str | None) -> np.ndarray:
        return render_display(text, DisplaySpec(digits=3, decimals=1), np.random.default_rng(2))

    def test_a_crash_while_keeping_is_made_good_at_the_restart_and_not_doubled(
        self, tmp_path: Path
    ) -> None:
        state = CameraState(tmp_path / "cameras.json")
        showing = self._display("87.5")
        first = SevenSegTake(RIG, state)
        for i in range(4):
            assert first.take(shot(showing, i), cut) is None  # not yet stable
        with pytest.raises(PowerCut):
            first.take(shot(showing, 4), cut)  # the fifth read takes it: the power goes

        spool = Spool()
        again = SevenSegTake(RIG, state, known=lambda key: key in spool.frames)
        for i in range(10):  # the display still shows 87.5
            again.take(shot(showing, i), spool.keep)
        (kept,) = spool.frames.values()
        assert (kept["seq"], kept["score"], kept["boot"]) == (1, 87.5, first.boot)

        third = SevenSegTake(RIG, state, known=lambda key: key in spool.frames)
        for i in range(10):
            third.take(shot(showing, i), spool.keep)
        assert len(spool.frames) == 1  # kept once, taken once
        for i in range(6):
            third.take(shot(self._display(None), i), spool.keep)
        for i in range(6):
            third.take(shot(showing, i), spool.keep)  # after a blank: a new run
        assert [f["seq"] for f in spool.frames.values()] == [1, 2]


class TestStatus:
    def test_a_streams_password_never_reaches_the_status_page(self) -> None:
        from devices.camera.runner import identity

        camera = CameraConfig(
            name="VR-07-qr", station="VR-07", url="rtsp://admin:s3cret@10.20.1.57/s1", reads="qr"
        )
        shown = identity(camera)
        assert "s3cret" not in str(shown) and shown["url"] == "rtsp://admin:***@10.20.1.57/s1"
