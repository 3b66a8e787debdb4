"""The seven-segment reader on generated camera frames of a rig's LED display (real OpenCV)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike

from devices.camera.sevenseg import WHY, DisplaySpec, DisplaySpecError, SevenSegReader
from devices.camera.sim.degrade import nudge
from devices.camera.sim.rig import RigView, render_display, render_pattern
from devices.camera.sim.video import write_video
from devices.camera.sources import SourceEnded, open_source
from devices.errors import DeviceError

SCORE = DisplaySpec(digits=3, decimals=1)  # "87.5"
VIEW = RigView(display_height=160, centre=(600, 350), roll=4, keystone=(1.5e-4, -1e-4))


def frame_of(
    text: str | None, spec: DisplaySpec = SCORE, *, seed: int = 1, **options: object
) -> MatLike:
    options.setdefault("view", VIEW)
    return render_display(text, spec, np.random.default_rng(seed), **options)  # type: ignore[arg-type]


def shifted(frame: MatLike, dx: float, dy: float) -> MatLike:
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(
        frame, matrix, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )


class TestDisplaySpec:
    @pytest.mark.parametrize(
        ("options", "named"),
        [
            ({"digits": 0}, "digits"),
            ({"digits": 9}, "digits"),
            ({"digits": 3, "decimals": 3}, "decimals"),
            ({"digits": 3, "decimals": -1}, "decimals"),
            ({"digits": 3, "markers": (0, 1, 2, 2)}, "markers"),
            ({"digits": 3, "markers": (0, 1, 2, 50)}, "markers"),
            ({"digits": 3, "markers": None}, "markers, corners"),
            ({"digits": 3, "dictionary": "DICT_NONE"}, "dictionary"),
            ({"digits": 3, "stable_frames": 0}, "stable_frames"),
            ({"digits": 3, "lit": "blue"}, "lit"),
            ({"digits": 3, "corners": ((0, 0), (100, 0), (100, 50))}, "corners"),
            ({"digits": 3, "corners": ((100, 0), (0, 0), (0, 50), (100, 50))}, "corners"),
        ],
    )
    def test_a_bad_setting_is_refused_naming_the_key(
        self, options: dict[str, object], named: str
    ) -> None:
        with pytest.raises(DisplaySpecError) as caught:
            DisplaySpec(**options)  # type: ignore[arg-type]
        assert str(caught.value).startswith(named + ":")
        assert " / " in str(caught.value)  # Chinese, then English
        assert isinstance(caught.value, DeviceError)

    def test_the_station_table_keys(self) -> None:
        spec = DisplaySpec(
            digits=3, decimals=1, corners=((10, 20), (300, 22), (298, 120), (12, 118))
        )
        keys = spec.toml_keys()
        assert "digits = 3\ndecimals = 1\nmarkers = [0, 1, 2, 3]" in keys
        assert "corners = [[10.0, 20.0], [300.0, 22.0], [298.0, 120.0], [12.0, 118.0]]" in keys


class TestReadOnce:
    @pytest.mark.parametrize("digit", "0123456789")
    def test_each_digit_in_every_place(self, digit: str) -> None:
        text = f"{digit}{digit}.{digit}"
        reading = SevenSegReader(SCORE).read_once(frame_of(text, seed=int(digit)))
        assert reading.state == "value", reading.message
        assert reading.text == text
        assert reading.value == Decimal(text)

    @pytest.mark.parametrize(
        ("spec", "text", "value"),
        [
            (DisplaySpec(digits=3, decimals=1), "87.5", "87.5"),
            (DisplaySpec(digits=3, decimals=1), " 9.0", "9.0"),
            (DisplaySpec(digits=4, decimals=2), "12.34", "12.34"),
            (DisplaySpec(digits=3, decimals=0), " 96", "96"),
            (DisplaySpec(digits=4, decimals=1), "100.0", "100.0"),
        ],
    )
    def test_the_decimal_point_where_the_station_has_it(
        self, spec: DisplaySpec, text: str, value: str
    ) -> None:
        reading = SevenSegReader(spec).read_once(frame_of(text, spec))
        assert (reading.state, reading.value) == ("value", Decimal(value)), reading.message
        assert reading.text is not None and reading.text.strip() == text.strip()

    def test_a_point_where_the_station_has_none_is_unreadable(self) -> None:
        frame = frame_of("87.5")
        reading = SevenSegReader(DisplaySpec(digits=3, decimals=2)).read_once(frame)
        assert (reading.state, reading.why) == ("unreadable", "decimal_point")
        assert SevenSegReader(DisplaySpec(digits=3)).read_once(frame).why == "decimal_point"

    def test_a_blank_display(self) -> None:
        assert SevenSegReader(SCORE).read_once(frame_of(None)).state == "blank"
        assert SevenSegReader(SCORE).read_once(frame_of("", seed=2)).state == "blank"

    @pytest.mark.parametrize("condition", ["clean", "mild", "moderate"])
    def test_a_green_display_with_the_colour_left_to_the_reader(self, condition: str) -> None:
        spec = DisplaySpec(digits=4, decimals=1, lit="auto")
        for seed in range(4):
            frame = frame_of("93.5", spec, colour="green", condition=condition, seed=seed)
            reading = SevenSegReader(spec).read_once(frame)
            if condition == "moderate" and reading.state == "unreadable":
                continue  # a strong reflection may hide it; it must never read wrong
            assert reading.value == Decimal("93.5"), reading.message

    def test_the_markers_follow_a_nudged_camera(self) -> None:
        spec = DisplaySpec(digits=3, decimals=1, corners=VIEW.window_corners(3))
        frame = nudge(frame_of("64.8"), np.random.default_rng(3), 0.03)
        inspection = SevenSegReader(spec).inspect(frame)
        assert inspection.located_by == "markers"
        assert inspection.reading.value == Decimal("64.8"), inspection.reading.message
        moved = shifted(frame_of("64.8"), 24, -15)
        assert SevenSegReader(spec).read_once(moved).value == Decimal("64.8")

    @pytest.mark.parametrize("hidden", [(1,), (0, 2), (2, 3)])
    def test_the_calibration_stands_in_for_hidden_markers(self, hidden: tuple[int, ...]) -> None:
        spec = DisplaySpec(digits=3, decimals=1, corners=VIEW.window_corners(3))
        frame = frame_of("42.0", spec, hidden=hidden, condition="mild")
        inspection = SevenSegReader(spec).inspect(frame)
        assert len(inspection.markers) == 4 - len(hidden)
        assert inspection.located_by == "calibration"
        assert inspection.reading.value == Decimal("42.0"), inspection.reading.message

    def test_hidden_markers_without_a_calibration_are_unreadable(self) -> None:
        reading = SevenSegReader(SCORE).read_once(frame_of("42.0", hidden=(3,)))
        assert (reading.state, reading.why) == ("unreadable", "markers")
        assert "标记" in reading.message and "markers" in reading.message

    def test_markers_that_disagree_with_the_calibration_mean_the_camera_moved(self) -> None:
        spec = DisplaySpec(digits=3, decimals=1, corners=VIEW.window_corners(3))
        frame = shifted(frame_of("42.0", spec, hidden=(1,)), 30, 10)
        reading = SevenSegReader(spec).read_once(frame)
        assert (reading.state, reading.why) == ("unreadable", "camera_moved")

    def test_heavy_glare_over_the_digits_is_unreadable(self) -> None:
        for peak in (150.0, 250.0):
            reading = SevenSegReader(SCORE).read_once(frame_of("87.5", glare=peak))
            assert (reading.state, reading.why) == ("unreadable", "glare"), peak
        assert WHY["glare"].startswith("数字上有反光")

    def test_an_impossible_segment_pattern_is_unreadable(self) -> None:
        cells = [("bc", False), ("ad", True), ("abc", False)]  # "1", a top and bottom bar, "7"
        frame = render_pattern(cells, SCORE, np.random.default_rng(5), view=VIEW)
        reading = SevenSegReader(SCORE).read_once(frame)
        assert (reading.state, reading.why) == ("unreadable", "bad_pattern")

    def test_a_half_lit_segment_is_unsure_not_a_guess(self) -> None:
        frame = frame_of("88.8")
        reader = SevenSegReader(SCORE)
        inspection = reader.inspect(frame)
        assert inspection.homography is not None
        # dim the middle bar of the first digit to half: between lit and unlit
        (x0, y0), (x1, y1) = reader.layout.segment_line(0, "g")
        canon = np.array([[[x0, y0], [x1, y1]]], np.float32)
        (a, b) = cv2.perspectiveTransform(canon, np.linalg.inv(inspection.homography))[0]
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.line(mask, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), 255, 14)
        dimmed = frame.copy()
        dimmed[mask > 0] = (dimmed[mask > 0] * 0.5).astype(np.uint8)
        reading = reader.read_once(dimmed)
        assert reading.state == "unreadable", reading.message
        assert reading.why in {"unsure_segment", "bad_pattern"}

    def test_a_dark_digit_inside_the_number_is_unreadable(self) -> None:
        frame = render_pattern(
            [("bc", False), ("", True), ("abc", False)], SCORE, np.random.default_rng(6), view=VIEW
        )
        assert SevenSegReader(SCORE).read_once(frame).why == "blank_digit"


class TestFeed:
    def feed(self, reader: SevenSegReader, frames: list[MatLike]) -> list[Decimal | None]:
        return [reader.feed(f) for f in frames]

    def test_four_identical_frames_give_nothing_the_fifth_gives_the_value_once(self) -> None:
        reader = SevenSegReader(SCORE)
        frames = [frame_of("87.5", seed=i) for i in range(8)]
        got = self.feed(reader, frames)
        assert got == [None] * 4 + [Decimal("87.5")] + [None] * 3
        assert reader.accepted == Decimal("87.5")

    def test_the_same_value_again_is_not_taken_again(self) -> None:
        reader = SevenSegReader(SCORE)
        self.feed(reader, [frame_of("87.5", seed=i) for i in range(5)])
        unreadable = frame_of("87.5", hidden=(0,))  # one frame with a marker covered
        again = [unreadable] + [frame_of("87.5", seed=10 + i) for i in range(6)]
        assert self.feed(reader, again) == [None] * 7

    def test_after_a_blank_the_same_value_is_taken_again(self) -> None:
        reader = SevenSegReader(SCORE)
        first = self.feed(reader, [frame_of("87.5", seed=i) for i in range(5)])
        blank = self.feed(reader, [frame_of(None, seed=20 + i) for i in range(5)])
        again = self.feed(reader, [frame_of("87.5", seed=30 + i) for i in range(5)])
        assert first[-1] == again[-1] == Decimal("87.5")
        assert blank == [None] * 5

    def test_a_blank_flicker_shorter_than_the_run_does_not_count_as_a_blank(self) -> None:
        reader = SevenSegReader(SCORE)
        self.feed(reader, [frame_of("87.5", seed=i) for i in range(5)])
        flicker = [frame_of(None, seed=40), frame_of(None, seed=41)]
        after = [frame_of("87.5", seed=50 + i) for i in range(6)]
        assert self.feed(reader, flicker + after) == [None] * 8

    def test_a_flicker_breaks_the_run(self) -> None:
        reader = SevenSegReader(SCORE)
        frames = [frame_of("87.5", seed=i) for i in range(4)]
        frames.append(frame_of("81.5", seed=9))  # one frame of something else
        frames += [frame_of("87.5", seed=60 + i) for i in range(5)]
        got = self.feed(reader, frames)
        assert got[:9] == [None] * 9
        assert got[9] == Decimal("87.5")

    def test_a_new_value_is_taken_without_a_blank_between(self) -> None:
        reader = SevenSegReader(DisplaySpec(digits=3, decimals=1, stable_frames=3))
        frames = [frame_of("87.5", seed=i) for i in range(3)]
        frames += [frame_of("90.0", seed=70 + i) for i in range(3)]
        assert [v for v in self.feed(reader, frames) if v] == [Decimal("87.5"), Decimal("90.0")]

    def test_a_value_accepted_before_a_restart_is_not_taken_again(self) -> None:
        reader = SevenSegReader(SCORE, last_accepted=Decimal("87.5"))
        assert self.feed(reader, [frame_of("87.5", seed=i) for i in range(6)]) == [None] * 6


class TestVideoFile:
    def test_a_recorded_session_gives_the_accepted_values_in_order(self, tmp_path: Path) -> None:
        rng = np.random.default_rng(11)
        script = [
            (None, 6),
            ("87.5", 8),
            ("87.5", 4),
            ("92.0", 7),
            (None, 6),
            ("92.0", 7),
            (" 9.5", 3),
        ]
        frames = [
            render_display(text, SCORE, rng, "mild", view=VIEW)
            for text, count in script
            for _ in range(count)
        ]
        path = tmp_path / "rig.avi"
        assert write_video(path, frames, fps=10) == len(frames)
        reader = SevenSegReader(SCORE)
        accepted: list[Decimal] = []
        with open_source(str(path)) as source:
            while True:
                try:
                    captured = source.read(timeout=5)
                except SourceEnded:
                    break
                assert captured is not None
                value = reader.feed(captured.frame)
                if value is not None:
                    accepted.append(value)
        # 87.5 once (it stays), 92.0, again after the blank; 9.5 shown too briefly
        assert accepted == [Decimal("87.5"), Decimal("92.0"), Decimal("92.0")]
