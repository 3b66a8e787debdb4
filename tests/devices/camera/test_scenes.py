"""The simulated rig camera (`sim://rig`) as an installer uses it before the hardware comes: the
seven-segment reader takes each score the simulated display shows, once."""

from __future__ import annotations

import pytest

from devices.camera.sevenseg import DisplaySpec, SevenSegReader
from devices.camera.sources import BadSourceUrl, SourceEnded, open_source


class TestRigScene:
    def test_each_score_shown_is_read_once(self) -> None:
        reader = SevenSegReader(DisplaySpec(digits=3, decimals=1))
        taken = []
        # frames=: a finite camera, delivered as fast as read; 30 fps of scene time each frame
        with open_source("sim://rig?cycle=2&show=1&fps=30&realtime=0&frames=240") as camera:
            while True:
                try:
                    shot = camera.read(1)
                except SourceEnded:  # after 240 frames: 8 s of scene time
                    break
                if shot is not None and (value := reader.feed(shot.frame)) is not None:
                    taken.append(value)
        assert len(taken) == 4  # runs end at 1–2 s, 3–4 s, 5–6 s, 7–8 s
        assert all(40 <= v < 100 and v == round(v, 1) for v in taken)

    def test_bad_options_are_named(self) -> None:
        with pytest.raises((BadSourceUrl, ValueError), match="show"):
            open_source("sim://rig?cycle=2&show=3")
        with pytest.raises((BadSourceUrl, ValueError), match="colour"):
            open_source("sim://rig?colour=blue")
